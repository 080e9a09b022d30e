"""Issue 14 through a whole scan: a failure counts in the scan that reads it, time that goes backwards (a clock
stepped back two hours, DST end in Europe/Berlin local stamps, interleaved files) still bans the attacker in
that scan, and a known client's failure waits for its late username (issue 19's guard rail)."""

# ruff: noqa: E501  (real log lines are long: they stay whole, one per line, as the daemons write them)
from __future__ import annotations

import calendar
import time
from datetime import datetime, timezone

import pytest
from mail_bruteforce_guard.detector import api
from mail_bruteforce_guard.detector.config import Config
from mbg_detector_lines import T0, dc_login, noise, pf_fail

ATTACKER = "45.33.32.156"


def config(tmp_path, *logs) -> Config:
    return Config({"logs": [str(p) for p in logs], "state_dir": str(tmp_path / "state"), "syslog": False})


def scan(cfg: Config, now: float) -> dict:
    return api.scan(cfg, dry_run=True, now=now, warn=lambda _msg: None)


def banned(result: dict, now: float) -> dict:
    """Address -> ban end (POSIX) of the bans the scan decided that still run at ``now``."""
    out = {}
    for o in result["offenders"]:
        if o["decision"] == "ban":
            until = datetime.strptime(o["ban_until"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
            if until.timestamp() > now:
                out[o["ip"]] = until.timestamp()
    return out


def test_a_clock_stepped_back_two_hours_bans_the_attacker_in_the_same_scan(tmp_path) -> None:
    """The clock ran two hours fast; NTP steps it back; the attacker comes right after the correction."""
    log = tmp_path / "mail.log"
    fast = noise(7200, 3) + "".join(pf_fail(7200 + i * 60, ip="192.0.2.9") for i in range(3))
    attack = "".join(pf_fail(10 + i * 3, ip=ATTACKER, pid=900 + i) for i in range(5))
    log.write_text(fast + attack + noise(30, 2))
    now = T0 + 40  # the real time: the fast lines' stamps are two hours ahead of it
    result = scan(config(tmp_path, log), now)
    assert ATTACKER in banned(result, now)
    by_ip = {o["ip"]: o for o in result["offenders"]}
    assert by_ip[ATTACKER]["failures"] == 5
    assert by_ip["192.0.2.9"]["decision"] == "watch"  # not windowed together with anything after the step


def test_failures_before_a_step_back_are_not_the_window_of_those_after(tmp_path) -> None:
    """Three failures stamped two hours "ahead" and two after the step back: the policy does not window the
    new failures with those far ahead of them (how long ago they really were, no stamp says)."""
    log = tmp_path / "mail.log"
    log.write_text(
        "".join(pf_fail(7200 + i, pid=10 + i) for i in range(3))
        + "".join(pf_fail(i, pid=20 + i) for i in range(2))
    )
    result = scan(config(tmp_path, log), T0 + 60)
    (off,) = result["offenders"]
    assert (off["failures"], off["decision"]) == (5, "watch")


def test_interleaved_files_are_counted_once_and_ban_at_once(tmp_path) -> None:
    """Two logs whose times overlap (mail.log runs an hour ahead of the other file): each failure counted
    once, and the attacker found in the second file is banned in the same scan."""
    first, second = tmp_path / "mail.log", tmp_path / "other.log"
    first.write_text(
        noise(0, 2) + "".join(pf_fail(3600 + i * 30, ip="192.0.2.10", pid=30 + i) for i in range(4))
    )
    second.write_text("".join(pf_fail(100 + i * 5, ip=ATTACKER, pid=50 + i) for i in range(6)))
    now = T0 + 3700
    result = scan(config(tmp_path, first, second), now)
    failures = {o["ip"]: o["failures"] for o in result["offenders"]}
    assert failures == {"192.0.2.10": 4, ATTACKER: 6}
    assert ATTACKER in banned(result, T0 + 200)
    again = scan(config(tmp_path, first, second), now + 60)
    assert again["stats"]["events"] == 0  # nothing held back, nothing counted twice


DST_END = calendar.timegm((2026, 10, 25, 1, 0, 0))  # 03:00 CEST -> 02:00 CET in Europe/Berlin


def local(utc: float, text: str) -> str:
    """A line with an RFC 3164 local-time stamp (Europe/Berlin, as rsyslog writes it by default)."""
    return time.strftime("%b %e %H:%M:%S", time.localtime(utc)) + f" mx {text}\n"


@pytest.fixture
def berlin(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_dst_end_in_berlin_bans_the_attacker_of_the_repeated_hour(tmp_path, berlin) -> None:
    warn = "postfix/smtpd[{pid}]: warning: unknown[{ip}]: SASL LOGIN authentication failed: authentication failure, sasl_username=admin"
    lines = [
        local(DST_END - 3000 + i * 600, warn.format(pid=i, ip="192.0.2.20")) for i in range(5)
    ]  # first pass, 10 min apart
    lines += [
        local(DST_END + 600 + i * 4, warn.format(pid=100 + i, ip=ATTACKER)) for i in range(5)
    ]  # 02:10 CET
    log = tmp_path / "mail.log"
    log.write_text("".join(lines))
    assert "02:10:" in lines[5] and "02:" in lines[1]  # the same local hour, twice
    now = DST_END + 700
    result = scan(config(tmp_path, log), now)
    assert ATTACKER in banned(result, now)  # its ban runs from the real time of its failures
    by_ip = {o["ip"]: o for o in result["offenders"]}
    assert by_ip["192.0.2.20"]["decision"] == "watch"  # 5 failures over 40 min: never one window
    assert by_ip[ATTACKER]["first_seen"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(DST_END + 600))


PLESK_WARN = "{t} mx1 postfix/submission/smtpd[{pid}]: warning: unknown[{ip}]: SASL LOGIN authentication failed: authentication failure\n"
PLESK_USER = "{t} mx1 plesk_saslauthd[4434]: failed mail authenticatication attempt for user '{user}' (password len=8)\n"


def stamp(offset: float) -> str:
    return datetime.fromtimestamp(T0 + offset, timezone.utc).isoformat()


def test_a_phone_with_an_old_password_is_not_banned_for_its_late_username(tmp_path) -> None:
    """Issue 19 on a Plesk host: smtpd logs the failure without a username and plesk_saslauthd names it a
    second later. The phone's address logged in before, so its failures wait for their username and count
    as a stale client's; an unknown address's failures count at once and ban."""
    phone, log = "198.51.100.20", tmp_path / "mail.log"
    text = dc_login(0, phone, "bob@example.com")
    for i in range(12):
        t = 600 + i * 120
        text += PLESK_WARN.format(t=stamp(t), pid=300 + i, ip=phone) + PLESK_USER.format(
            t=stamp(t + 1), user="bob@example.com"
        )
    for i in range(5):
        t = 700 + i * 20
        text += PLESK_WARN.format(t=stamp(t), pid=400 + i, ip=ATTACKER) + PLESK_USER.format(
            t=stamp(t + 1), user="admin"
        )
    log.write_text(text)
    cfg = config(tmp_path, log)
    # one scan per line (as the follow daemon reads them): each failure meets its username in another scan
    lines = text.splitlines(keepends=True)
    log.write_text("")
    bans = {}
    for line in sorted(lines, key=lambda x: x[:32]):
        with log.open("a") as fh:
            fh.write(line)
        now = datetime.fromisoformat(line.split(" ", 1)[0]).timestamp() + 0.5
        bans.update(banned(scan(cfg, now), now))
    assert phone not in bans
    assert ATTACKER in bans
    final = {o["ip"]: o for o in api.report(cfg, now=T0 + 3000)["offenders"]}
    assert final[phone]["decision"] == "watch" and "stale client" in final[phone]["reason"]
