"""A host whose detector directories were tampered with (hostile review of the one-archive deploy): a library
directory made world-writable is put back to 0755 by the next converge; one replaced by a symbolic link stops
the run with one clear line instead of being written through (the link's target is outside our paths)."""

from __future__ import annotations

import subprocess

from conftest import SCENARIO
from scenario_run import playbook

HOST = "mbg-default-deb12"
LIB = "/usr/local/lib/mail-bruteforce-guard/mail_bruteforce_guard"


def _exec(command: str) -> str:
    return subprocess.run(
        ["podman", "exec", HOST, "sh", "-c", command], check=True, capture_output=True, text=True, timeout=60
    ).stdout.strip()


def _converge_detector() -> tuple[int, str]:
    rc, out, _recap = playbook(SCENARIO / "converge.yml", "--limit", HOST, "--tags", "detector")
    return rc, out


def test_a_world_writable_library_directory_is_put_back():
    _exec(f"chmod 0777 {LIB}/notify {LIB}")
    rc, out = _converge_detector()
    assert rc == 0, out[-4000:]
    assert _exec(f"stat -c %a {LIB}/notify {LIB}").split() == ["755", "755"]


def test_a_symlinked_library_directory_is_refused_not_written_through():
    _exec(f"mv {LIB}/notify /root/notify-elsewhere && ln -s /root/notify-elsewhere {LIB}/notify")
    try:
        before = _exec("sha1sum /root/notify-elsewhere/*.py")
        rc, out = _converge_detector()
        assert rc != 0, out[-4000:]
        assert f"{LIB}/notify: a symbolic link where the detector's directory belongs" in out, out[-4000:]
        assert _exec("sha1sum /root/notify-elsewhere/*.py") == before
    finally:
        _exec(f"rm -f {LIB}/notify && mv /root/notify-elsewhere {LIB}/notify")
    rc, out = _converge_detector()
    assert rc == 0, out[-4000:]
