"""addresses: normalisation (brackets, IPv4-mapped IPv6), ignore networks, IPv6 aggregation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mail_bruteforce_guard.addresses import aggregate, is_ignored, normalize_ip, parse_networks
from mail_bruteforce_guard.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.2.3.4", "1.2.3.4"),
        ("[1.2.3.4]", "1.2.3.4"),
        ("::ffff:1.2.3.4", "1.2.3.4"),
        ("::FFFF:203.0.113.5", "203.0.113.5"),
        ("[::ffff:1.2.3.4]", "1.2.3.4"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("::1", "::1"),
        ("255.255.255.255", "255.255.255.255"),
        ("0.0.0.0", "0.0.0.0"),
    ],
)
def test_normalize_valid(text: str, expected: str) -> None:
    assert normalize_ip(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        None,
        "unknown",
        "1.2.3",
        "1.2.3.4.5",
        "256.1.1.1",
        "01.2.3.4",
        "1.2.3.4:25",
        "1.2.3.4 ",
        " 1.2.3.4",
        "1.2.3.4/32",
        "fe80::1%eth0",
        "2001:db8::1::2",
        "[1.2.3.4",
        "1.2.3.4]",
        "[]",
        "1.2.3.-4",
        "1.2.3.4\x00",
        "\u0661.\u0662.\u0663.\u0664",
        "x" * 100,
        "gggg::1",
        "1.2.3.4\n",
    ],
)
def test_normalize_invalid(text: str | None) -> None:
    assert normalize_ip(text) is None


def test_normalize_is_cached_and_stable() -> None:
    for _ in range(3):
        assert normalize_ip("::ffff:10.0.0.1") == "10.0.0.1"
        assert normalize_ip("999.0.0.1") is None


def test_parse_networks_and_ignore() -> None:
    nets = parse_networks(["10.0.0.0/8", "192.0.2.7", " 2001:db8::/32 ", "::ffff:198.51.100.0/120"])
    assert [str(n) for n in nets] == ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "198.51.100.0/24"]
    assert is_ignored("10.1.2.3", nets)
    assert is_ignored("192.0.2.7", nets)
    assert not is_ignored("192.0.2.8", nets)
    assert is_ignored("2001:db8:5::1", nets)
    assert is_ignored("198.51.100.9", nets)
    assert is_ignored("::ffff:10.9.9.9", nets)
    assert not is_ignored("2001:db9::1", nets)
    assert is_ignored("127.0.0.1", [])  # loopback always
    assert is_ignored("::1", [])
    assert not is_ignored("not-an-ip", nets)
    assert is_ignored("2001:db8:1:2::/64", nets)  # an aggregated block inside an ignored network
    assert not is_ignored("2001:db9:1:2::/64", nets)


@pytest.mark.parametrize("bad", [["10.0.0.0/33"], ["nonsense"], [42], "10.0.0.0/8", ["1.2.3.4/8/8"]])
def test_parse_networks_rejects_with_one_line(bad: object) -> None:
    with pytest.raises(ConfigError) as err:
        parse_networks(bad)  # type: ignore[arg-type]
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("ip", "prefix", "expected"),
    [
        ("2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64"),
        ("2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::/48"),
        ("2001:db8:1:2:3:4:5:6", 128, "2001:db8:1:2:3:4:5:6"),
        ("1.2.3.4", 64, "1.2.3.4"),
        ("::ffff:1.2.3.4", 64, "1.2.3.4"),
    ],
)
def test_aggregate(ip: str, prefix: int, expected: str) -> None:
    assert aggregate(ip, prefix) == expected


def test_aggregate_leaves_non_addresses_alone() -> None:
    assert aggregate("2001:db8:1:2::/64", 64) == "2001:db8:1:2::/64"
    assert aggregate("garbage:x", 64) == "garbage:x"


def test_aggregate_rejects_bad_prefix() -> None:
    with pytest.raises(ConfigError):
        aggregate("2001:db8::1", 129)


def _reference_v4(text: str) -> str | None:
    """The dotted-quad rule spelled out: four ASCII decimal parts 0-255, no leading zeros."""
    parts = text.split(".")
    if len(parts) != 4:
        return None
    for part in parts:
        if not part or len(part) > 3 or not part.isdigit() or (part[0] == "0" and len(part) > 1):
            return None
        if int(part) > 255:
            return None
    return text


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(["0", "1", "9", "25", "255", "256", "00", "01", "199", "2", "5", "6", "."]),
                max_size=12))  # fmt: skip
def test_normalize_ipv4_agrees_with_the_reference(parts: list) -> None:
    text = "".join(parts)
    expected = _reference_v4(text) if text else None
    assert normalize_ip(text) == expected
