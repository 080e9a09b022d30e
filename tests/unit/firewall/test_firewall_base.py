"""Address parsing and timeout arithmetic shared by every backend."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mail_bruteforce_guard.addresses import is_canonical_ipv4, normalize_ip
from mail_bruteforce_guard.firewall.base import ban_seconds, normalize_target, parse_target


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("203.0.113.5", "203.0.113.5"),
        ("203.0.113.5/32", "203.0.113.5"),
        ("203.0.113.0/24", "203.0.113.0/24"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("2001:db8:1:2::/64", "2001:db8:1:2::/64"),
        ("2001:db8::1/128", "2001:db8::1"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("::ffff:198.51.100.0/120", "198.51.100.0/24"),
    ],
)
def test_normalize_target(text, canonical):
    assert normalize_target(text) == canonical


@pytest.mark.parametrize(
    "text",
    [
        "",
        " 203.0.113.5",
        "203.0.113.5 ",
        "203.0.113",
        "203.0.113.256",
        "host.example",
        "203.0.113.5:25",
        "203.0.113.0/33",
        "203.0.113.0/-1",
        "203.0.113.0/",
        "203.0.113.0/\uff12\uff14",
        "fe80::1%eth0",
        "2001:db8::/129",
        "::ffff:10.0.0.0/64",
        "1.2.3.4\n",
        "user@203.0.113.5",
    ],
)
def test_invalid_targets_raise(text):
    with pytest.raises(ValueError, match=r"^invalid address"):
        parse_target(text)


@pytest.mark.parametrize("text", ["203.0.113.5/24", "10.1.2.3/8", "2001:db8::1/64"])
def test_host_bits_are_refused_not_widened(text):
    with pytest.raises(ValueError, match=r"^invalid network .* \(host bits set\)$"):
        parse_target(text)


def test_target_spans():
    t = parse_target("10.0.0.0/8")
    assert (t.version, t.first, t.last, t.prefixlen) == (4, 10 << 24, (11 << 24) - 1, 8)
    h = parse_target("2001:db8::1")
    assert (h.version, h.first == h.last, h.prefixlen) == (6, True, 128)


NOW = 1_790_000_000.123456


@pytest.mark.parametrize(
    ("until", "cap", "seconds"),
    [
        (NOW + 3600, 2147483, 3600),  # float noise must not turn 3600 into 3601
        (NOW + 3600.2, 2147483, 3601),  # partial seconds round up: a ban never ends early
        (NOW + 0.01, 2147483, 1),
        (NOW, 2147483, 0),  # expired: 0 means "do not add" (ipset's timeout 0 would be permanent)
        (NOW - 5, 2147483, 0),
        (NOW + 10**9, 2147483, 2147483),  # capped
        (NOW + 2147483, 2147483, 2147483),
        (NOW + 2147484, 2147483, 2147483),
        (float("inf"), 100, 100),
        (float("-inf"), 100, 0),
    ],
)
def test_ban_seconds(until, cap, seconds):
    assert ban_seconds(until, NOW, cap) == seconds


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_ipv4_fast_path_is_ipaddress(value):
    """A canonical IPv4 address (read by inet_aton) parses as ipaddress reads it."""
    text = str(ipaddress.IPv4Address(value))
    assert parse_target(text) == (4, value, value, 32, text)


@settings(max_examples=1000, deadline=None)
@given(
    st.text(st.sampled_from("0123456789./:[]a "), max_size=20)
    | st.integers(0, 2**32 - 1).map(lambda v: str(ipaddress.IPv4Address(v)))
)
def test_canonical_ipv4_test_is_normalize_ip(text):
    """The fast path's test of parse_target is the reference test it replaced."""
    assert is_canonical_ipv4(text) == (":" not in text and "/" not in text and normalize_ip(text) == text)
