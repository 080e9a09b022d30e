"""times.py: the one reader and writer of time text (CLI --now, guard_ban expires/until, the fleet and maillog
filters) and the one tolerance between ban ends."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mail_bruteforce_guard.firewall.base import unique_targets
from mail_bruteforce_guard.limits import MAX_TIME
from mail_bruteforce_guard.times import BAN_END_TOLERANCE, iso_seconds, iso_utc, parse_iso, parse_time


@given(st.floats(min_value=0, max_value=MAX_TIME))
def test_iso_seconds_is_strftime_of_the_whole_second(ts):
    want = datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert iso_seconds(ts) == want
    assert parse_iso(want) == float(int(ts))


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("2026-11-26T08:00:00Z", 1795680000.0),
        ("2026-11-26T08:00:00z", 1795680000.0),
        ("2026-11-26T09:00:00+01:00", 1795680000.0),
        (" 2026-11-26T08:00:00 ", 1795680000.0),  # naive means UTC
        ("tomorrow", None),
        ("", None),
    ],
)
def test_parse_iso(text, want):
    assert parse_iso(text) == want


@pytest.mark.parametrize(
    ("value", "numeric_text", "want"),
    [
        (1795680000, False, 1795680000.0),
        (1.5, False, 1.5),
        (True, False, None),
        (float("nan"), False, None),
        (10**400, False, None),  # beyond float range: None, not OverflowError
        ("1795680000", False, None),
        ("1795680000", True, 1795680000.0),
        ("inf", True, None),
        ("2026-11-26T08:00:00Z", True, 1795680000.0),
        (None, True, None),
        (["x"], True, None),
    ],
)
def test_parse_time(value, numeric_text, want):
    assert parse_time(value, numeric_text=numeric_text) == want


def test_iso_utc_keeps_the_fraction_and_the_tolerance_is_two_seconds():
    assert iso_utc(1795680000.25) == "2026-11-26T08:00:00.250000Z"
    assert iso_utc(None) is None
    assert BAN_END_TOLERANCE == 2


def test_unique_targets_normalises_and_keeps_the_first_order():
    assert unique_targets([" 192.0.2.1", "::ffff:192.0.2.1", "2001:db8::/32", "192.0.2.1"]) == [
        "192.0.2.1",
        "2001:db8::/32",
    ]
    assert unique_targets([]) == []
    with pytest.raises(ValueError, match=r"10\.0\.0\.300"):
        unique_targets(["10.0.0.1", "10.0.0.300"])
