#!/usr/bin/env bash
# `make setup`: everything the tests and the demo need, idempotent and quick on a set-up machine.
#   1. Debian packages (podman, runc, debootstrap, iptables, ipset, fail2ban for the benchmark reference, ...)
#   2. podman settings this machine kind needs (ulimits, runc, netavark)
#   3. .venv with the pinned controller and test tools (requirements-dev.txt) and the detector (editable);
#      .venv-min with the oldest ansible-core the collection supports (requirements-min.txt), to prove it;
#      ansible-test's sanity virtualenvs (~/.ansible/test/venv), so `make lint` runs them offline
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
          systemd-journal-remote shellcheck locales prometheus)
# systemd-journal-remote: the journal tests write real journal files (systemd-journal-remote) and read them with
# journalctl. shellcheck: ansible-test sanity's shell check. locales: en_US.UTF-8, which ansible-test expects.
# prometheus: only its promtool, which checks the metrics file in the tests (its daemon must not start either).
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

# ansible-test warns on every run when en_US.UTF-8 is missing (Debian's minimal images only have C.UTF-8).
if [ "$(id -u)" -eq 0 ] && ! locale -a 2>/dev/null | grep -qix 'en_US.utf8'; then
  log "generating the en_US.UTF-8 locale"
  localedef -i en_US -f UTF-8 en_US.UTF-8
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

# 3b. the minimum ansible-core, in its own venv: plugin unit tests and a converge run under it too (make adopt)
stamp_min=.venv-min/.mbg-requirements
want_min=$(cat requirements-min.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -x .venv-min/bin/python ] || [ "$(cat "$stamp_min" 2>/dev/null)" != "$want_min" ]; then
  log "creating .venv-min with the minimum ansible-core (requirements-min.txt)"
  rm -rf .venv-min
  "$PY" -m venv .venv-min
  .venv-min/bin/python -m pip install -q --disable-pip-version-check -r requirements-min.txt 2>&1 | grep -v '^WARNING: Location' || true
  .venv-min/bin/python -m pip install -q --disable-pip-version-check --no-deps -e . 2>&1 | grep -v -e '^WARNING: Location' -e '^ ' -e '^$' || true
  .venv-min/bin/python -c 'import ansible, pytest, hypothesis, mail_bruteforce_guard' \
    || { echo "setup: .venv-min is incomplete" >&2; exit 1; }
  echo "$want_min" >"$stamp_min"
fi

# 3c. ansible-test sanity's virtualenvs. ansible-test bootstraps pip in each with get-pip.py from
# ci-files.testing.ansible.com (unreachable here): give it a stand-in that installs the pip wheel from PyPI.
sanity_stamp=$HOME/.ansible/test/venv/.mbg-$(.venv/bin/python -c 'import ansible; print(ansible.__version__)')
if [ ! -f "$sanity_stamp" ]; then
  log "preparing ansible-test sanity's virtualenvs (once per ansible-core version, about a minute)"
  cache=$HOME/.ansible/test/cache
  mkdir -p "$cache"
  pip_version=$(.venv/bin/python - <<'PYEOF'
import re
from pathlib import Path
import ansible_test
text = (Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py").read_text()
print(re.search(r"\bpip='([^']+)'", text).group(1))  # get_venv_packages(): the pip it bootstraps
PYEOF
)
  .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps "pip==$pip_version" -d "$cache" 2>&1 \
    | grep -v '^WARNING: Location' || true
  wheel=$(ls "$cache"/pip-"$pip_version"-py3-none-any.whl)
  cat >"$cache/get_pip_${pip_version//./_}.py" <<PYEOF
# Written by mail_bruteforce_guard's scripts/setup.sh: does what get-pip.py does, with the pip wheel from PyPI.
import sys
sys.path.insert(0, "$wheel")
from pip._internal.cli.main import main  # noqa: E402
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel") and not a.startswith("pip==")]
sys.exit(main(["install", "--upgrade", "--force-reinstall", "$wheel", *args]))
PYEOF
  PATH=$ROOT/.venv/bin:$PATH scripts/sanity.sh --prime-venvs --requirements >/dev/null
  touch "$sanity_stamp"
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
  read -ra images <<<"${MBG_IMAGES:-}"
  scripts/build-images.sh "${images[@]}"
fi
log "ready ($ROOT)"
