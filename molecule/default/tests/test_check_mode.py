"""playbooks/compliance.yml --check --diff against the converged hosts: the role in check mode reports no
change, every live assertion passes; a host whose scan timer was stopped is reported and fails the run."""

from __future__ import annotations

import subprocess

from conftest import PROJECT, SCENARIO
from scenario_run import changed_tasks, playbook

HOSTS = ("mbg-default-deb11", "mbg-default-deb12", "mbg-default-deb13")
TIMER = "mail-bruteforce-guard-scan.timer"


def _compliance(*extra: str) -> tuple[int, str, dict[str, tuple[str, ...]]]:
    """The compliance playbook in check mode with the scenario's variables: rc, plain output, recap.

    The podman connection is root already and the images have no sudo: become is switched off.
    """
    return playbook(
        PROJECT / "playbooks" / "compliance.yml",
        "--check",
        "--diff",
        "-e",
        f"@{SCENARIO / 'vars.yml'}",
        "-e",
        "ansible_become=false",
        *extra,
    )


def _podman(*args: str) -> None:
    subprocess.run(["podman", *args], check=True, capture_output=True, timeout=60)


def test_compliance_check_mode_reports_no_change_and_passes():
    rc, out, recap = _compliance()
    assert rc == 0, out[-5000:]
    assert set(HOSTS) <= set(recap), out[-4000:]
    for host in HOSTS:
        assert recap[host] == ("0", "0", "0"), f"{host}: {recap[host]}: {changed_tasks(out)}"
        assert f"{host}: PASS" in out


def test_compliance_fails_a_drifted_host():
    _podman("exec", HOSTS[-1], "systemctl", "stop", TIMER)
    try:
        rc, out, _recap = _compliance("--limit", f"{HOSTS[-1]},localhost")
    finally:
        _podman("exec", HOSTS[-1], "systemctl", "start", TIMER)
    assert rc != 0, out[-4000:]
    # the stopped timer, and (once the check-mode run took longer than two scan intervals) the health check
    # that sees no recent scan: either way the timer is named first
    assert f"{HOSTS[-1]}: FAIL (scan timer active" in out, out[-4000:]
    assert "NON-COMPLIANT: scan timer active" in out
