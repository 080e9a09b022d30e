"""The never-ban rules."""

from __future__ import annotations

import pytest
from mail_bruteforce_guard.errors import ConfigError
from mail_bruteforce_guard.firewall.guard import Guard

GUARD = Guard(ignore=["10.0.0.0/8", "2001:db8:ffff::/48"], protected=["192.0.2.10", "2001:db8:c0::5"])


@pytest.mark.parametrize(
    ("address", "normalised", "refusal"),
    [
        ("203.0.113.5", "203.0.113.5", None),
        ("203.0.113.0/24", "203.0.113.0/24", None),
        ("2001:db8:1:2::/64", "2001:db8:1:2::/64", None),
        ("::ffff:203.0.113.5", "203.0.113.5", None),
        ("11.0.0.0/8", "11.0.0.0/8", None),
        # the controller, and anything that would cover it
        ("192.0.2.10", "192.0.2.10", "protected (controller address)"),
        ("::ffff:192.0.2.10", "192.0.2.10", "protected (controller address)"),
        ("192.0.2.0/24", "192.0.2.0/24", "contains protected 192.0.2.10 (controller address)"),
        ("192.0.0.0/8", "192.0.0.0/8", "contains protected 192.0.2.10 (controller address)"),
        ("192.0.2.11", "192.0.2.11", None),
        ("2001:db8:c0::5", "2001:db8:c0::5", "protected (controller address)"),
        ("2001:db8:c0::/64", "2001:db8:c0::/64", "contains protected 2001:db8:c0::5 (controller address)"),
        # ignore networks
        ("10.1.2.3", "10.1.2.3", "ignored network 10.0.0.0/8"),
        ("10.200.0.0/16", "10.200.0.0/16", "ignored network 10.0.0.0/8"),
        ("2001:db8:ffff:1::7", "2001:db8:ffff:1::7", "ignored network 2001:db8:ffff::/48"),
        ("2001:db8::/32", "2001:db8::/32", "contains protected 2001:db8:c0::5 (controller address)"),
        # built-in never-ban ranges
        ("127.0.0.1", "127.0.0.1", "loopback"),
        ("127.255.255.254", "127.255.255.254", "loopback"),
        ("::1", "::1", "loopback"),
        ("0.0.0.0", "0.0.0.0", "unspecified address"),
        ("::", "::", "unspecified address"),
        ("224.0.0.251", "224.0.0.251", "multicast"),
        ("ff02::1", "ff02::1", "multicast"),
        ("169.254.169.254", "169.254.169.254", "link-local"),
        ("fe80::1", "fe80::1", "link-local"),
        ("255.255.255.255", "255.255.255.255", "broadcast"),
        ("126.0.0.0/7", "126.0.0.0/7", "contains loopback 127.0.0.0/8"),
        ("0.0.0.0/0", "0.0.0.0/0", "contains protected 192.0.2.10 (controller address)"),
        ("128.0.0.0/1", "128.0.0.0/1", "contains protected 192.0.2.10 (controller address)"),
        ("0.0.0.0/1", "0.0.0.0/1", "contains loopback 127.0.0.0/8"),
        ("8.0.0.0/6", "8.0.0.0/6", "overlaps ignored network 10.0.0.0/8"),
        ("::/0", "::/0", "contains protected 2001:db8:c0::5 (controller address)"),
        ("8000::/1", "8000::/1", "contains multicast ff00::/8"),
        # too broad, though it touches nothing special
        ("128.0.0.0/3", "128.0.0.0/3", "prefix too broad (/3, at most /8 allowed)"),
        ("2400::/6", "2400::/6", "prefix too broad (/6, at most /16 allowed)"),
        # not an address
        ("mail.example.com", "mail.example.com", "invalid address"),
        ("203.0.113.5/24", "203.0.113.5/24", "invalid network (host bits set)"),
    ],
)
def test_guard(address, normalised, refusal):
    verdict = GUARD.check(address)
    assert verdict.address == normalised
    assert verdict.refusal == refusal


def test_ignored_overlap_is_refused():
    guard = Guard(ignore=["203.0.113.128/25"])
    assert guard.check("203.0.113.0/24").refusal == "overlaps ignored network 203.0.113.128/25"
    assert guard.check("203.0.113.0/25").refusal is None


def test_protected_wins_over_ignore_and_loopback_always_applies():
    guard = Guard(ignore=["192.0.2.0/24"], protected=["192.0.2.10"])
    assert guard.check("192.0.2.10").refusal == "protected (controller address)"
    assert Guard().check("127.0.0.1").refusal == "loopback"


def test_a_lone_string_is_a_list_of_one():
    assert Guard(protected="192.0.2.10").check("192.0.2.10").refusal == "protected (controller address)"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ignore": ["10.0.0.0/8", "nonsense"]}, "^ignore: invalid network 'nonsense'"),
        ({"protected": ["192.0.2.300"]}, "^protected: invalid network '192.0.2.300'"),
        ({"protected": None}, "^protected: expected a list"),
    ],
)
def test_bad_lists_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        Guard(**kwargs)
