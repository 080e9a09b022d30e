"""detector.api: scan (incremental, replay, monitor), report, status, corrupt state, the ban lifecycle
bookkeeping that needs no firewall (dry runs; the real ipset runs in test_enforce_netns.py)."""

from __future__ import annotations

import json
import os

import pytest
from mail_bruteforce_guard.detector import api
from mail_bruteforce_guard.detector.config import Config
from mail_bruteforce_guard.parser.stream import parse_lines
from mbg_detector_lines import T0, dc_fail, dc_login, journal_file, noise, pf_fail
from truth import generate

LATER = T0 + 86400  # "now" for the scans: a day after the log


@pytest.fixture
def env(tmp_path):
    log = tmp_path / "mail.log"
    log.write_text("")
    cfg = Config({"logs": [str(log)], "state_dir": str(tmp_path / "state"), "syslog": False})
    return cfg, log


def append(log, text):
    with open(log, "a") as fh:
        fh.write(text)


def scan(cfg, warnings=None, **kw):
    kw.setdefault("dry_run", True)
    kw.setdefault("now", LATER)
    return api.scan(cfg, warn=(warnings if warnings is not None else []).append, **kw)


def test_scan_shape_and_ban(env):
    cfg, log = env
    append(log, noise(0, 3) + "".join(pf_fail(i * 10) for i in range(6)) + dc_fail(100))
    result = scan(cfg)
    assert set(result) == {"offenders", "accounts", "stale_clients", "shared_addresses", "stats", "timeline"}
    assert set(result["stats"]) == {
        "lines",
        "events",
        "bytes",
        "seconds",
        "lines_too_long",
        "journal_rejected",
    }
    assert result["stats"]["lines"] == 10
    assert result["stats"]["bytes"] == os.path.getsize(log)
    assert result["stats"]["events"] == 7
    by_ip = {o["ip"]: o for o in result["offenders"]}
    ban = by_ip["203.0.113.5"]
    assert set(ban) >= {
        "ip",
        "failures",
        "services",
        "usernames",
        "first_seen",
        "last_seen",
        "decision",
        "reason",
        "ban_until",
    }
    assert ban["decision"] == "ban"
    assert ban["failures"] == 6
    assert ban["services"] == ["postfix"]
    assert ban["usernames"] == ["alice@example.com"]
    assert ban["first_seen"] == "2026-11-26T08:00:00Z"
    assert ban["last_seen"] == "2026-11-26T08:00:50Z"
    assert ban["ban_until"] == "2026-11-26T09:00:40Z"
    assert by_ip["198.51.100.7"]["decision"] == "watch"
    assert by_ip["198.51.100.7"]["ban_until"] is None
    json.dumps(result)


def test_incremental_scans_continue_windows_and_read_only_new_bytes(env):
    cfg, log = env
    append(log, "".join(pf_fail(i) for i in range(3)))
    first = scan(cfg)
    assert [o["decision"] for o in first["offenders"]] == ["watch"]
    addition = pf_fail(10) + pf_fail(11) + noise(12, 5)
    append(log, addition)
    second = scan(cfg)
    assert second["stats"]["bytes"] == len(addition.encode())
    assert second["stats"]["lines"] == 7
    (off,) = second["offenders"]
    assert off["decision"] == "ban"
    assert off["failures"] == 5
    third = scan(cfg)
    assert third["offenders"] == []
    assert third["stats"]["bytes"] == 0


def test_failures_count_in_the_scan_that_reads_them(env):
    """Issue 14: a failure counts as its line is read; the scan 5 s after the last line already bans (no
    waiting HOLD seconds of log time for lines that might still follow)."""
    cfg, log = env
    append(log, "".join(pf_fail(i) for i in range(5)))
    early = scan(cfg, now=T0 + 9)
    assert early["stats"]["events"] == 5
    (off,) = early["offenders"]
    assert off["decision"] == "ban"
    later = scan(cfg, now=T0 + 60)
    assert later["stats"]["events"] == 0  # nothing was held back, nothing counted twice


def test_from_start_replay_is_idempotent(env):
    cfg, log = env
    append(log, "".join(pf_fail(i) for i in range(6)))
    first = scan(cfg)
    again = scan(cfg, from_start=True)
    assert again["offenders"] == first["offenders"]
    assert again["stats"]["bytes"] == first["stats"]["bytes"]


