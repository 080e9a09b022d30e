#!/usr/bin/env bash
# `make setup`: everything the tests and the demo need, idempotent and quick on a set-up machine.
#   1. Debian packages (podman, runc, debootstrap, iptables, ipset, fail2ban for the benchmark reference, ...)
#   2. podman settings this machine kind needs (ulimits, runc, netavark)
#   3. .venv with the pinned controller and test tools (requirements-dev.txt) and the detector (editable)
#   4. the containers.podman collection, offline, from the `ansible` wheel on PyPI (Galaxy is unreachable)
#   5. this repository linked as the collection mailsec.mail_bruteforce_guard under .collections/
#   6. the local systemd container images (scripts/build-images.sh; existing images are skipped)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# The distribution's python3 by default: Debian builds it with PGO and LTO (a plain source build such as pyenv's
# runs this project's hot loops measurably slower), and it is the interpreter the role runs the detector
# with on Debian hosts and fail2ban runs on. PYTHON=... overrides (ansible-core needs 3.11 or later).
if [ -n "${PYTHON:-}" ]; then
  PY=$PYTHON
elif /usr/bin/python3 -c 'import sys, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  PY=/usr/bin/python3
else
  PY=python3
fi
log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# 1. Debian packages --------------------------------------------------------------------------------------
APT_PKGS=(podman runc debootstrap iptables ipset nftables fail2ban uidmap netavark aardvark-dns slirp4netns
          fuse-overlayfs iproute2 util-linux procps make git python3-venv ca-certificates
          systemd-journal-remote)  # systemd-journal-remote: real journal files for the journal tests
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: these Debian packages are missing and installing them needs root: ${missing[*]}" >&2
    exit 1
  fi
  log "installing Debian packages: ${missing[*]}"
  # fail2ban is only the benchmark's reference: its daemon must not start (and touch this machine's firewall).
  guard_rc=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && guard_rc=1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  [ -z "$guard_rc" ] || rm -f /usr/sbin/policy-rc.d
  if command -v systemctl >/dev/null && systemctl is-active --quiet fail2ban 2>/dev/null; then
    systemctl disable --now fail2ban >/dev/null 2>&1 || true
  fi
fi

# 2. podman settings (see shared/ENVIRONMENT.md: the default ulimits fail on this machine kind) ------------
CONF=/etc/containers/containers.conf
if [ "$(id -u)" -eq 0 ] && ! grep -q 'mail_bruteforce_guard' "$CONF" 2>/dev/null; then
  log "writing $CONF (ulimits, runc, netavark)"
  mkdir -p /etc/containers
  [ -f "$CONF" ] && cp "$CONF" "$CONF.before-mail_bruteforce_guard"
  cat >"$CONF" <<'CONFEOF'
# written by mail_bruteforce_guard's scripts/setup.sh
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=8192:8192"]

[engine]
runtime = "runc"

[network]
network_backend = "netavark"
CONFEOF
fi

# 3. the virtualenv ---------------------------------------------------------------------------------------
stamp=.venv/.mbg-requirements
version() { "$1" -c 'import sys; print(sys.version)' 2>/dev/null; }
if [ -x .venv/bin/python ] && [ "$(version .venv/bin/python)" != "$(version "$PY")" ]; then
  log "the .venv was made with another interpreter: recreating it on $PY"
  rm -rf .venv
fi
want=$(cat requirements-dev.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "creating .venv on $PY with the pinned tools (about a minute)"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -m pip install -q --disable-pip-version-check -e . 2>&1 | grep -v -e '^WARNING: Location' -e '^ ' -e '^$' || true
  .venv/bin/python -c 'import ansible, molecule, testinfra, hypothesis, mail_bruteforce_guard' \
    || { echo "setup: the virtualenv is incomplete" >&2; exit 1; }
  echo "$want" >"$stamp"
fi

# 4. containers.podman, offline ---------------------------------------------------------------------------
COLL=.collections/ansible_collections
if [ ! -f "$COLL/containers/podman/MANIFEST.json" ]; then
  log "installing the containers.podman collection from the ansible wheel (offline)"
  tmp=$(mktemp -d)
  .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps ansible==12.3.0 -d "$tmp" 2>&1 \
    | grep -v '^WARNING: Location' || true
  .venv/bin/python - "$tmp" <<'PYEOF'
import pathlib, sys, zipfile
tmp = pathlib.Path(sys.argv[1])
wheel = next(tmp.glob("ansible-*.whl"))
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.startswith("ansible_collections/containers/podman/")]
    z.extractall(tmp, names)
PYEOF
  .venv/bin/ansible-galaxy collection install --offline -p .collections \
    "$tmp/ansible_collections/containers/podman" >/dev/null
  rm -rf "$tmp"
fi

# 5. this checkout as the collection mailsec.mail_bruteforce_guard -----------------------------------------
mkdir -p "$COLL/mailsec"
if [ "$(readlink "$COLL/mailsec/mail_bruteforce_guard" 2>/dev/null)" != "../../.." ]; then
  ln -sfn ../../.. "$COLL/mailsec/mail_bruteforce_guard"
fi

# 6. container images -------------------------------------------------------------------------------------
if [ "${MBG_SKIP_IMAGES:-0}" != 1 ]; then
  scripts/build-images.sh ${MBG_IMAGES:-}
fi
log "ready ($ROOT)"
