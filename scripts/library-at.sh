# shellcheck shell=bash
# Sourced by scripts/scan-instructions.sh and scripts/merge-instructions.sh (not run on its own): valgrind
# checked, and library_at COMMIT DIR puts the library (plugins/module_utils) of COMMIT into DIR, importable
# from there as mail_bruteforce_guard.
command -v valgrind >/dev/null || { echo "$0: valgrind is needed (apt-get install valgrind)" >&2; exit 2; }

library_at() {
  mkdir -p "$2/src"
  git -C "$(git rev-parse --show-toplevel)" archive "$1" plugins/module_utils | tar -x -C "$2/src"
  mv "$2/src/plugins/module_utils" "$2/mail_bruteforce_guard"
}
