"""Issue 14: the prompt correlator (a failure counts as its line is read, later lines only add detail) and time
that goes backwards (clock steps, DST end, interleaved files): nothing waits for log time to pass an earlier,
larger stamp, and no two lines whose times are further apart than a join's window are joined."""

# ruff: noqa: E501  (real log lines are long: they stay whole, one per line, as the daemons write them)
from __future__ import annotations

import calendar
import json
import time
from datetime import timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mail_bruteforce_guard.parser import correlate
from mail_bruteforce_guard.parser.correlate import Correlator
from mail_bruteforce_guard.parser.events import AUTH_DETAIL, AUTH_FAILURE, AUTH_SUCCESS
from mail_bruteforce_guard.parser.lines import parse_line
from mail_bruteforce_guard.parser.timestamps import TimestampParser

NOW = float(calendar.timegm((2026, 11, 26, 23, 0, 0)))
BASE = calendar.timegm((2026, 11, 26, 8, 0, 0))
IP = "203.0.113.7"
PHONE = "198.51.100.20"


def at(sec: float) -> str:
    whole = int(sec)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(BASE + whole))
    return f"{stamp}.{round((sec - whole) * 1e6):06d}+00:00"


def warn(sec: float, ip: str = IP, pid: int = 100, user: str = "") -> str:
    suffix = f", sasl_username={user}" if user else ""
    return f"{at(sec)} mx postfix/submission/smtpd[{pid}]: warning: unknown[{ip}]: SASL LOGIN authentication failed: authentication failure{suffix}"


def plesk(sec: float, user: str) -> str:
    return f"{at(sec)} mx plesk_saslauthd[4434]: failed mail authenticatication attempt for user '{user}' (password len=8)"


def auth_line(sec: float, ip: str = IP, user: str = "admin") -> str:
    return f"{at(sec)} mx dovecot: auth: passwd-file({user},{ip}): unknown user"


def login(sec: float, ip: str, user: str) -> str:
    return f"{at(sec)} mx dovecot: imap-login: Login: user=<{user}>, method=PLAIN, rip={ip}, lip=192.0.2.10, mpid=9, TLS, session=<ok{int(sec)}>"


class Feeder:
    """Feeds lines one by one (as the follow daemon does) and keeps what each line released."""

    def __init__(self, corr: Correlator) -> None:
        self.corr = corr
        self.ts = TimestampParser(NOW, timezone.utc)
        self.number = 0

    def __call__(self, text: str) -> list:
        self.number += 1
        rec = parse_line(text, self.ts)
        assert rec is not None, text
        return self.corr.feed(rec, self.number)


def counted(events: list) -> int:
    return sum(e.count for e in events if e.kind == AUTH_FAILURE)


def test_a_failure_is_released_by_its_own_line() -> None:
    feed = Feeder(Correlator(info=False, prompt=True))
    (event,) = feed(warn(10, user="admin"))
    assert (event.kind, event.ip, event.user, event.count) == (AUTH_FAILURE, IP, "admin", 1)


def test_postfix_after_dovecot_adds_detail_and_is_not_counted_again() -> None:
    feed = Feeder(Correlator(info=False, prompt=True))
    (first,) = feed(auth_line(10))
    assert (first.kind, first.service, first.user) == (AUTH_FAILURE, "dovecot", "admin")
    (detail,) = feed(warn(12))
    assert (detail.kind, detail.service, detail.user, detail.count) == (AUTH_DETAIL, "postfix", "admin", 0)
    assert feed.corr.flush() == []


def test_plesks_late_username_is_detail_for_an_unknown_address() -> None:
    corr = Correlator(info=False, prompt=True, needs_user=lambda _ip: False)
    feed = Feeder(corr)
    feed(plesk(1, "warmup"))  # this host's saslauthd names users
    (event,) = feed(warn(10))
    assert (event.kind, event.user) == (AUTH_FAILURE, None)  # counted at once
    (detail,) = feed(plesk(11, "info@example.com"))
    assert (detail.kind, detail.ip, detail.user, detail.count) == (AUTH_DETAIL, IP, "info@example.com", 0)


