"""Timestamps: RFC 3164 with year inference, RFC 3339, zoneless ISO, TAI64N, no header."""

# ruff: noqa: E501  (real log lines are long: they stay whole, one per line, as the daemons write them)
from __future__ import annotations

import calendar
import os
import time
from datetime import timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mail_bruteforce_guard.parser.lines import locate_all
from mail_bruteforce_guard.parser.timestamps import ISO_SECOND_LEN, TimestampParser

UTC = timezone.utc


def utc(*parts: int) -> float:
    return float(calendar.timegm((*parts, 0, 0, 0)[:6] if len(parts) < 6 else parts))


NOW = utc(2026, 11, 26, 12, 0, 0)


@pytest.mark.parametrize(
    ("line", "expected", "rest"),
    [
        ("Nov 26 08:08:18 www postfix/smtpd[1]: x", utc(2026, 11, 26, 8, 8, 18), "www postfix/smtpd[1]: x"),
        ("Aug 12 08:08:18 www x: y", utc(2026, 8, 12, 8, 8, 18), "www x: y"),
        ("Dec  2 22:24:22 hel postfix/smtpd[7676]: w", utc(2026, 12, 2, 22, 24, 22), "hel postfix/smtpd[7676]: w"),
        ("Aug 3 15:30:49 ksusha postfix/smtpd[1]: w", utc(2026, 8, 3, 15, 30, 49), "ksusha postfix/smtpd[1]: w"),
        ("Jan 29 09:33:58 pop3-login: Info: x", utc(2026, 1, 29, 9, 33, 58), "pop3-login: Info: x"),
        ("Nov 26 08:08:18.250 h p: m", utc(2026, 11, 26, 8, 8, 18) + 0.25, "h p: m"),
        ("2026-11-26T17:29:09.818109+00:00 h p: m", utc(2026, 11, 26, 17, 29, 9) + 0.818109, "h p: m"),
        ("2026-11-26T17:29:09+01:00 h p: m", utc(2026, 11, 26, 16, 29, 9), "h p: m"),
        ("2026-11-26T17:29:09.5-05:30 h p: m", utc(2026, 11, 26, 22, 59, 9) + 0.5, "h p: m"),
        ("2026-11-26T17:29:09Z h p: m", utc(2026, 11, 26, 17, 29, 9), "h p: m"),
        ("2026-11-26T17:29:09+0000 h p: m", utc(2026, 11, 26, 17, 29, 9), "h p: m"),
        ("2013-08-11 03:56:40 auth-worker(default): Info: x", utc(2013, 8, 11, 3, 56, 40), "auth-worker(default): Info: x"),
        ("2026-11-26 08:08:18 imap-login: Info: x", utc(2026, 11, 26, 8, 8, 18), "imap-login: Info: x"),
        ("@400000004c91b044077a9e94 imap-login: x", 1284616260 - 10 + 0x077A9E94 / 1e9, "imap-login: x"),
    ],
)  # fmt: skip
def test_forms(line: str, expected: float, rest: str) -> None:
    when, pos = TimestampParser(NOW, UTC).split(line)
    assert when == pytest.approx(expected, abs=1e-6)
    assert line[pos:] == rest


@pytest.mark.parametrize(
    "line",
    [
        "postfix/smtpd[1]: warning: x",
        "imap-login: Info: Login: user=<a>",
        "",
        "short",
        "Foo 26 08:08:18 host p: m",
        "Feb 30 08:08:18 host p: m",
        "Nov 26 25:08:18 host p: m",
        "2026-13-01T00:00:00Z host p: m",
        "2026-02-30 00:00:00 host p: m",
        "@zzzz00004c91b044077a9e94 x",
        "@000000004c91b044077a9e94 x",
        "12345 not a date",
    ],
)
def test_no_usable_time(line: str) -> None:
    when, _ = TimestampParser(NOW, UTC).split(line)
    assert when is None


