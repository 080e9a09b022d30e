"""Known clients (issue 19): the known-good memory, stale clients, shared addresses and pre-auth abuse, on
unit events and on the labelled three-day log of tests/bench/known_clients_log.py."""

from __future__ import annotations

import json
from pathlib import Path

import known_clients_log as kc
import pytest
from mail_bruteforce_guard.detector import api
from mail_bruteforce_guard.detector.config import Config
from mail_bruteforce_guard.detector.pipeline import HOLD, Pipeline
from mail_bruteforce_guard.errors import ConfigError
from mail_bruteforce_guard.parser.events import (
    AUTH_FAILURE,
    AUTH_SUCCESS,
    NO_AUTH_ATTEMPTS,
    PLAINTEXT_REFUSED,
    Event,
)
from mail_bruteforce_guard.policy.clients import KnownGood
from mail_bruteforce_guard.policy.config import PolicyConfig
from mail_bruteforce_guard.policy.tracker import Tracker

T0 = 1_790_000_000.0
HOME = "203.0.113.20"
OFFICE = "198.51.100.10"


def fail(t, ip=HOME, user="dave@example.net", count=1):
    return Event(1, T0 + t, ip, AUTH_FAILURE, "dovecot", "imap", user, count)


def ok(t, ip=HOME, user="dave@example.net"):
    return Event(1, T0 + t, ip, AUTH_SUCCESS, "dovecot", "imap", user)


def pre(t, ip="185.220.101.5", kind=PLAINTEXT_REFUSED):
    return Event(1, T0 + t, ip, kind, "dovecot", "pop3", None, 0)


def offender(tracker, ip=HOME):
    found = [o for o in tracker.decide(everything=True).offenders if o.ip == ip]
    return found[0] if found else None


def office(tracker, users=5, t=0):
    tracker.feed([ok(t + i, OFFICE, f"u{i}@example.com") for i in range(users)])


# ---- stale clients -------------------------------------------------------------------------------------


def test_a_known_users_old_password_counts_toward_the_stale_ceiling_only():
    tr = Tracker(PolicyConfig())
    tr.feed([ok(0)])
    tr.start_round()
    tr.feed([fail(3600 + i * 30) for i in range(30)])  # 30 failures in 15 minutes: 5 in 10m would ban
    assert tr.take_new_bans() == []
    off = offender(tr)
    assert (off.decision, off.failures) == ("watch", 30)
    assert off.reason.startswith("stale client: dave@example.net (30 since ")
    alerts = tr.take_stale_alerts()
    assert [(a.username, a.ip, a.failures) for a in alerts] == [("dave@example.net", HOME, 30)]
    assert tr.take_stale_alerts() == []  # one alert per user and address
    tr.feed([ok(7200)])  # fixed: not compromised
    decisions = tr.decide(everything=True)
    assert decisions.accounts == []
    assert [(s.username, s.failures, s.resolved is not None) for s in decisions.stale_clients] == [
        ("dave@example.net", 30, True)
    ]


def test_the_stale_ceiling_bans_and_says_so():
    tr = Tracker(PolicyConfig(stale_maxretry=40))
    tr.feed([ok(0)] + [fail(60 + i * 60) for i in range(39)])
    assert tr.take_new_bans() == []
    tr.feed([fail(60 + 39 * 60)])
    bans = tr.take_new_bans()
    assert [b.address for b in bans] == [HOME]
    assert "40 failures in 39m (stale client ceiling, dovecot)" in bans[0].reason


def test_stale_failures_leave_the_ceiling_window_after_stale_findtime():
    tr = Tracker(PolicyConfig(stale_maxretry=10, stale_findtime=3600))
    tr.feed([ok(0)] + [fail(60 + i * 600) for i in range(30)])  # 6 an hour, 30 in five hours
    assert tr.take_new_bans() == []