def test_a_known_clients_failure_waits_for_its_username_and_its_address_keeps_its_order() -> None:
    """Issue 19's guard rail: the policy judges a known-good address's failure by its username, so it waits
    for Plesk's line (at most HOLD), and that address's later events wait behind it."""
    corr = Correlator(info=False, prompt=True, needs_user=lambda ip: ip == PHONE)
    feed = Feeder(corr)
    feed(plesk(1, "warmup"))
    assert feed(warn(10, ip=PHONE)) == []  # held: the username is still to come
    assert [e.ip for e in feed(warn(10.5, ip=IP, user="x"))] == [IP]  # others are not held behind it
    assert feed(login(10.8, PHONE, "bob@example.com")) == []  # behind the held failure of its address
    released = feed(plesk(11, "bob@example.com"))
    assert [(e.kind, e.user) for e in released] == [
        (AUTH_FAILURE, "bob@example.com"),
        (AUTH_SUCCESS, "bob@example.com"),
    ]


def test_a_held_failure_goes_without_its_username_after_hold() -> None:
    corr = Correlator(info=False, prompt=True, needs_user=lambda _ip: True)
    feed = Feeder(corr)
    feed(plesk(1, "warmup"))
    assert feed(warn(10, ip=PHONE)) == []
    out = feed(warn(10 + correlate.HOLD + 1, ip=IP, user="x"))
    assert [(e.ip, e.user) for e in out] == [(PHONE, None), (IP, "x")]


def test_an_address_that_logged_in_in_this_batch_waits_too() -> None:
    """Its login is not in the policy's memory yet (the policy counts a batch after the correlator)."""
    corr = Correlator(info=False, prompt=True, needs_user=lambda _ip: False)
    feed = Feeder(corr)
    feed(plesk(1, "warmup"))
    feed(login(5, PHONE, "bob@example.com"))
    assert feed(warn(10, ip=PHONE)) == []
    assert [e.user for e in feed(plesk(11, "bob@example.com"))] == ["bob@example.com"]
    corr.settled()
    assert [e.user for e in feed(warn(20, ip=PHONE))] == [None]  # the policy knows the login now


def test_a_held_failure_survives_the_state_file() -> None:
    corr = Correlator(info=False, prompt=True, needs_user=lambda _ip: True)
    feed = Feeder(corr)
    feed(plesk(1, "warmup"))
    assert feed(warn(10, ip=PHONE)) == []
    state = json.loads(json.dumps(corr.to_dict()))
    again = Correlator.from_dict(state, info=False, prompt=True)
    again.needs_user = lambda _ip: True
    feed.corr = again
    assert [(e.ip, e.user) for e in feed(plesk(11, "bob@example.com"))] == [(PHONE, "bob@example.com")]


def test_an_old_state_without_the_new_keys_is_read() -> None:
    corr = Correlator(info=False)
    feed = Feeder(corr)
    feed(auth_line(10))
    state = json.loads(json.dumps(corr.to_dict()))
    for key in ("ref", "genuine_at", "plesk_hosts"):
        del state[key]
    state["held"] = [item[:16] for item in state["held"]]
    restored = Correlator.from_dict(state, info=False)
    assert restored.last_time == corr.last_time
    assert counted(restored.flush()) == 1


# --- time that goes backwards ----------------------------------------------------------------------------------
def test_a_clock_stepped_back_two_hours_holds_nothing() -> None:
    """Before issue 14 every event after the step waited until log time passed the old maximum (2 h)."""
    corr = Correlator(info=False)  # even the holding (parse) mode
    feed = Feeder(corr)
    feed(warn(7200, ip="192.0.2.1", user="x"))
    feed(warn(0, user="admin", pid=7))  # the clock stepped back 2 h
    out = feed(warn(20, ip="192.0.2.2", user="y", pid=8))
    assert [e.ip for e in out] == ["192.0.2.1", IP]  # released HOLD log seconds after, in arrival order


