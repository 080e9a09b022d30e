#!/usr/bin/env bash
# Instructions (valgrind's cachegrind, independent of the machine's load) that one fleet_merge of
# bench_merge.py's synthetic reports takes with the library of COMMIT, on /usr/bin/python3 (as make bench).
# For comparing commits: CPU seconds on a shared virtual machine move by 10-30 % with its load, instruction
# counts by about 1 % (the reports are decoded from JSON as Ansible hands them over; decoding them is measured
# apart and left out; the hash seed is fixed).
#   scripts/merge-instructions.sh COMMIT [HOSTS OFFENDERS POOL]   default 1000 300 6000: 50 records an address,
#                                                                  as the 1,000 x 1,000 of make bench
set -euo pipefail
[ $# -eq 1 ] || [ $# -eq 4 ] || { echo "usage: $0 COMMIT [HOSTS OFFENDERS POOL]" >&2; exit 2; }
# shellcheck source=scripts/library-at.sh
. "$(dirname "$0")/library-at.sh"
commit=$1
hosts=${2:-1000} offenders=${3:-300} pool=${4:-6000}
top=$(git rev-parse --show-toplevel)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
library_at "$commit" "$work"
/usr/bin/python3 -IS -c "import json, sys; sys.path.insert(0, '$top/tests/bench'); from bench_merge import make_reports
json.dump(make_reports($hosts, $offenders, $pool), open('$work/reports.json', 'w'))"
code="import gc, json, sys; gc.disable(); sys.path.insert(0, '$work')
from mail_bruteforce_guard.fleet.merge import fleet_merge
reports = json.load(open('$work/reports.json'))
if sys.argv[1] == 'merge': fleet_merge(reports)"
count() {
  env -i PYTHONHASHSEED=0 valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
    /usr/bin/python3 -S -s -c "$code" "$1" 2>&1 >/dev/null | sed -n 's/.*I *refs: *//p' | tr -d ,
}
load=$(count load)
total=$(count merge)
records=$((hosts * offenders))
echo "$commit fleet_merge ${hosts}x${offenders} (pool $pool): $(((total - load) / 1000000)) M instructions," \
  "$(((total - load) / records)) a record"