def test_a_personal_address_failing_for_another_username_is_judged_as_any_other():
    tr = Tracker(PolicyConfig())
    tr.feed([ok(0)] + [fail(3600 + i * 30) for i in range(3)])
    assert tr.take_new_bans() == []
    # two failures for unknown usernames: with the earlier three stale ones, 5 in 10 minutes
    tr.feed([fail(3700, user="admin@example.net"), fail(3710, user="root@example.net")])
    bans = tr.take_new_bans()
    assert [b.address for b in bans] == [HOME]
    assert "5 failures in " in bans[0].reason
    assert tr.decide(everything=True).stale_clients == []  # no longer a stale client's


def test_after_another_username_the_known_users_failures_count_as_usual_too():
    tr = Tracker(PolicyConfig())
    tr.feed([ok(0), fail(3600, user="admin@example.net")])
    tr.feed([fail(3700 + i * 10) for i in range(4)])
    assert [b.address for b in tr.take_new_bans()] == [HOME]


def test_userless_failures_count_as_usual_and_change_nothing_else():
    tr = Tracker(PolicyConfig())
    tr.feed([ok(0)] + [fail(3600 + i * 10, user=None) for i in range(4)])
    tr.feed([fail(3700 + i * 10) for i in range(10)])  # still the known user's: stale
    assert tr.take_new_bans() == []
    tr.feed([fail(3900, user=None)])
    assert [b.address for b in tr.take_new_bans()] == [HOME]  # the fifth userless failure


def test_the_memory_forgets_after_known_good_days():
    tr = Tracker(PolicyConfig(known_good_days=1))
    tr.feed([ok(0)] + [fail(2 * 86400 + i * 10) for i in range(5)])
    assert [b.address for b in tr.take_new_bans()] == [HOME]


def test_known_good_days_zero_switches_it_all_off():
    tr = Tracker(PolicyConfig(known_good_days=0))
    tr.feed([ok(0)] + [fail(60 + i * 10) for i in range(5)])
    assert [b.address for b in tr.take_new_bans()] == [HOME]
    assert tr.decide(everything=True).stale_clients == []


def test_stale_maxretry_zero_counts_known_users_failures_as_usual():
    tr = Tracker(PolicyConfig(stale_maxretry=0))
    tr.feed([ok(0)] + [fail(60 + i * 10) for i in range(5)])
    assert [b.address for b in tr.take_new_bans()] == [HOME]


def test_a_login_after_failures_from_a_new_address_is_still_compromised():
    tr = Tracker(PolicyConfig())
    tr.feed([fail(i * 10, ip="45.33.32.156", user="frank@example.org") for i in range(4)])
    tr.feed([ok(60, ip="45.33.32.156", user="frank@example.org")])
    assert [(a.username, a.alert) for a in tr.decide().accounts] == [("frank@example.org", "compromised")]


# ---- shared addresses ----------------------------------------------------------------------------------


def test_on_a_shared_address_an_attacker_is_caught_and_the_users_are_not():
    tr = Tracker(PolicyConfig())
    office(tr)
    tr.feed([fail(100 + i * 20, OFFICE, "u1@example.com") for i in range(20)])  # u1's phone
    tr.feed([fail(110, OFFICE, "u2@example.com"), fail(130, OFFICE, "u2@example.com")])  # u2's typos
    assert tr.take_new_bans() == []
    tr.feed([fail(600 + i * 10, OFFICE, f"guess{i}@example.com") for i in range(4)])  # unknown usernames
    assert tr.take_new_bans() == []  # 4: the usual threshold, with no help from u1's and u2's failures
    tr.feed([fail(700 + i * 10, OFFICE, "u3@example.com") for i in range(5)])  # still stale: shared
    assert tr.take_new_bans() == []
    tr.feed([fail(800, OFFICE, "guess9@example.com")])
    bans = tr.take_new_bans()
    assert [b.address for b in bans] == [OFFICE]
    assert "shared address (5 users log in from it)" in bans[0].reason
    shared = tr.decide(everything=True).shared
    assert [(s.ip, s.users) for s in shared] == [(OFFICE, 5)]


