"""The collection as a user gets it: the built tarball installed into an empty collections path in a
temporary project (no checkout on any path), the site playbook run by its FQCN against a fresh Debian 12
container, under the pinned ansible-core (.venv) and the minimum one (.venv-min, requirements-min.txt).

Containers are named mbg-adopt-* on their own podman network mbg-adopt-net; each run prints how long a first
deploy and a no-change run took (README, "Deploy time"). Needs root, podman and the image
localhost/mbg-debian:12 (`make setup`); `make adopt` builds the tarball first (MBG_TARBALL names it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "localhost/mbg-debian:12"
NETWORK = "mbg-adopt-net"
LIB = "/usr/local/lib/mail-bruteforce-guard/mail_bruteforce_guard"
VERSION = re.search(r'__version__ = "([^"]+)"', (ROOT / "plugins/module_utils/version.py").read_text())[1]
TIMINGS: list[str] = []  # printed at the end of the session (conftest.py)


def sh(*argv: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=900, **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> Path:
    """The tarball `make build` made (MBG_TARBALL), else one built the same way now."""
    if os.environ.get("MBG_TARBALL"):
        return Path(os.environ["MBG_TARBALL"]).resolve()
    out = tmp_path_factory.mktemp("dist")
    sh(str(ROOT / ".venv/bin/ansible-galaxy"), "collection", "build", "--output-path", str(out), cwd=ROOT)
    return next(out.glob("mailsec-mail_bruteforce_guard-*.tar.gz"))


@pytest.fixture(scope="module")
def network():
    if shutil.which("podman") is None or os.geteuid() != 0:
        pytest.fail("needs root and podman (make setup)")
    if sh("podman", "image", "exists", IMAGE, check=False).returncode != 0:
        pytest.fail(f"{IMAGE} is missing: run make setup")
    if sh("podman", "network", "exists", NETWORK, check=False).returncode != 0:
        sh("podman", "network", "create", NETWORK)
    yield NETWORK
    sh("podman", "network", "rm", "-f", NETWORK, check=False)


@pytest.fixture
def container(network, request):
    """A fresh systemd Debian 12 container, removed afterwards."""
    name = f"mbg-adopt-{request.node.callspec.id}"
    sh("podman", "rm", "-f", "-t", "0", name, check=False)
    sh("podman", "run", "-d", "--name", name, "--hostname", name, "--network", network, "--privileged",
       "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", IMAGE, "/sbin/init")  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = sh("podman", "exec", name, "systemctl", "is-system-running", check=False).stdout.strip()
        if state in ("running", "degraded"):
            break
        time.sleep(0.5)
    yield name
    sh("podman", "rm", "-f", "-t", "0", name, check=False)


def user_project(path: Path, venv: Path, tarball: Path, host: str) -> dict[str, str]:
    """An Ansible project of a user: an inventory, an ansible.cfg, the collection installed from the tarball.

    Returns the environment to run ansible in: nothing of the checkout, only this project.
    """
    collections = path / "collections"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(path / "ansible.cfg"), PATH=f"{venv / 'bin'}:{env['PATH']}")
    sh(str(venv / "bin/ansible-galaxy"), "collection", "install", "--offline", "-p", str(collections),
       str(tarball), cwd=path, env=env)  # fmt: skip
    # The connection plugin for the containers; a user would install containers.podman from Galaxy.
    podman = ROOT / ".collections/ansible_collections/containers"
    (collections / "ansible_collections/containers").symlink_to(podman)
    (path / "ansible.cfg").write_text(
        "[defaults]\ncollections_path = ./collections\ninventory = ./hosts.yml\n"
        "interpreter_python = auto_silent\ncollections_scan_sys_path = false\n"
    )
    (path / "hosts.yml").write_text(
        json.dumps({
            "mail_servers": {
                "hosts": {host: None},
                "vars": {
                    "ansible_connection": "containers.podman.podman",
                    "mail_bruteforce_guard_become": False,
                },
            }
        })
    )  # fmt: skip
    listed = sh(str(venv / "bin/ansible-galaxy"), "collection", "list", "mailsec.mail_bruteforce_guard",
                cwd=path, env=env).stdout  # fmt: skip
    assert str(collections) in listed and str(ROOT) not in listed.replace(str(path), ""), listed
    return env


def playbook(path: Path, env: dict[str, str], *args: str) -> tuple[float, str]:
    """Run the site playbook by FQCN; return the seconds it took and its output."""
    start = time.monotonic()
    run = sh("ansible-playbook", "mailsec.mail_bruteforce_guard.site", *args, cwd=path, env=env)
    seconds = time.monotonic() - start
    assert "WARNING" not in run.stdout + run.stderr, run.stdout + run.stderr
    assert "DEPRECATED" not in run.stdout, run.stdout
    return seconds, run.stdout


def changed(output: str) -> int:
    return sum(int(n) for n in re.findall(r"changed=(\d+)", output))


@pytest.mark.timeout(1800)  # seven playbook runs; minutes on a busy 2-core machine
@pytest.mark.parametrize("core", ["latest", "minimum"])
def test_install_the_tarball_and_deploy_by_fqcn(core, tarball, container, tmp_path):
    venv = ROOT / (".venv" if core == "latest" else ".venv-min")
    env = user_project(tmp_path, venv, tarball, container)
    version = sh(str(venv / "bin/ansible"), "--version", env=env).stdout.splitlines()[0]
    if core == "minimum":  # the role converges and is idempotent under the oldest supported ansible-core
        first_site, out = playbook(tmp_path, env)
        assert changed(out) > 0
        again_site, out = playbook(tmp_path, env)
        assert changed(out) == 0, out
        TIMINGS.append(f"{version}: whole role {first_site:.1f} s, no change {again_site:.1f} s")
        return

    # Check mode on a new host: it says what would change and changes nothing.
    _seconds, out = playbook(tmp_path, env, "--tags", "detector", "--check", "--diff")
    assert "mail_bruteforce_guard/parser/lines.py" in out and changed(out) > 0, out
    assert sh("podman", "exec", container, "test", "-e", LIB, check=False).returncode != 0

    first_detector, out = playbook(tmp_path, env, "--tags", "detector")
    assert changed(out) > 0
    again_detector, out = playbook(tmp_path, env, "--tags", "detector")
    assert changed(out) == 0, out
    first_site, out = playbook(tmp_path, env)
    assert changed(out) > 0
    again_site, out = playbook(tmp_path, env, "--check", "--diff")
    assert changed(out) == 0, out
    TIMINGS.append(
        f"{version}: detector area first deploy {first_detector:.1f} s, no change {again_detector:.1f} s; "
        f"whole role first run {first_site:.1f} s, no change (--check) {again_site:.1f} s"
    )
    installed = sh("podman", "exec", container, "mail-bruteforce-guard", "--version").stdout
    assert VERSION in installed
    sh("podman", "exec", container, "mail-bruteforce-guard", "status")

    # A library file changed on the host: check mode names it and changes nothing, a run puts it back.
    sh("podman", "exec", container, "sh", "-c", f"echo '# local edit' >> {LIB}/parser/lines.py")
    _seconds, out = playbook(tmp_path, env, "--tags", "detector", "--check", "--diff")
    assert "parser/lines.py" in out and changed(out) > 0, out
    assert "local edit" in sh("podman", "exec", container, "tail", "-1", f"{LIB}/parser/lines.py").stdout
    _seconds, out = playbook(tmp_path, env, "--tags", "detector")
    assert changed(out) > 0
    shipped = (ROOT / "plugins/module_utils/parser/lines.py").read_bytes()
    assert sh("podman", "exec", container, "cat", f"{LIB}/parser/lines.py").stdout.encode() == shipped
    sh("podman", "exec", container, "mail-bruteforce-guard", "--version")