def test_no_join_across_a_step_back() -> None:
    """A Dovecot auth line and a Postfix warning whose times are two hours apart are two attempts."""
    feed = Feeder(Correlator(info=False, prompt=True))
    assert counted(feed(auth_line(7200))) == 1
    out = feed(warn(7202 - 7200, pid=9))
    assert counted(out) == 1 and not [e for e in out if e.kind == AUTH_DETAIL]
    feed2 = Feeder(Correlator(info=False, prompt=True))
    feed2(auth_line(7200))
    assert counted(feed2(warn(7202, pid=9))) == 0  # the same attempt: joined


def test_no_plesk_username_across_a_step_back() -> None:
    feed = Feeder(Correlator(info=False, prompt=True))
    feed(plesk(1, "warmup"))
    feed(warn(7200))
    assert feed(plesk(3, "bob@example.com")) == []  # two hours earlier: not this failure's user


events_times = st.lists(st.integers(min_value=0, max_value=6 * 3600), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(times=events_times, prompt=st.booleans())
def test_any_order_of_times_loses_and_doubles_no_failure(times: list, prompt: bool) -> None:
    """Independent failures (one per smtpd connection, each naming its user) with any timestamps, in any
    order: each is counted exactly once, and with ``prompt`` each as its own line is read."""
    corr = Correlator(info=False, prompt=prompt, needs_user=lambda _ip: True)
    feed = Feeder(corr)
    seen = 0
    for n, sec in enumerate(times):
        out = feed(warn(sec, ip=f"192.0.2.{n + 1}", pid=1000 + n, user=f"u{n}"))
        if prompt:
            assert [e.ip for e in out] == [f"192.0.2.{n + 1}"]
        seen += counted(out)
    seen += counted(corr.flush())
    assert seen == len(times)


@settings(max_examples=60, deadline=None)
@given(times=events_times)
def test_any_order_of_times_keeps_each_attempt_of_two_lines_once(times: list) -> None:
    """Dovecot auth line + Postfix warning 2 s later, per attempt, attempts at any times: each attempt
    counted once (their own two lines are always within the join's window)."""
    corr = Correlator(info=False, prompt=True)
    feed = Feeder(corr)
    seen = 0
    for n, sec in enumerate(times):
        ip = f"192.0.2.{n + 1}"
        seen += counted(feed(auth_line(sec, ip=ip, user=f"u{n}")))
        seen += counted(feed(warn(sec + 2, ip=ip, pid=1000 + n)))
    seen += counted(corr.flush())
    assert seen == len(times)


# --- DST end in local-time RFC 3164 stamps -----------------------------------------------------------------------
BERLIN = ZoneInfo("Europe/Berlin")
DST_END = calendar.timegm((2026, 10, 25, 1, 0, 0))  # 03:00 CEST -> 02:00 CET


@pytest.mark.parametrize("zone", ["zoneinfo", "TZ"])
def test_the_hour_after_dst_end_is_not_an_hour_back(zone: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if zone == "TZ":
        monkeypatch.setenv("TZ", "Europe/Berlin")
        time.tzset()
    try:
        ts = TimestampParser(DST_END + 7200, BERLIN if zone == "zoneinfo" else None)
        got = [ts.split(f"Oct 25 {hm} mx x")[0] - DST_END for hm in
               ("01:59:59", "02:00:00", "02:59:59", "02:00:00", "02:30:00", "02:59:59", "03:00:00")]  # fmt: skip
        assert got == [-3601, -3600, -1, 0, 1800, 3599, 3600]
    finally:
        monkeypatch.undo()
        time.tzset()