def test_below_shared_min_users_an_address_is_personal():
    tr = Tracker(PolicyConfig(shared_min_users=6))
    office(tr)
    tr.feed(
        [fail(100, OFFICE, "guess@example.com")] + [fail(110 + i, OFFICE, "u1@example.com") for i in range(4)]
    )
    assert [b.address for b in tr.take_new_bans()] == [OFFICE]  # personal: judged as any other


def test_a_known_users_login_after_an_attack_on_the_shared_address_is_not_compromised():
    tr = Tracker(PolicyConfig(maxretry=50))
    office(tr)
    tr.feed([fail(100 + i, OFFICE, f"guess{i}@example.com") for i in range(10)])
    tr.feed([ok(200, OFFICE, "u1@example.com")])
    assert tr.decide().accounts == []
    tr.feed([ok(300, OFFICE, "newcomer@example.com")])  # never logged in from there: alerted
    assert [(a.username, a.alert) for a in tr.decide().accounts] == [("newcomer@example.com", "compromised")]


def test_a_protected_shared_address_is_reported_not_banned():
    tr = Tracker(PolicyConfig(protected=(OFFICE + "/32",)))
    office(tr)
    tr.feed([fail(100 + i, OFFICE, f"guess{i}@example.com") for i in range(10)])
    assert tr.take_new_bans() == []
    assert offender(tr, OFFICE).decision == "watch"


# ---- pre-auth abuse ----------------------------------------------------------------------------------------


def test_preauth_abuse_bans_at_its_own_threshold():
    tr = Tracker(PolicyConfig())
    tr.feed([pre(i * 10) for i in range(19)])
    assert tr.take_new_bans() == []
    tr.feed([pre(190, kind=NO_AUTH_ATTEMPTS)])
    bans = tr.take_new_bans()
    assert [b.address for b in bans] == ["185.220.101.5"]
    assert bans[0].reason == (
        "20 pre-auth connections (no auth attempts, plaintext auth refused) in 3m (dovecot)"
    )
    off = offender(tr, "185.220.101.5")
    assert (off.decision, off.failures) == ("ban", 0)


def test_preauth_is_never_counted_for_a_known_good_ignored_or_protected_address():
    tr = Tracker(PolicyConfig(ignore=("10.0.0.0/8",), protected=("192.0.2.7",)))
    tr.feed([ok(0, "185.220.101.5")])
    for ip in ("185.220.101.5", "10.1.2.3", "192.0.2.7"):
        tr.feed([pre(i, ip) for i in range(100)])
    assert tr.take_new_bans() == []


def test_preauth_outside_its_window_does_not_add_up():
    tr = Tracker(PolicyConfig())
    tr.feed([pre(i * 60) for i in range(100)])  # one a minute: 10 in 10 minutes
    assert tr.take_new_bans() == []
    off = Tracker(PolicyConfig(preauth_maxretry=0))
    off.feed([pre(i) for i in range(100)])
    assert off.take_new_bans() == []


# ---- config --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("known_good_days", -1, "must be >= 0"),
        ("known_good_days", 4000, "must be <= 3650"),
        ("stale_maxretry", "200", "must be an integer"),
        ("stale_findtime", 0, "must be >= 1"),
        ("shared_min_users", True, "must be an integer"),
        ("preauth_maxretry", -5, "must be >= 0"),
        ("preauth_findtime", 0, "must be >= 1"),
    ],
)
def test_bad_settings_are_one_line_errors(key, value, message):
    with pytest.raises(ConfigError, match=message):
        PolicyConfig.from_mapping({key: value})
    with pytest.raises(ConfigError, match=key):
        Config({key: value})


# ---- memory: bounded, saved, loaded defensively --------------------------------------------------------


def test_the_memory_is_bounded_dropping_the_least_recently_seen():
    good = KnownGood(30, cap=100)
    for i in range(150):
        good.remember(f"198.51.100.{i}", "u@example.com", T0 + i)
    assert good.size <= 100
    assert good.knows("198.51.100.149", "u@example.com", T0 + 200)
    assert not good.knows("198.51.100.0", "u@example.com", T0 + 200)


