#!/usr/bin/env bash
# Instructions (valgrind's cachegrind, exact and independent of the machine's load) that one
# `mail-bruteforce-guard scan --from-start --dry-run --json` of LOG takes with the library of COMMIT, on the
# interpreter fail2ban-regex uses (/usr/bin/python3, as make bench). For comparing commits: CPU seconds on a
# shared virtual machine move by 10-30 % with its load, instruction counts do not.
#   scripts/scan-instructions.sh COMMIT LOG        e.g. a log made by tests/bench/genlog.py --lines 100000
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 COMMIT LOG" >&2; exit 2; }
# shellcheck source=scripts/library-at.sh
. "$(dirname "$0")/library-at.sh"
commit=$1
log=$(realpath "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
library_at "$commit" "$work"
code="import gc, sys; gc.disable(); sys.path.insert(0, '$work'); from mail_bruteforce_guard.detector.cli import main; sys.argv = ['mbg', 'scan', '--from-start', '--dry-run', '--json', '--state', '$work/state', '--log', '$log']; sys.exit(main())"
valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null /usr/bin/python3 -IS -c "$code" \
  2>"$work/valgrind.txt" >/dev/null
refs=$(sed -n 's/.*I *refs: *//p' "$work/valgrind.txt" | tr -d ,)
echo "$commit $((refs / 1000000)) M instructions"