@pytest.mark.parametrize(
    ("now", "line", "year"),
    [
        (utc(2027, 1, 2, 0, 0, 30), "Dec 31 23:59:50 h p: m", 2026),  # read in January: last year
        (utc(2027, 1, 2, 0, 0, 30), "Jan  2 00:00:10 h p: m", 2027),
        (utc(2026, 11, 26, 12, 0, 0), "Dec 20 10:00:00 h p: m", 2026),  # up to ~a month ahead: clock skew
        (utc(2026, 11, 26, 12, 0, 0), "Feb  1 10:00:00 h p: m", 2026),
        (utc(2026, 3, 1, 0, 0, 0), "Nov 30 10:00:00 h p: m", 2025),
        (utc(2028, 3, 1, 0, 0, 0), "Feb 29 10:00:00 h p: m", 2028),  # leap day
    ],
)
def test_year_inference(now: float, line: str, year: int) -> None:
    when, _ = TimestampParser(now, UTC).split(line)
    assert when is not None
    assert time.gmtime(when).tm_year == year


def test_cached_minute_gives_each_second() -> None:
    ts = TimestampParser(NOW, UTC)
    base = utc(2026, 11, 26, 8, 8, 0)
    for sec in (0, 1, 59, 30, 0):
        assert ts.split(f"Nov 26 08:08:{sec:02d} h p: m")[0] == base + sec


def test_zone_for_zoneless_stamps() -> None:
    plus2 = timezone(timedelta(hours=2))
    assert TimestampParser(NOW, plus2).split("Nov 26 10:00:00 h p: m")[0] == utc(2026, 11, 26, 8, 0, 0)
    assert TimestampParser(NOW, plus2).split("2026-11-26 10:00:00 h p: m")[0] == utc(2026, 11, 26, 8, 0, 0)
    # an explicit offset wins over the zone
    assert TimestampParser(NOW, plus2).split("2026-11-26T10:00:00Z h p: m")[0] == utc(2026, 11, 26, 10, 0, 0)


def test_local_time_zone_of_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    if not hasattr(time, "tzset"):
        pytest.skip("no tzset")
    monkeypatch.setenv("TZ", "Europe/Zurich")
    time.tzset()
    try:
        when, _ = TimestampParser(NOW).split("Jul 02 13:49:31 host dovecot: x")
        assert when == utc(2026, 7, 2, 11, 49, 31)  # CEST = UTC+2
        when, _ = TimestampParser(NOW).split("Nov 26 13:49:31 host dovecot: x")
        assert when == utc(2026, 11, 26, 12, 49, 31)  # CET = UTC+1
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert os.environ.get("TZ") is None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3 * 86400),  # second of three days
            st.sampled_from(["", ".5", ".1234", ".818109"]),  # ".1234Z " is ISO_SECOND_LEN long too
            st.sampled_from(["+00:00", "-07:30", "Z", "+14:00"]),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_rfc3339_stamps_seen_again_read_as_the_first_time(stamps: list) -> None:
    """The per-second cache (``split``'s [:16] and [:ISO_SECOND_LEN] lookups, ``locate_all`` inlines them)
    gives every repeated RFC 3339 stamp exactly the time a parser that never saw it gives."""
    ts = TimestampParser(NOW)
    lines = []
    for sec, frac, offset in stamps:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(NOW - sec)) + frac + offset
        lines.append(f"{stamp} mx1 dovecot: imap-login: Login: x")
    for line in lines + lines:
        assert ts.split(line) == TimestampParser(NOW).split_new(line)
    assert any(len(k) == ISO_SECOND_LEN for k in ts.seconds) == any(
        not frac and offset != "Z" for _s, frac, offset in stamps
    )
    _indexes, located = locate_all(lines + lines, ts)
    assert [(when, text[:at]) for _h, text, at, when in located] == [
        (TimestampParser(NOW).split_new(line)[0], line[: line.index(": ") + 2]) for line in lines + lines
    ]


@pytest.mark.parametrize(
    "stamp", ["2026-11-26T17:29:09+00:00", "2026-11-26T17:29:09Z", "2026-11-26T17:29:09-07:30"]
)
def test_a_line_that_is_only_a_cached_rfc3339_second_ends_where_it_ends(stamp: str) -> None:
    """The per-second cache's key of a stamp ("...09+00:00", "...09Z") is also a whole line of 25 or 20
    characters: ``split``'s [:ISO_SECOND_LEN] lookup must not give such a line an end past its last character
    (953120b gave it ``len(line)``, as a parser that never saw the second does)."""
    ts = TimestampParser(NOW)
    ts.split(stamp + " mx dovecot: x")  # caches the second
    assert ts.split(stamp) == TimestampParser(NOW).split_new(stamp) == (ts.split(stamp)[0], len(stamp))