def test_alerts_through_the_whole_pipeline(env):
    cfg, log = env
    text = "".join(pf_fail(i * 30, ip=f"192.0.2.{i + 1}", user="ceo@example.com") for i in range(5))
    text += "".join(dc_fail(200 + i, ip="198.51.100.9", user="bob@example.com") for i in range(3))
    text += dc_login(300, "198.51.100.9", "bob@example.com")
    append(log, text)
    accounts = scan(cfg)["accounts"]
    targeted = {
        "username": "ceo@example.com",
        "alert": "targeted",
        "ips": [f"192.0.2.{i}" for i in range(1, 6)],
    }
    assert targeted in accounts
    assert {"username": "bob@example.com", "alert": "compromised", "ips": ["198.51.100.9"]} in accounts


def test_a_login_hours_after_the_failures_is_compromised_and_other_logins_are_dropped(env):
    """The correlator forgets failures after LOST_WINDOW; the policy still wants a login from that address
    (``Tracker.wants_success``), and logins from addresses that never failed are dropped before counting."""
    cfg, log = env
    append(log, "".join(dc_fail(i * 60, ip="198.51.100.9", user="bob@example.com") for i in range(3)))
    scan(cfg)
    append(log, pf_fail(3600, ip="192.0.2.1"))  # the correlator's memory moves on (and saves without bob)
    scan(cfg)
    append(log, dc_login(7200, "198.51.100.9", "bob@example.com") + dc_login(7300, "192.0.2.50", "eve"))
    result = scan(cfg, now=T0 + 7400)
    assert result["accounts"] == [
        {"username": "bob@example.com", "alert": "compromised", "ips": ["198.51.100.9"]}
    ]
    assert result["stats"]["events"] == 1  # bob's login; not eve's


def test_ignore_option(env):
    cfg, log = env
    append(log, "".join(pf_fail(i, ip="10.1.2.3") for i in range(9)))
    result = scan(cfg.replace(ignore=["10.0.0.0/8"]))
    assert [o["decision"] for o in result["offenders"]] == ["ignored"]
    assert api.status(cfg, now=LATER)["bans"] == []


def test_monitor_mode_records_bans_not_enforced(env):
    cfg, log = env
    cfg = cfg.replace(mode="monitor")
    append(log, "".join(pf_fail(i) for i in range(5)))
    scan(cfg, dry_run=False, now=T0 + 60)  # monitor: no firewall is touched even without --dry-run
    status = api.status(cfg, now=T0 + 60)
    assert status["mode"] == "monitor"
    (ban,) = status["bans"]
    assert ban["address"] == "203.0.113.5"
    assert ban["enforced"] is False
    assert ban["remaining"] == 3600 + 4 - 60
    assert "5 failures" in ban["reason"]
    assert api.status(cfg, now=T0 + 4000)["bans"] == []  # expired


def test_report_reads_saved_state_only(env):
    cfg, log = env
    append(log, "".join(pf_fail(i) for i in range(5)) + dc_fail(1))
    scan(cfg)
    scan(cfg)  # nothing new: the scan output is empty, the report still has both
    rep = api.report(cfg, now=LATER)
    assert {o["ip"]: o["decision"] for o in rep["offenders"]} == {
        "203.0.113.5": "ban",
        "198.51.100.7": "watch",
    }
    assert rep["stats"]["lines"] == 0


def test_corrupt_state_is_rebuilt_and_scan_continues(env):
    cfg, log = env
    append(log, "".join(pf_fail(i) for i in range(5)))
    scan(cfg)
    state_file = os.path.join(cfg.state_dir, "state.json")
    with open(state_file, "w") as fh:
        fh.write('{"version": 1, "logs": {')
    warnings = []
    result = scan(cfg, warnings)
    assert any("corrupt" in w for w in warnings)
    assert result["offenders"][0]["decision"] == "ban"  # re-read from the start
    assert any(p.startswith("state.json.corrupt-") for p in os.listdir(cfg.state_dir))
    with open(state_file) as fh:
        assert json.load(fh)["version"] == 1


def test_damaged_tracker_section_is_rebuilt(env):
    cfg, log = env
    append(log, pf_fail(0))
    scan(cfg)
    state_file = os.path.join(cfg.state_dir, "state.json")
    with open(state_file) as fh:
        data = json.load(fh)
    data["tracker"]["records"]["203.0.113.5"] = "garbage"  # one damaged record: set aside with a warning
    with open(state_file, "w") as fh:
        json.dump(data, fh)
    append(log, pf_fail(1))
    warnings = []
    assert scan(cfg, warnings)["offenders"][0]["failures"] == 1
    assert len(warnings) == 1 and "holds 1 damaged entries (tracker: 1)" in warnings[0]
    data["tracker"]["records"] = "garbage"  # the whole section damaged: rebuilt with a warning
    with open(state_file, "w") as fh:
        json.dump(data, fh)
    scan(cfg, warnings)
    assert "holds 1 damaged entries (tracker: 1)" in warnings[-1]


