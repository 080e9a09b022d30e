#!/usr/bin/env bash
# `make lint`'s ansible-test sanity: the Ansible community's collection checks (validate-modules, pylint, pep8,
# shebang, yamllint, import, ...) on this checkout, offline. ansible-test wants the collection at
# .../ansible_collections/mailsec/mail_bruteforce_guard and its tests' virtualenvs ready in
# ~/.ansible/test/venv: `make setup` makes them (scripts/setup.sh, with network); here nothing is fetched.
# Exceptions live in tests/sanity/ignore-<core version>.txt, each with its reason.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d /tmp/mbg-sanity.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/ansible_collections/mailsec/mail_bruteforce_guard
mkdir -p "$dest"
# What git tracks plus new files not ignored (the working tree as it will be committed), deleted files left out.
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] && printf '%s\0' "$f"
done | tar --null -T - -cf - | tar -C "$dest" -xf -
cd "$dest"
# LC_ALL: ansible-test warns and falls back when en_US.UTF-8 is missing (Debian's minimal locale is C.UTF-8).
LC_ALL=C.UTF-8 exec ansible-test sanity --python 3.11 --color no "$@"
