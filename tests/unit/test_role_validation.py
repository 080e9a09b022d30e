"""Bad role variables stop the play in the validate step, naming the variable, before any host change.

ansible-playbook runs the role against localhost in check mode with a tag no task carries, so only the
`always` steps run: the argument_specs validation and tasks/validate.yml (facts, asserts, read-only probes).
Nothing on this machine is changed, whatever the variables.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = """
- name: Validate only
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: mailsec.mail_bruteforce_guard.mail_bruteforce_guard
"""


def _run(tmp_path: Path, variables: dict) -> tuple[int, str]:
    playbook = tmp_path / "validate.yml"
    playbook.write_text(PLAYBOOK)
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps(variables))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    env.pop("ANSIBLE_FORCE_COLOR", None)
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            "localhost,",
            "--check",
            "--tags",
            "mbg-validate-only",
            "-e",
            f"@{extra}",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            str(playbook),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return run.returncode, run.stdout + run.stderr


def test_validation_runs_first_in_the_role():
    main = yaml.safe_load((ROOT / "roles" / "mail_bruteforce_guard" / "tasks" / "main.yml").read_text())
    assert main[0]["ansible.builtin.import_tasks"] == "validate.yml"
    assert main[0]["tags"] == ["always"]


def test_good_variables_pass(tmp_path):
    good = {
        "mail_bruteforce_guard_ignore": ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"],
        # 0 switches these rules off in the library, so the role takes it too (it refused it once)
        "mail_bruteforce_guard_slow_maxretry": 0,
        "mail_bruteforce_guard_targeted_min_ips": 0,
        "mail_bruteforce_guard_compromised_min_failures": 0,
        "mail_bruteforce_guard_syn_rate_smtp": 0,
    }
    rc, out = _run(tmp_path, good)
    assert rc == 0, out[-3000:]
    assert "changed=0" in out and "failed=0" in out


def test_type_and_choice_errors_fail_in_the_argument_specs(tmp_path):
    rc, out = _run(
        tmp_path, {"mail_bruteforce_guard_mode": "block", "mail_bruteforce_guard_maxretry": "many"}
    )
    assert rc != 0
    assert "mail_bruteforce_guard_mode" in out and "block" in out
    assert "mail_bruteforce_guard_maxretry" in out


BAD = {
    "mail_bruteforce_guard_ignore": ["10.0.0.0/8", "10.0.0.300/8"],
    "mail_bruteforce_guard_protected": ["2001:db8::/129"],
    "mail_bruteforce_guard_maxretry": -1,
    "mail_bruteforce_guard_bantime_max": 10,
    "mail_bruteforce_guard_ipv6_prefix": 0,
    "mail_bruteforce_guard_ipset_v4": "bad name!",
    "mail_bruteforce_guard_mail_ports": [25, 0],
    "mail_bruteforce_guard_firewall_extra_ports": [{"port": 70000}, {"port": 443, "source": "10.1.2/24"}],
    "mail_bruteforce_guard_sysctl_overrides": {"net.ipv4.tcp_syncookies": "1\n-A INPUT -j ACCEPT"},
    "mail_bruteforce_guard_state_dir": "relative/dir",
    "mail_bruteforce_guard_syn_rate": -5,
    "mail_bruteforce_guard_syn_ports": [587, 70000],
    "mail_bruteforce_guard_syn_rate_smtp": -1,
    "mail_bruteforce_guard_firewall_lockdown_ack_ports": ["tcp/8080", "icmp/1", "udp/99999"],
}


def test_bad_values_fail_naming_each_variable(tmp_path):
    rc, out = _run(tmp_path, BAD)
    assert rc != 0
    for name in BAD:
        assert f"{name}: " in out, f"no message names {name}"
    assert "10.0.0.300/8" in out and "10.1.2/24" in out and "70000" in out
    assert "icmp/1" in out and "99999" in out and "tcp/8080" not in out.split("lockdown_ack_ports: ")[1][:200]
    assert "changed=0" in out


@pytest.mark.parametrize("interval", ["*-*-* 25:00:00"])
def test_bad_scan_interval_fails(tmp_path, interval):
    rc, out = _run(tmp_path, {"mail_bruteforce_guard_scan_interval": interval})
    assert rc != 0
    assert "mail_bruteforce_guard_scan_interval" in out and "not a systemd calendar expression" in out
