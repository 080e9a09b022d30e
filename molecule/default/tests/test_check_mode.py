"""playbooks/compliance.yml --check --diff against the converged hosts: the role in check mode reports no
change, every live assertion passes; a host whose scan timer was stopped is reported and fails the run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import PROJECT, SCENARIO

ANSI = re.compile(r"\x1b\[[0-9;]*m")
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
HOSTS = ("mbg-default-deb11", "mbg-default-deb12", "mbg-default-deb13")
TIMER = "mail-bruteforce-guard-scan.timer"


def _compliance(*extra: str) -> tuple[int, str]:
    """Run the compliance playbook in check mode with the scenario's variables; (rc, plain output).

    The podman connection is root already and the images have no sudo: become is switched off.
    """
    inventory = str(Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory")
    playbook = Path(sys.executable).parent / "ansible-playbook"
    # molecule exports ANSIBLE_FORCE_COLOR; the recap is parsed as plain text.
    env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"}
    env["ANSIBLE_STDOUT_CALLBACK"] = "default"
    run = subprocess.run(
        [
            str(playbook),
            "-i",
            inventory,
            "--check",
            "--diff",
            "-e",
            f"@{SCENARIO / 'vars.yml'}",
            "-e",
            "ansible_become=false",
            *extra,
            str(PROJECT / "playbooks" / "compliance.yml"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return run.returncode, ANSI.sub("", run.stdout + run.stderr)


def _podman(*args: str) -> None:
    subprocess.run(["podman", *args], check=True, capture_output=True, timeout=60)


def test_compliance_check_mode_reports_no_change_and_passes():
    rc, out = _compliance()
    assert rc == 0, out[-5000:]
    recap = {host: rest for host, *rest in RECAP.findall(out)}
    assert set(HOSTS) <= set(recap), out[-4000:]
    changes = "\n".join(line for line in out.splitlines() if line.startswith(("changed:", "TASK [")))
    for host in HOSTS:
        _ok, changed, unreachable, failed = recap[host]
        assert (changed, unreachable, failed) == ("0", "0", "0"), f"{host}:\n{changes[-6000:]}"
        assert f"{host}: PASS" in out


def test_compliance_fails_a_drifted_host():
    _podman("exec", HOSTS[-1], "systemctl", "stop", TIMER)
    try:
        rc, out = _compliance("--limit", f"{HOSTS[-1]},localhost")
    finally:
        _podman("exec", HOSTS[-1], "systemctl", "start", TIMER)
    assert rc != 0, out[-4000:]
    # the stopped timer, and (once the check-mode run took longer than two scan intervals) the health check
    # that sees no recent scan: either way the timer is named first
    assert f"{HOSTS[-1]}: FAIL (scan timer active" in out, out[-4000:]
    assert "NON-COMPLIANT: scan timer active" in out
