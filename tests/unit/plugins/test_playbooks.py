"""report.yml, share_bans.yml and unban.yml run for real by ansible-playbook against three local "hosts"
(connection local, each with its own detector config and state in tmp, monitor mode: no firewall touched)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from plugin_helpers import ATTACKER, COLLECTIONS, PROBER, ROOT, Detector, attack_log, rfc3339

BIN = Path(sys.executable).parent
HOSTS = ("mbg-mail1", "mbg-mail2", "mbg-mail3")
EVIL_USER = '<script>alert("x")</script>@example.com'


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> dict:
    """Three detectors: mail1 and mail2 attacked by ATTACKER and PROBER, mail3 never attacked."""
    base = tmp_path_factory.mktemp("fleet")
    now = time.time()
    detectors = {}
    for index, host in enumerate(HOSTS):
        (base / host).mkdir()
        det = Detector(base / host)
        if host != "mbg-mail3":
            text = attack_log(now - 600 * index, host=host)
            if host == "mbg-mail1":
                text += (
                    f"{rfc3339(now - 100)} {host} postfix/smtpd[900]: warning: unknown[{PROBER}]: SASL LOGIN"
                    f" authentication failed: (reason unavailable), sasl_username={EVIL_USER}\n"
                )
            det.scan(text)
        detectors[host] = det
    inventory = base / "hosts.yml"
    hosts = {
        host: {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "mail_bruteforce_guard_config": str(det.config_path),
        }
        for host, det in detectors.items()
    }
    inventory.write_text(json.dumps({"mail_servers": {"hosts": hosts}}))
    return {"base": base, "inventory": inventory, "detectors": detectors}


def playbook(fleet: dict, name: str, *extra: str) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCAL_TEMP=str(fleet["base"] / "tmp"),
        PATH=f"{BIN}:{os.environ.get('PATH', '')}",
    )
    cmd = [
        str(BIN / "ansible-playbook"),
        "-i",
        str(fleet["inventory"]),
        str(ROOT / "playbooks" / name),
        "-e",
        "mail_bruteforce_guard_become=false",
        *extra,
    ]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, check=False)


def recap_changed(output: str) -> dict:
    """host -> changed count from the PLAY RECAP."""
    counts = {}
    for line in output.rsplit("PLAY RECAP", maxsplit=1)[-1].splitlines():
        parts = line.split()
        if parts and parts[0] in HOSTS:
            counts[parts[0]] = int(next(p for p in parts if p.startswith("changed=")).split("=")[1])
    return counts


def bans(det: Detector) -> dict:
    state = json.loads((det.state_dir / "state.json").read_text())
    return {a: b for a, b in state["bans"].items() if float(b["until"]) > time.time()}


def test_report_writes_four_files_and_a_summary(fleet):
    out_dir = fleet["base"] / "report"
    run = playbook(fleet, "report.yml", "-e", f"mail_bruteforce_guard_report_dir={out_dir}")
    assert run.returncode == 0, run.stdout + run.stderr
    assert sorted(p.name for p in out_dir.iterdir()) == ["fleet.csv", "fleet.json", "fleet.md", "report.html"]
    doc = json.loads((out_dir / "fleet.json").read_text())
    assert [h["host"] for h in doc["hosts"]] == list(HOSTS)
    attacker = next(o for o in doc["offenders"] if o["ip"] == ATTACKER)
    assert attacker["hosts"] == ["mbg-mail1", "mbg-mail2"]
    assert attacker["failures"] == 16
    assert "alice@example.com" in attacker["usernames"]
    assert doc["summary"]["multi_host"] == 2
    html = (out_dir / "report.html").read_text()
    assert "<svg" in html and "<rect" in html
    assert "http://" not in html and "https://" not in html  # self-contained
    assert EVIL_USER not in html  # attacker text is escaped ...
    assert "&lt;script&gt;" in html  # ... and shown
    # an attack of minutes: per-minute bars spread from first/last seen (the per-hour counts are too coarse)
    assert doc["timeline"]["bucket_seconds"] == 60
    assert sum(b["failures"] for b in doc["timeline"]["buckets"]) == doc["summary"]["failures"]
    text = " ".join(html.split())
    assert "Failed logins per minute (UTC), all hosts; estimated from first/last seen" in text
    assert 'class="ban"' in html  # the bans are marked on the timeline
    assert "Addresses seen on 2 or more hosts: 2" in run.stdout
    assert f"Report: {out_dir}/report.html" in run.stdout


def test_share_bans_bans_everywhere_then_changes_nothing(fleet):
    first = playbook(fleet, "share_bans.yml")
    assert first.returncode == 0, first.stdout + first.stderr
    assert recap_changed(first.stdout) == dict.fromkeys(HOSTS, 1)
    for det in fleet["detectors"].values():
        shared = bans(det)
        assert {ATTACKER, PROBER} <= set(shared)
        # mail3 was never attacked: its ban names the hosts that were
        assert shared[PROBER]["reason"].startswith("seen on mbg-mail1, mbg-mail2: ")
    second = playbook(fleet, "share_bans.yml", "-e", "mail_bruteforce_guard_share_min_hosts=2")
    assert second.returncode == 0, second.stdout + second.stderr
    assert recap_changed(second.stdout) == dict.fromkeys(HOSTS, 0)
    assert "Bans added or extended: 0 across 3 host(s)" in second.stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ((), "give the address(es) to unban: -e mail_bruteforce_guard_unban="),
        (
            ("-e", "mail_bruteforce_guard_unban=203.0.113.7,999.1.1.1"),
            "mail_bruteforce_guard_unban: invalid address '999.1.1.1'",
        ),
    ],
)
def test_unban_refuses_missing_or_malformed_address(fleet, extra, message):
    run = playbook(fleet, "unban.yml", *extra)
    assert run.returncode != 0
    assert message in run.stdout
    assert "Traceback" not in run.stdout + run.stderr


def test_unban_lifts_fleet_wide(fleet):
    # the attacker banned on every host first (as share_bans leaves it; alone, this test does not rely on the
    # tests before it in the module having run)
    shared = playbook(fleet, "share_bans.yml")
    assert shared.returncode == 0, shared.stdout + shared.stderr
    run = playbook(fleet, "unban.yml", "-e", f"mail_bruteforce_guard_unban={ATTACKER}")
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{ATTACKER}: ban lifted on 3 of 3 host(s)" in run.stdout
    assert "DEPRECATED" not in run.stdout
    for det in fleet["detectors"].values():
        assert ATTACKER not in bans(det)


def test_the_short_names_of_1_0_still_work_and_are_named_deprecated(fleet):
    """mbg_*, min_hosts, address, reset: deprecated aliases for 1.x (playbooks/tasks/deprecated_names.yml)."""
    old_names = ("-e", f"address={PROBER}", "-e", "reset=false", "-e", "mbg_become=false")
    run = playbook(fleet, "unban.yml", *old_names)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{PROBER}: ban lifted on " in run.stdout
    for old, new in (
        ("address", "mail_bruteforce_guard_unban"),
        ("reset", "mail_bruteforce_guard_unban_reset"),
        ("mbg_become", "mail_bruteforce_guard_become"),
    ):
        assert f"DEPRECATED: {old} is {new} now" in run.stdout, run.stdout
    report_dir = fleet["base"] / "old-names"
    run = playbook(fleet, "report.yml", "-e", f"mbg_report_dir={report_dir}", "-e", "min_hosts=2")
    assert run.returncode == 0, run.stdout + run.stderr
    assert (report_dir / "report.html").is_file()
    assert "DEPRECATED: min_hosts is mail_bruteforce_guard_report_min_hosts now" in run.stdout
    assert json.loads((report_dir / "fleet.json").read_text())["min_hosts"] == 2
