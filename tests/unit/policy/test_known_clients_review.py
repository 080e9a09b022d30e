"""Known clients under attack (issue 19 review): what ``unban --reset`` and record eviction must forget."""

from __future__ import annotations

import pytest
from mail_bruteforce_guard.parser.events import AUTH_FAILURE, AUTH_SUCCESS, Event
from mail_bruteforce_guard.policy.clients import KnownGood
from mail_bruteforce_guard.policy.config import PolicyConfig
from mail_bruteforce_guard.policy.tracker import Tracker

T0 = 1_790_000_000.0
HOME = "203.0.113.20"
OFFICE = "198.51.100.10"


def fail(t, ip, user, count=1):
    return Event(1, T0 + t, ip, AUTH_FAILURE, "dovecot", "imap", user, count)


def ok(t, ip, user):
    return Event(1, T0 + t, ip, AUTH_SUCCESS, "dovecot", "imap", user)


def alerts(tracker):
    return [(a.username, a.alert) for a in tracker.decide().accounts]


def test_a_reset_forgets_the_stale_failures_the_next_unknown_username_would_turn_into_a_ban():
    tr = Tracker(PolicyConfig())
    tr.feed([ok(0, HOME, "alice@example.com")])
    tr.feed([fail(60 + i * 60, HOME, "alice@example.com") for i in range(100)])  # alice's old laptop
    assert tr.take_new_bans() == []
    assert tr.forget(HOME)  # unban --reset: the admin starts the address afresh
    tr.start_round()
    tr.feed([fail(7000, HOME, "typo@example.com")])  # one unknown username after the reset
    assert tr.take_new_bans() == []  # not the 100 failures from before the reset


def test_a_reset_shared_address_still_alerts_a_compromised_login():
    tr = Tracker(PolicyConfig())
    tr.feed([ok(i, OFFICE, f"u{i}@example.com") for i in range(4)])
    tr.feed([fail(60 + i * 60, OFFICE, "u1@example.com") for i in range(50)])  # u1's stale phone
    assert tr.forget(OFFICE)
    tr.start_round()
    tr.feed([fail(4000 + i, OFFICE, "frank@example.com") for i in range(3)])  # guesses behind the NAT
    tr.feed([ok(4010, OFFICE, "frank@example.com")])  # and gets in
    assert alerts(tr) == [("frank@example.com", "compromised")]


def test_an_evicted_record_does_not_hide_a_compromised_login_behind_its_stale_failures():
    tr = Tracker(PolicyConfig(), max_addresses=20)
    tr.feed([ok(i, OFFICE, f"u{i}@example.com") for i in range(4)])
    tr.feed([fail(60 + i * 60, OFFICE, "u1@example.com") for i in range(50)])
    # a flood of other addresses pushes the office's record out of the bounded memory
    tr.feed([fail(4000 + i, f"192.0.2.{i}", "x@example.com") for i in range(40)])
    tr.prune()
    assert OFFICE not in tr.records
    tr.start_round()
    tr.feed([fail(5000 + i, OFFICE, "frank@example.com") for i in range(3)])
    tr.feed([ok(5010, OFFICE, "frank@example.com")])
    assert alerts(tr) == [("frank@example.com", "compromised")]


def test_one_account_logging_in_from_a_whole_range_does_not_push_the_other_users_out_of_the_memory():
    good = KnownGood(30, cap=100, per_user=10)
    for i in range(60):  # real users, each from its own address, early in the month
        good.remember(f"198.51.100.{i}", f"u{i}@example.com", T0 + i)
    for i in range(500):  # one customer account (the attacker's) logging in from 500 IPv6 addresses
        good.remember(f"2001:db8::{i:x}", "mallory@example.com", T0 + 1000 + i)
    assert good.size <= 100
    assert all(good.knows(f"198.51.100.{i}", f"u{i}@example.com", T0 + 2000) for i in range(60))
    assert good.knows("2001:db8::1f3", "mallory@example.com", T0 + 2000)  # its newest pairs stay


@pytest.mark.parametrize(
    ("logged_in", "failing"),
    [
        ("alice@example.com", "Alice@Example.COM"),  # Dovecot: the login lowercased (%Lu), a failure as typed
        ("Alice@Example.com", "alice@example.com"),  # Postfix's sasl_username= as the client typed it
    ],
)
def test_a_username_known_in_another_case_is_the_same_stale_client(logged_in, failing):
    tr = Tracker(PolicyConfig())
    tr.feed([ok(0, HOME, logged_in)])
    tr.start_round()
    tr.feed([fail(3600 + i * 60, HOME, failing) for i in range(30)])
    assert tr.take_new_bans() == []  # not an unknown username that turns the address into "any other"
    assert len(tr.take_stale_alerts()) == 1
    tr.feed([ok(7200, HOME, failing)])
    assert alerts(tr) == []  # the fixed phone's login: not compromised


def test_a_break_in_does_not_make_the_attackers_address_a_known_one_for_the_victim():
    attacker = "45.33.32.156"
    tr = Tracker(PolicyConfig())
    tr.feed([fail(i * 10, attacker, "frank@example.org") for i in range(4)])
    tr.feed([ok(60, attacker, "frank@example.org")])  # guessed right
    assert alerts(tr) == [("frank@example.org", "compromised")]
    tr.start_round()
    # the admin changes frank's password; the attacker goes on guessing from the same address
    tr.feed([fail(7200 + i * 10, attacker, "frank@example.org") for i in range(5)])
    assert [b.address for b in tr.take_new_bans()] == [attacker]  # the usual windows, not the stale ceiling
    assert tr.take_stale_alerts() == []  # and no "stale client (old password?)" alert hiding it


def test_the_attacker_who_broke_in_does_not_become_known_by_logging_in_again_cleanly():
    attacker = "45.33.32.156"
    tr = Tracker(PolicyConfig())
    tr.feed([fail(i * 10, attacker, "frank@example.org") for i in range(4)])
    tr.feed([ok(60, attacker, "frank@example.org")])  # compromised
    tr.prune(T0 + 2 * 86400)  # its failures are forgotten a day later
    assert not tr.wants_success(attacker, "frank@example.org", T0 + 2 * 86400)  # a clean login, dropped
    tr.feed([ok(2 * 86400 + 10, attacker, "frank@example.org")])
    tr.start_round()
    tr.feed([fail(2 * 86400 + 3600 + i * 10, attacker, "frank@example.org") for i in range(5)])
    assert [b.address for b in tr.take_new_bans()] == [attacker]