def test_missing_log_warns_and_fails_when_nothing_read(env, tmp_path):
    cfg, _ = env
    warnings = []
    with pytest.raises(api.MbgError, match="no log source could be read"):
        scan(cfg.replace(logs=[str(tmp_path / "missing.log")]), warnings)
    assert "does not exist" in warnings[0]
    # one missing among readable ones: a warning only
    result = scan(cfg.replace(logs=[str(tmp_path / "missing.log"), *cfg.logs]), warnings)
    assert result["stats"]["lines"] == 0


def test_parse_files_events(env):
    _, log = env
    append(log, pf_fail(0) + noise(1) + dc_fail(2))
    events = list(api.parse_files([str(log)], now=LATER))
    assert [(e.line, e.kind, e.ip) for _, e in events] == [
        (1, "auth_failure", "203.0.113.5"),
        (3, "auth_failure", "198.51.100.7"),
    ]


def test_ban_validation_is_config_error(env):
    cfg, _ = env
    with pytest.raises(api.ConfigError, match="invalid address"):
        api.ban(cfg, ["not-an-ip"], dry_run=True)
    with pytest.raises(api.ConfigError, match="duration"):
        api.ban(cfg, ["192.0.2.1"], duration=0, dry_run=True)


def test_scan_reads_the_journal_from_its_cursor(tmp_path):
    msg = "warning: unknown[203.0.113.77]: SASL LOGIN authentication failed: authentication failure"
    journal = journal_file(tmp_path, [("postfix/smtpd", 100 + i, 2, msg) for i in range(6)])
    cfg = Config({"logs": [], "journal": True, "state_dir": str(tmp_path / "state"), "syslog": False})
    command = ["journalctl", f"--file={journal}"]
    first = api.scan(cfg, dry_run=True, now=1795000000 + 86400, journal_command=command, warn=print)
    assert first["stats"]["lines"] == 6
    (off,) = first["offenders"]
    assert (off["ip"], off["decision"], off["failures"]) == ("203.0.113.77", "ban", 6)
    again = api.scan(cfg, dry_run=True, now=1795000000 + 86400, journal_command=command, warn=print)
    assert again["stats"]["lines"] == 0


def test_nothing_to_read_is_a_config_error(env):
    cfg, _ = env
    with pytest.raises(api.ConfigError, match="nothing to read"):
        api.scan(cfg.replace(logs=[]), dry_run=True)


def test_scan_and_report_carry_failures_per_hour(env):
    cfg, log = env
    # 08:00-08:50 (one per 10 min, below the fast window), then 09:00:00 and 09:59:59
    append(
        log, "".join(pf_fail(i * 600) for i in range(6)) + dc_fail(3600) + pf_fail(7199, ip="198.51.100.9")
    )
    first = scan(cfg)
    assert first["timeline"] == {"2026-11-26T08:00:00Z": 6, "2026-11-26T09:00:00Z": 2}
    assert sum(first["timeline"].values()) == sum(o["failures"] for o in first["offenders"])
    append(log, pf_fail(7200))
    second = scan(cfg)  # the whole remembered timeline, not only this run's hour
    assert second["timeline"] == {
        "2026-11-26T08:00:00Z": 6,
        "2026-11-26T09:00:00Z": 2,
        "2026-11-26T10:00:00Z": 1,
    }
    rep = api.report(cfg, now=LATER)
    assert rep["timeline"] == second["timeline"]
    assert list(rep["timeline"]) == sorted(rep["timeline"])
    assert json.loads(json.dumps(rep)) == rep


def test_parse_files_reads_blocks_like_parse_lines(tmp_path):
    """`parse` reads through the scan's block path (lines numbered across 1 MB reads): the same events, with
    the same line numbers, as the per-line parser on the file's lines."""
    log = tmp_path / "mail.log"
    generate(log, 12000, seed=5)
    assert log.stat().st_size > 1 << 20  # more than one read chunk: lines straddle a chunk boundary
    by_blocks = [event for _, event in api.parse_files([str(log)], now=LATER)]
    text = log.read_bytes().decode("utf-8", "replace")
    by_lines = list(parse_lines(text.splitlines(), now=LATER, info=True))
    assert by_blocks == by_lines
    assert len(by_blocks) > 1000
