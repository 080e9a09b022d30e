"""A scan tells: ban and compromised alerts reach syslog's outbox and a real webhook after the bans are
decided; the Prometheus textfile passes promtool; ``status --check`` names what is wrong."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from mail_bruteforce_guard.detector import api, cli
from mail_bruteforce_guard.detector.config import Config
from mail_bruteforce_guard.detector.metrics import PREFIX
from mail_bruteforce_guard.notify.outbox import pending
from mbg_detector_lines import T0, dc_login, pf_fail

LATER = T0 + 120


@pytest.fixture
def env(tmp_path, hook):
    log = tmp_path / "mail.log"
    log.write_text(
        "".join(pf_fail(i * 5, user="admin") for i in range(6))  # 203.0.113.5 fails 6 times: ban
        # alice: three wrong passwords from her own address, then the right one (not banned: compromised)
        + "".join(pf_fail(40 + i, ip="198.51.100.20", user="alice@example.com") for i in range(3))
        + dc_login(60, "198.51.100.20", "alice@example.com")
    )
    values = {
        "mode": "monitor",  # no firewall here: bans are decided and kept, the alerts are the same
        "logs": [str(log)],
        "state_dir": str(tmp_path / "state"),
        "syslog": False,
        "metrics_file": str(tmp_path / "mbg.prom"),
        "notify": [{"type": "webhook", "url": hook.url}],
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(values))
    return Config(values), path, log


def test_scan_queues_ban_and_compromised_then_notify_delivers(env, hook):
    cfg, _, _ = env
    result = api.scan(cfg, now=LATER, warn=print)
    assert [a["alert"] for a in result["accounts"]] == ["compromised"]
    assert not hook.requests  # the scan itself sends nothing
    assert pending(cfg.state_dir, print)["queued"] == {"webhook0": 2}
    outcome = api.notify(cfg, now=LATER, warn=print)
    assert outcome["delivered"] == 2
    bodies = [hook.json(i) for i in range(len(hook.requests))]
    assert {b["event"] for b in bodies} == {"ban", "compromised"}
    ban = next(b for b in bodies if b["event"] == "ban")
    assert ban["address"] == "203.0.113.5"
    comp = next(b for b in bodies if b["event"] == "compromised")
    assert comp["user"] == "alice@example.com"
    # the next scan (no new lines) raises nothing new: the account alert is de-duplicated
    api.scan(cfg, now=LATER + 60, warn=print)
    assert api.notify(cfg, now=LATER + 60, warn=print)["messages"] == 0


def test_dry_run_tells_nothing(env):
    cfg, _, _ = env
    api.scan(cfg, now=LATER, dry_run=True, warn=print)
    assert pending(cfg.state_dir, print)["queued"] == {}


def test_metrics_textfile_passes_promtool_and_shows_the_ban(env, tmp_path):
    cfg, _, _ = env
    api.scan(cfg, now=LATER, warn=print)
    text = (tmp_path / "mbg.prom").read_text()
    assert 'mail_bruteforce_guard_active_bans{family="ipv4"} 1' in text
    assert "mail_bruteforce_guard_bans_total 1" in text
    assert 'mail_bruteforce_guard_failures_total{service="postfix"} 9' in text
    assert 'mail_bruteforce_guard_alerts_total{kind="compromised"} 1' in text
    assert "mail_bruteforce_guard_lines_read_total 10" in text
    # to the second: ":g" wrote 1.79568e+09 (six digits, a timestamp off by up to 5000 s)
    (stamp_line,) = [line for line in text.splitlines() if line.startswith(f"{PREFIX}last_success_")]
    assert float(stamp_line.split()[1]) == LATER
    assert oct((tmp_path / "mbg.prom").stat().st_mode & 0o777) == "0o644"
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool missing (Debian package prometheus; make setup installs it)")
    done = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout + done.stderr == ""  # no lint warning either


def test_failed_scan_counts_an_error_and_raises_a_failure_alert(env, tmp_path):
    cfg, _, log = env
    log.unlink()
    with pytest.raises(api.MbgError, match="no log source could be read"):
        api.scan(cfg, now=LATER, warn=lambda _m: None)
    text = (tmp_path / "mbg.prom").read_text()
    assert 'mail_bruteforce_guard_errors_total{kind="log"} 1' in text
    assert 'mail_bruteforce_guard_alerts_total{kind="failure"} 1' in text


def run_cli(argv, capsys):
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_status_check(env, capsys):
    cfg, path, log = env
    base = ["status", "--check", "--config", str(path)]
    code, out, _ = run_cli(base, capsys)
    assert code == 1
    assert "FAIL: no successful scan recorded yet" in out
    api.scan(cfg, warn=print)  # now: the clock (the check compares with it)
    code, out, _ = run_cli(base, capsys)
    assert (code, out) == (0, "OK: scans succeed, logs readable\n")
    log.rename(log.with_suffix(".away"))
    code, out, _ = run_cli(base, capsys)
    assert code == 1
    assert f"FAIL: cannot read log {log}: No such file or directory" in out
    log.with_suffix(".away").rename(log)
    later = "2099-01-01T00:00:00Z"
    code, out, _ = run_cli([*base, "--now", later], capsys)
    assert code == 1
    assert "more than twice scan_interval_seconds, 120s" in out
    code, out, _ = run_cli([*base, "--json", "--now", later], capsys)
    data = json.loads(out)
    assert data["ok"] is False
    assert data["problems"][1].startswith("alerts undelivered for")  # the scan's two alerts never went out


def test_notify_failure_unit_raises_and_delivers(env, hook, capsys):
    _, path, _ = env
    code, out, _ = run_cli(
        ["notify", "--config", str(path), "--failure", "mail-bruteforce-guard-scan.service"], capsys
    )
    assert code == 0
    assert out.startswith("delivered 1 alerts in 1 messages")
    body = hook.json()
    assert body["event"] == "failure" and body["component"] == "mail-bruteforce-guard-scan.service"
    assert body["severity"] == "error"


@pytest.mark.parametrize(
    "damage",
    [
        '{"counters": {"bans": "many"}, "failures": [], "last_success": "yesterday"}',
        "[1, 2]",
        "\x00garbage",
    ],
)
def test_damaged_counters_restart_and_never_fail_a_scan(env, tmp_path, damage):
    cfg, _, _ = env
    (tmp_path / "state").mkdir(mode=0o700)
    (tmp_path / "state" / "metrics.json").write_text(damage)
    outbox = '{"queue": [], "counts": {"alerts": 5}, "sent": {"x": "y"}}'
    (tmp_path / "state" / "notify-outbox.json").write_text(outbox)
    api.scan(cfg, now=LATER, warn=print)
    text = (tmp_path / "mbg.prom").read_text()
    assert "mail_bruteforce_guard_bans_total 1" in text
    assert 'mail_bruteforce_guard_alerts_total{kind="ban"} 1' in text


def test_manual_ban_and_unban_are_told_and_counted(env, tmp_path):
    cfg, _, _ = env
    api.ban(cfg, ["192.0.2.77"], duration=600, reason="manual", now=LATER, warn=print)
    api.unban(cfg, ["192.0.2.77"], now=LATER + 1, warn=print)
    api.unban(cfg, ["192.0.2.78"], now=LATER + 1, warn=print)  # nothing to lift: nothing told
    outcome = pending(cfg.state_dir, print)
    assert outcome["queued"] == {"webhook0": 2}
    assert outcome["counts"]["alerts"] == {"ban": 1, "unban": 1}
    api.scan(cfg, now=LATER, warn=print)
    assert "mail_bruteforce_guard_unbans_total 1" in (tmp_path / "mbg.prom").read_text()