def test_the_memory_survives_a_restart_and_damaged_entries_are_dropped_one_by_one():
    tr = Tracker(PolicyConfig())
    tr.feed([ok(0), ok(1, OFFICE, "alice@example.com"), fail(10)])
    state = json.loads(json.dumps(tr.to_state()))
    state["clients"]["known_good"]["192.0.2.99"] = {"x@example.com": "yesterday", "y@example.com": True}
    state["clients"]["known_good"]["192.0.2.98"] = ["not", "a", "mapping"]
    state["clients"]["stale"]["192.0.2.97"] = {"z@example.com": [1, 2]}
    state["clients"]["stale_windows"]["192.0.2.96"] = [1.0, "x"]
    state["preauth"] = {"192.0.2.95": [1.0, None], "192.0.2.94": [T0 + 5, 1]}
    again = Tracker(PolicyConfig())
    again.load_state(state)
    assert again.clients.good.knows(HOME, "dave@example.net", T0 + 100)
    assert again.clients.good.knows(OFFICE, "alice@example.com", T0 + 100)
    assert set(again.clients.good.by_key) == {HOME, OFFICE}
    assert set(again.clients.stale) == {HOME}
    assert set(again.preauth.windows) == {"192.0.2.94"}
    again.feed([fail(100 + i) for i in range(10)])
    assert again.take_new_bans() == []  # still the known user's stale client
    for damaged in (None, [], "x", {"known_good": 5, "stale": [1], "other": {"a": "b"}}):
        fresh = Tracker(PolicyConfig())
        fresh.load_state({"clients": damaged, "preauth": damaged})
        assert fresh.clients.good.by_key == {}


def test_dropped_logins_still_reach_the_memory():
    """``wants_success`` (the pipeline's success policy) notes a login it drops."""
    tr = Tracker(PolicyConfig())
    assert not tr.wants_success(HOME, "dave@example.net", T0)
    assert tr.clients.good.knows(HOME, "dave@example.net", T0 + 1)
    # an address with failures: the login goes on (a compromised alert may follow), remembered by _success
    tr.feed([fail(i, "45.33.32.156", "frank@example.org") for i in range(3)])
    assert tr.wants_success("45.33.32.156", "frank@example.org", T0 + 10)
    # a known user's login never raises the alert: dropped
    tr.feed([fail(20 + i, HOME, "guess@example.net") for i in range(3)])
    assert not tr.wants_success(HOME, "dave@example.net", T0 + 30)


# ---- the labelled log ----------------------------------------------------------------------------------


def scan_log(tmp_path: Path, dovecot: str = "2.3", **settings) -> tuple:
    log = tmp_path / "known.log"
    log.write_text("".join(kc.build(dovecot=dovecot)))
    cfg = Config({"logs": [str(log)], "state_dir": str(tmp_path / "state"), "syslog": False, **settings})
    result = api.scan(cfg, from_start=True, dry_run=True, now=kc.NOW, warn=lambda _msg: None)
    return result, cfg


@pytest.mark.parametrize("dovecot", ["2.3", "2.4"])
def test_the_labelled_log_decides_as_labelled(tmp_path: Path, dovecot: str) -> None:
    """Also in Dovecot 2.4's wording (Debian 13): its "Logged in" lines teach the known clients."""
    result, _ = scan_log(tmp_path, dovecot)
    decisions = {o["ip"]: o["decision"] for o in result["offenders"]}
    assert {ip: decisions.get(ip) for ip in kc.LABELS} == kc.LABELS
    assert [ip for ip, d in decisions.items() if d == "ban"] == [
        ip for ip in decisions if kc.LABELS.get(ip) == "ban"
    ]
    assert {a["username"] for a in result["accounts"] if a["alert"] == "compromised"} == kc.COMPROMISED
    reasons = {o["ip"]: o["reason"] for o in result["offenders"]}
    assert "shared address (12 users log in from it)" in reasons[kc.OFFICE]
    assert reasons[kc.HOME].startswith("stale client: dave@example.net (30 since ")
    assert "pre-auth connections (plaintext auth refused)" in reasons[kc.BOT]
    stale = {(s["username"], s["ip"]): s for s in result["stale_clients"]}
    assert stale[("bob@example.com", kc.OFFICE)]["failures"] == 72
    assert stale[("bob@example.com", kc.OFFICE)]["shared"] is True
    assert stale[("dave@example.net", kc.HOME)]["since"].startswith("2026-12-01T10:00")
    assert [s["ip"] for s in result["shared_addresses"]] == [kc.OFFICE]


