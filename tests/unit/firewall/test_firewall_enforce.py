"""Enforcer logic that needs no firewall: refusals, expiry, dry runs, messages.

The backend here is the real IpsetBackend pointed at a binary that does not exist: any call that reached
ipset would raise FirewallError, so a test passing without one proves nothing was sent to the firewall.
"""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mail_bruteforce_guard.firewall.base import Ban, FirewallError
from mail_bruteforce_guard.firewall.enforce import (
    _CONTROL,
    Enforcer,
    EnforceResult,
    Refusal,
    ban_message,
    clean_reason,
    refusal_message,
)
from mail_bruteforce_guard.firewall.ipset import IpsetBackend

NOW = 1_790_000_000.0
CONTROLLER = "192.0.2.10"


def unreachable_backend() -> IpsetBackend:
    return IpsetBackend(command=("/nonexistent/mbg-test/ipset",))


def enforcer(**kwargs) -> Enforcer:
    return Enforcer(unreachable_backend(), ignore=["10.0.0.0/8"], protected=[CONTROLLER], **kwargs)


def test_the_unreachable_backend_really_fails():
    with pytest.raises(FirewallError, match="not found: install the ipset package"):
        enforcer(use_syslog=False).ban([Ban("203.0.113.5", NOW + 60, "r")], NOW)


def test_refused_and_expired_requests_never_reach_the_backend():
    bans = [
        Ban(CONTROLLER, NOW + 3600, "r"),
        Ban("10.1.1.1", NOW + 3600, "r"),
        Ban("::1", NOW + 3600, "r"),
        Ban("203.0.113.0/24", NOW - 1, "expired"),
        Ban("203.0.113.7", NOW, "expires now"),
    ]
    result = enforcer(use_syslog=False).ban(bans, NOW)
    assert not result.changed
    assert result.refused == (
        Refusal(CONTROLLER, "protected (controller address)"),
        Refusal("10.1.1.1", "ignored network 10.0.0.0/8"),
        Refusal("::1", "loopback"),
    )
    assert [b.address for b in result.expired] == ["203.0.113.0/24", "203.0.113.7"]
    assert result.messages == (
        f"refused to ban {CONTROLLER}: protected (controller address)",
        "refused to ban 10.1.1.1: ignored network 10.0.0.0/8",
        "refused to ban ::1: loopback",
    )


def test_dry_run_computes_without_a_firewall():
    bans = [
        Ban("203.0.113.5", NOW + 3600, "12 SASL failures in 240s (postfix, dovecot); users info@example.com"),
        Ban("::ffff:203.0.113.5", NOW + 7200, "same address, later expiry wins"),
        Ban("2001:db8::/64", NOW + 10**9, "long"),
        Ban(CONTROLLER, NOW + 60, "r"),
    ]
    result = enforcer(dry_run=True).ban(bans, NOW)
    assert result.dry_run and result.changed
    assert result.added == (
        Ban("203.0.113.5", NOW + 7200, "same address, later expiry wins"),
        Ban("2001:db8::/64", NOW + 10**9, "long"),
    )
    assert result.messages == (
        f"refused to ban {CONTROLLER}: protected (controller address)",
        "ban 203.0.113.5 for 7200s: same address, later expiry wins",
        "ban 2001:db8::/64 for 2147483s: long",
    )
    unban = enforcer(dry_run=True).unban(["203.0.113.5", "junk"])
    assert unban.removed == () and unban.refused == (Refusal("junk", "invalid address"),)
    assert enforcer(dry_run=True).restore(bans, NOW).added == result.added


def test_result_as_dict_is_json_ready():
    result = enforcer(dry_run=True).ban([Ban("203.0.113.5", NOW + 60, "r"), Ban("127.0.0.1", NOW, "r")], NOW)
    data = json.loads(json.dumps(result.as_dict()))
    assert data == {
        "changed": True,
        "dry_run": True,
        "added": [{"address": "203.0.113.5", "until": NOW + 60, "reason": "r"}],
        "refused": [{"address": "127.0.0.1", "reason": "loopback"}],
        "removed": [],
        "unchanged": [],
        "expired": [],
        "messages": ["refused to ban 127.0.0.1: loopback", "ban 203.0.113.5 for 60s: r"],
    }
    assert not EnforceResult().changed


@pytest.mark.parametrize(
    ("reason", "cleaned"),
    [
        ("12 SASL failures in 240s (postfix, dovecot)", "12 SASL failures in 240s (postfix, dovecot)"),
        ("users a\nb", "users a b"),  # an attacker-chosen username cannot start a fake log line
        ("users a\r\n\tb", "users a b"),
        ("x\x00y\x1b[31mz\x7f", "x?y?[31mz?"),
        ("é ü 用户", "é ü 用户"),
        ("  padded  ", "padded"),
        ("a" * 500, "a" * 397 + "..."),
    ],
)
def test_clean_reason(reason, cleaned):
    assert clean_reason(reason) == cleaned


def test_message_formats():
    assert (
        ban_message("203.0.113.5", 3600, "12 SASL failures") == "ban 203.0.113.5 for 3600s: 12 SASL failures"
    )
    assert ban_message("203.0.113.5", 60, "") == "ban 203.0.113.5 for 60s"
    assert refusal_message("bad\naddr", "invalid address") == "refused to ban bad addr: invalid address"


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=60) | st.text(st.characters(max_codepoint=0x7F), max_size=60))
def test_clean_reason_fast_path_is_the_substitutions(reason):
    """A printable ASCII reason skips the two substitutions: any reason comes out as they make it."""
    text = _CONTROL.sub("?", re.sub(r"[\t\n\r]+", " ", reason)).strip()
    assert clean_reason(reason) == (text if len(text) <= 400 else text[:397] + "...")