@pytest.mark.parametrize("dovecot", ["2.3", "2.4"])
def test_the_labelled_log_raises_one_stale_alert_per_user_and_address(dovecot: str) -> None:
    tr = Tracker(PolicyConfig())
    pipeline = Pipeline(None, now=kc.NOW, success_policy=tr.wants_success, preauth=True)
    lines = kc.build(dovecot=dovecot)
    alerts = []
    for first in range(0, len(lines), 50):  # a scan every 50 lines
        tr.start_round()
        tr.feed(pipeline.feed_batch(first + 1, lines[first : first + 50]))
        alerts += tr.take_stale_alerts()
    tr.feed(pipeline.flush(kc.NOW - HOLD))
    alerts += tr.take_stale_alerts()
    assert sorted((a.username, a.ip) for a in alerts) == sorted(kc.STALE)
    message = api.stale_message(alerts[0])
    assert message.endswith(
        f"alert=stale_client user={alerts[0].username} address={alerts[0].ip} failures=5 "
        f"since={alerts[0].since} shared={'yes' if alerts[0].shared else 'no'}"
    )


def test_the_old_policy_bans_the_users_on_the_labelled_log(tmp_path: Path) -> None:
    """The measurement behind docs/policy.md: without the memory the office and the home address are banned
    and every office user's next login is a false ``compromised``; the pre-auth bot goes free."""
    result, _ = scan_log(tmp_path, known_good_days=0, preauth_maxretry=0)
    decisions = {o["ip"]: o["decision"] for o in result["offenders"]}
    assert decisions[kc.HOME] == "ban" and decisions[kc.OFFICE] == "ban"
    assert kc.BOT not in decisions
    compromised = {a["username"] for a in result["accounts"] if a["alert"] == "compromised"}
    assert len(compromised) == 14 and compromised > kc.COMPROMISED


def test_the_labelled_log_decides_the_same_in_incremental_scans(tmp_path: Path) -> None:
    lines = kc.build()
    log = tmp_path / "known.log"
    log.write_text("")
    cfg = Config(
        {"logs": [str(log)], "state_dir": str(tmp_path / "state"), "syslog": False, "mode": "monitor"}
    )
    bans, shown, reported = set(), set(), set()
    for first in range(0, len(lines), 97):
        with log.open("a") as fh:
            fh.write("".join(lines[first : first + 97]))
        result = api.scan(cfg, now=kc.NOW, warn=lambda _msg: None)
        bans |= {o["ip"] for o in result["offenders"] if o["decision"] == "ban"}
        # status and report show what the saved memory holds (an entry quiet for stale_findtime is forgotten)
        shown |= {(s["username"], s["ip"]) for s in api.status(cfg, now=kc.NOW)["stale_clients"]}
        reported |= {(s["username"], s["ip"]) for s in api.report(cfg, now=kc.NOW)["stale_clients"]}
    assert bans == {ip for ip, d in kc.LABELS.items() if d == "ban"}
    assert shown == reported == kc.STALE | {("carol@example.com", kc.OFFICE)}


def test_the_labelled_log_is_the_same_for_a_seed() -> None:
    assert kc.build(19) == kc.build(19)
    assert len(kc.build(19)) > 500
