"""Policy: fast and slow windows, escalation, alerts, ignore/protected, IPv6 aggregation, bounded memory."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mail_bruteforce_guard.errors import ConfigError
from mail_bruteforce_guard.parser.events import AUTH_FAILURE, AUTH_SUCCESS, Event
from mail_bruteforce_guard.policy.config import PolicyConfig
from mail_bruteforce_guard.policy.tracker import SAVED_FIELDS, Tracker

T0 = 1_790_000_000.0  # 2026-09-21


def fail(t, ip="203.0.113.5", user="info@example.com", service="postfix", count=1):
    return Event(1, T0 + t, ip, AUTH_FAILURE, service, "smtp", user, count)


def ok(t, ip="203.0.113.5", user="info@example.com"):
    return Event(1, T0 + t, ip, AUTH_SUCCESS, "dovecot", "imap", user)


def offender(tracker, ip="203.0.113.5", everything=False):
    found = [o for o in tracker.decide(everything=everything).offenders if o.ip == ip]
    return found[0] if found else None


def test_fast_window_bans_at_maxretry_within_findtime():
    tr = Tracker(PolicyConfig())
    tr.feed([fail(i * 60) for i in range(4)])
    assert offender(tr).decision == "watch"
    assert tr.take_new_bans() == []
    tr.feed([fail(240)])
    off = offender(tr)
    assert off.decision == "ban"
    assert off.failures == 5
    bans = tr.take_new_bans()
    assert [(b.address, b.until - T0, b.count) for b in bans] == [("203.0.113.5", 240 + 3600, 1)]
    assert "5 failures in 4m (postfix)" in off.reason
    assert "info@example.com" in off.reason


def test_failures_spread_beyond_findtime_only_watch():
    cfg = PolicyConfig(slow_maxretry=0)
    tr = Tracker(cfg)
    tr.feed([fail(i * 200) for i in range(30)])  # 3 per 600 s at most
    assert offender(tr).decision == "watch"
    assert offender(tr).failures == 30
    assert tr.take_new_bans() == []


def test_slow_window_catches_one_try_every_few_minutes():
    tr = Tracker(PolicyConfig())
    tr.feed([fail(i * 300) for i in range(19)])
    assert offender(tr).decision == "watch"
    tr.feed([fail(19 * 300)])
    off = offender(tr)
    assert off.decision == "ban"
    assert "slow window" in off.reason
    assert "20 failures in 95m" in off.reason


def test_count_weights_failures():
    tr = Tracker(PolicyConfig())
    tr.feed([fail(0, service="dovecot", count=3), fail(5, count=2)])
    off = offender(tr)
    assert off.failures == 5
    assert off.decision == "ban"
    assert off.services == ["dovecot", "postfix"]


def test_escalation_doubles_and_is_capped():
    cfg = PolicyConfig(bantime=3600, bantime_multiplier=2, bantime_max=4 * 3600)
    tr = Tracker(cfg)
    durations = []
    t = 0
    for _ in range(5):
        tr.feed([fail(t + i) for i in range(5)])
        (ban,) = tr.take_new_bans()
        durations.append(ban.until - (T0 + t + 4))
        t = ban.until - T0 + 1  # the attacker returns once the ban has expired
    assert durations == [3600, 7200, 14400, 14400, 14400]
    assert offender(tr, everything=True).bans == 5
    assert "repeat offender, ban #5" in offender(tr, everything=True).reason


def test_failures_during_ban_do_not_start_another_ban():
    tr = Tracker(PolicyConfig())
    tr.feed([fail(i) for i in range(5)])
    assert len(tr.take_new_bans()) == 1
    tr.feed([fail(100 + i) for i in range(50)])  # replayed log: the firewall was not there
    assert tr.take_new_bans() == []
    off = offender(tr)
    assert off.decision == "ban"
    assert off.failures == 55


def test_expired_ban_reports_watch_for_new_activity_only():
    tr = Tracker(PolicyConfig())
    tr.feed([fail(i) for i in range(5)])
    tr.start_round()
    tr.feed([fail(7200), fail(7201)])  # after the 1 h ban: below threshold again
    off = offender(tr)
    assert off.decision == "watch"
    assert off.ban_until is None
    assert off.bans == 1


def test_ban_stays_ban_in_report_though_expired():
    tr = Tracker(PolicyConfig())
    tr.feed([fail(i) for i in range(5)])
    (off,) = tr.decide(T0 + 30 * 86400).offenders  # a month later: the ban has long ended
    assert off.decision == "ban"
    assert off.ban_until == "2026-09-21T15:13:24Z"


def test_targeted_alert_for_distributed_attack():
    tr = Tracker(PolicyConfig())
    tr.feed([fail(i * 60, ip=f"198.51.100.{i}", user="ceo@example.com") for i in range(4)])
    assert tr.decide().accounts == []
    tr.feed([fail(300, ip="198.51.100.99", user="ceo@example.com")])
    (alert,) = tr.decide().accounts
    assert alert.username == "ceo@example.com"
    assert alert.alert == "targeted"
    assert len(alert.ips) == 5
    assert all(o.decision == "watch" for o in tr.decide().offenders)


def test_targeted_needs_addresses_within_the_hour():
    tr = Tracker(PolicyConfig())
    tr.feed([fail(i * 1000, ip=f"198.51.100.{i}", user="ceo@example.com") for i in range(10)])
    assert tr.decide().accounts == []


def test_compromised_after_failures_then_success():
    tr = Tracker(PolicyConfig())
    tr.feed([fail(0, user="a@example.com"), fail(10, user="b@example.com"), fail(20)])
    tr.feed([ok(30, user="b@example.com")])
    (alert,) = tr.decide().accounts
    assert alert == ("b@example.com", "compromised", ["203.0.113.5"])


def test_success_after_few_failures_is_no_alert():
    tr = Tracker(PolicyConfig())
    tr.feed([fail(0), fail(10), ok(20), ok(30, ip="192.0.2.77")])
    assert tr.decide().accounts == []


def test_wants_success_only_where_a_compromised_alert_can_follow():
    """The correlator drops logins the policy says it cannot use; the answer must never miss an alert."""
    tr = Tracker(PolicyConfig())
    assert not tr.wants_success("203.0.113.5")  # no failure at all
    tr.feed([fail(0), fail(10)])
    assert not tr.wants_success("203.0.113.5")  # 2 failures, the alert needs 3
    tr.feed([fail(20)])
    assert tr.wants_success("203.0.113.5")
    tr.feed([ok(30)])
    assert tr.decide().accounts  # and the login it wanted raises the alert
    assert not Tracker(PolicyConfig(compromised_min_failures=0)).wants_success("203.0.113.5")  # alert off
    # an IPv6 prefix gathers failures from other addresses, maybe still on their way: always wanted
    v6 = Tracker(PolicyConfig(ipv6_prefix=64))
    assert v6.wants_success("2001:db8::1") and not v6.wants_success("192.0.2.1")
    # a saved record not read yet counts as failing
    saved = Tracker(PolicyConfig())
    saved.load_state(json.loads(json.dumps(tr.to_state())))
    assert saved.wants_success("203.0.113.5") and not saved.wants_success("192.0.2.1")


def test_ignore_networks_and_loopback_reported_never_banned():
    tr = Tracker(PolicyConfig(ignore=("10.0.0.0/8",)))
    tr.feed([fail(i, ip="10.1.2.3") for i in range(50)] + [fail(i, ip="127.0.0.1") for i in range(50)])
    tr.feed([fail(i, ip="::1") for i in range(50)])
    assert tr.take_new_bans() == []
    offs = {o.ip: o for o in tr.decide().offenders}
    assert {o.decision for o in offs.values()} == {"ignored"}
    assert set(offs) == {"10.1.2.3", "127.0.0.1", "::1"}
    assert offs["10.1.2.3"].failures == 50


def test_protected_never_banned_nor_reported_ignored():
    tr = Tracker(PolicyConfig(protected=("192.0.2.10",)))
    tr.feed([fail(i, ip="192.0.2.10") for i in range(50)])
    assert tr.take_new_bans() == []
    off = offender(tr, "192.0.2.10")
    assert off.decision == "watch"
    assert "protected" in off.reason


def test_ipv6_aggregation_by_prefix():
    tr = Tracker(PolicyConfig(ipv6_prefix=64))
    tr.feed([fail(i, ip=f"2001:db8:1:2::{i + 1:x}") for i in range(5)])
    (ban,) = tr.take_new_bans()
    assert ban.address == "2001:db8:1:2::/64"
    assert offender(tr, "2001:db8:1:2::/64").failures == 5


def test_ipv6_without_aggregation_counts_each_address():
    tr = Tracker(PolicyConfig())
    tr.feed([fail(i, ip=f"2001:db8:1:2::{i + 1:x}") for i in range(5)])
    assert tr.take_new_bans() == []
    assert len(tr.decide().offenders) == 5


def test_prefix_holding_a_protected_address_is_never_banned():
    tr = Tracker(PolicyConfig(ipv6_prefix=64, protected=("2001:db8:1:2::10",)))
    tr.feed([fail(i, ip=f"2001:db8:1:2::{i + 1:x}") for i in range(9)])
    assert tr.take_new_bans() == []
    assert offender(tr, "2001:db8:1:2::/64").decision == "watch"


def test_state_round_trip_keeps_windows_and_escalation():
    cfg = PolicyConfig()
    tr = Tracker(cfg)
    tr.feed([fail(i) for i in range(5)])
    tr.take_new_bans()
    tr.feed([fail(4000 + i) for i in range(3)])
    tr.feed([fail(9, ip="198.51.100.1", user="x"), fail(9, ip="198.51.100.2", user="x")])
    data = json.loads(json.dumps(tr.to_state()))
    tr2 = Tracker(cfg)
    tr2.load_state(data)
    tr2.feed([fail(4010), fail(4011)])
    (ban,) = tr2.take_new_bans()
    assert ban.count == 2
    assert ban.until - (T0 + 4011) == 7200
    assert tr2.to_state()["accounts"]["x"] == {"198.51.100.1": T0 + 9, "198.51.100.2": T0 + 9}


def test_memory_is_bounded():
    tr = Tracker(PolicyConfig(), max_addresses=1000)
    tr.feed(
        fail(i * 0.01, ip=f"10{i // 65536 % 256}.{i // 256 % 256}.{i % 256}.1", user=f"u{i}")
        for i in range(5000)
    )
    assert len(tr.records) <= 1000
    tr.feed([fail(i * 0.01, user=f"user{i}") for i in range(500)])
    rec = tr.records["203.0.113.5"]
    assert len(rec.users) == 50
    assert len(rec.window) <= 2 * 20


def test_idle_addresses_are_pruned_but_ban_history_kept():
    tr = Tracker(PolicyConfig())
    tr.feed([fail(i, ip="198.51.100.7") for i in range(2)])
    tr.feed([fail(i) for i in range(5)])
    tr.prune(T0 + 2 * 86400)
    assert "198.51.100.7" not in tr.records
    assert tr.bans_of("203.0.113.5") == 1
    tr.prune(T0 + 10 * 86400)
    assert tr.bans_of("203.0.113.5") == 0


def test_unknown_time_uses_latest_event_time():
    tr = Tracker(PolicyConfig())
    tr.feed([fail(0)] + [Event(1, None, "203.0.113.5", AUTH_FAILURE, "plesk", None, None)] * 4)
    (ban,) = tr.take_new_bans()
    assert ban.until == T0 + 3600


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"maxretry": 0}, "maxretry"),
        ({"findtime": "600"}, "findtime"),
        ({"bantime": True}, "bantime"),
        ({"bantime_multiplier": 0.5}, "bantime_multiplier"),
        ({"bantime_max": 60}, "bantime_max"),
        ({"ipv6_prefix": 129}, "ipv6_prefix"),
        ({"ignore": "10.0.0.0/8"}, "ignore"),
        ({"ignore": ["10.0.0.0/33"]}, "ignore"),
        ({"protected": ["not-an-ip"]}, "protected"),
    ],
)
def test_bad_policy_values_name_the_key(values, key):
    with pytest.raises(ConfigError, match=key):
        Tracker(PolicyConfig.from_mapping(values))


# ---- failures per hour (the fleet report's attacks-over-time chart) ----------------------------------

H0 = 1_789_999_200.0  # 2026-09-21T14:00:00Z, the start of T0's hour (T0 is 14:13:20)


def test_timeline_buckets_failures_by_utc_hour_weighted_by_count():
    tr = Tracker(PolicyConfig(maxretry=1000))
    tr.feed([fail(0), fail(1, count=4), fail(H0 + 3600 - T0 - 0.5), fail(H0 + 3600 - T0, ip="198.51.100.9")])
    tr.feed([fail(2, ip="127.0.0.1"), ok(3)])  # ignored addresses and successes are not attacks
    assert tr.hours == {int(H0): 6, int(H0) + 3600: 1}
    assert tr.timeline() == {"2026-09-21T14:00:00Z": 6, "2026-09-21T15:00:00Z": 1}


def test_timeline_keeps_only_the_newest_168_hours():
    tr = Tracker(PolicyConfig(maxretry=10**6, slow_maxretry=0))
    tr.feed(fail(h * 3600.0, ip=f"198.51.{h // 256}.{h % 256}") for h in range(200))
    assert len(tr.hours) == 168
    assert min(tr.hours) == int(H0) + 32 * 3600  # hours 0..31 dropped as newer ones appeared
    tr.feed([fail(10 * 3600.0), fail(40 * 3600.0, count=3)])  # too old: not counted; still kept: added to
    assert len(tr.hours) == 168
    assert int(H0) + 10 * 3600 not in tr.hours
    assert tr.hours[int(H0) + 40 * 3600] == 4
    assert list(tr.timeline()) == sorted(tr.timeline())


def test_timeline_state_round_trip_and_old_or_damaged_state():
    cfg = PolicyConfig()
    tr = Tracker(cfg)
    tr.feed([fail(0, count=2), fail(3600)])
    saved = json.dumps(tr.to_state())
    tr2 = Tracker(cfg)
    tr2.load_state(json.loads(saved))
    assert tr2.timeline() == tr.timeline() == {"2026-09-21T14:00:00Z": 2, "2026-09-21T15:00:00Z": 1}
    tr2.feed([fail(3601)])
    assert tr2.hours[int(H0) + 3600] == 2  # counting continues in the loaded bucket
    old = json.loads(saved)
    del old["hours"]  # a state file written before the timeline existed
    tr3 = Tracker(cfg)
    tr3.load_state(old)
    assert tr3.timeline() == {}
    assert offender(tr3, everything=True).failures == 3  # the rest of the state still loads
    for damaged in (
        "x",
        5,
        None,
        [[1, 2, 3]],
        [["x", 1]],
        [[int(H0) + 1, 1]],
        [[int(H0), -1]],
        [[int(H0), True]],
    ):
        tr4 = Tracker(cfg)
        tr4.load_state(dict(json.loads(saved), hours=damaged))
        assert tr4.timeline() == {}, damaged
    tr5 = Tracker(cfg)
    tr5.load_state(dict(json.loads(saved), hours=[[int(H0), 5], "junk", [int(H0) + 3600, "7"], [None, 1]]))
    assert tr5.hours == {int(H0): 5, int(H0) + 3600: 7}


def test_late_decisions_say_what_decide_said_before_pruning():
    """A scan chooses its offenders (decide_later), prunes, saves and frees its state, then makes the rows:
    the same rows, in the same order (most failures first, then by address), as decide before pruning."""
    tr = Tracker(PolicyConfig())
    tr.feed([fail(i, ip=f"203.0.113.{i % 7}") for i in range(40)])  # 7 addresses, 5 or 6 failures each
    tr.feed([fail(50, ip="198.51.100.1")])  # one below the thresholds
    before = tr.decide(T0 + 60)
    late = tr.decide_later(T0 + 60)
    tr.start_round()
    tr.prune(T0 + 30 * 86400)  # a month later: every record forgotten
    assert tr.records == {}
    after = late.decisions()
    assert after == before
    order = [(o.failures, o.ip) for o in after.offenders]
    assert order == sorted(order, key=lambda fi: (-fi[0], fi[1]))
    assert order[0][0] == 6 and order[-1] == (1, "198.51.100.1")


def test_take_banned_holds_what_take_new_bans_says():
    """The new bans as address -> record (a scan's 100,000 without a row each): the same bans, in order."""
    live, other = Tracker(PolicyConfig()), Tracker(PolicyConfig())
    for tr in (live, other):
        tr.feed([fail(i * 10, ip=f"203.0.113.{i % 3}") for i in range(15)])
    rows = live.take_new_bans()
    banned = other.take_banned()
    assert len(rows) == 3
    assert [(k, r.ban_until, r.reason, r.bans) for k, r in banned.items()] == [tuple(b) for b in rows]
    assert other.take_banned() == {} and other.take_new_bans() == []


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(-900, 4000), st.integers(1, 4), st.sampled_from(["203.0.113.5", "203.0.113.6"])
        ),
        max_size=40,
    ),
    st.integers(1, 6),
    st.sampled_from([0, 3, 8]),
    st.sampled_from([60, 600]),
)
def test_a_window_too_small_to_ban_decides_as_the_full_reading(
    failures: list, maxretry: int, slow_maxretry: int, findtime: int
) -> None:
    """``_failure`` reads no window whose failures in all are fewer than any threshold (``_least``): with it
    and with every window read (``_least`` 0), the same bans, records and reports, whatever order the times
    come in (a step back included)."""
    config = PolicyConfig(
        maxretry=maxretry, slow_maxretry=slow_maxretry, findtime=findtime, slow_findtime=3600
    )
    short, full = Tracker(config), Tracker(config)
    full._least = 0  # every window read in full: the reference
    events = [fail(t, ip=ip, count=count) for t, count, ip in failures]
    for tracker in (short, full):
        tracker.feed(events)
    assert [tuple(b) for b in short.take_new_bans()] == [tuple(b) for b in full.take_new_bans()]
    assert {k: r.to_list() for k, r in short.records.items()} == {
        k: r.to_list() for k, r in full.records.items()
    }
    assert short.decide().offenders == full.decide().offenders


def _saved_then_reloaded(config: PolicyConfig, events: list) -> dict:
    """The JSON state of a tracker fed ``events`` (as state.json holds it)."""
    tracker = Tracker(config)
    tracker.feed(events)
    return json.loads(json.dumps(tracker.to_state()))


def test_a_damaged_count_in_a_saved_window_hides_no_attack():
    """Each window entry weighs >= 1 (``_keep`` and ``_least`` rely on it): a saved window whose count was
    damaged (0 or less) must not keep an address that fails maxretry times within findtime from its ban, as
    the full reading of the window bans it (the shortcut summed the damaged count with the others)."""
    config = PolicyConfig(maxretry=4, findtime=60, slow_maxretry=0)
    state = _saved_then_reloaded(config, [fail(-1000, count=2)])
    state["records"]["203.0.113.5"][3][1] = -10  # the window's one count, damaged
    tracker = Tracker(config)
    tracker.load_state(state)
    tracker.feed([fail(0, count=4)])
    assert [b.address for b in tracker.take_new_bans()] == ["203.0.113.5"]


def test_a_damaged_count_in_a_saved_stale_window_hides_no_attack():
    """The same through the known-good memory: a stale client's saved window with a damaged count, taken into
    the address's window when it fails for an unknown username, cannot hide failures that reach maxretry."""
    config = PolicyConfig(
        maxretry=3, findtime=600, slow_maxretry=8, slow_findtime=3600, known_good_days=7, stale_maxretry=5
    )
    state = _saved_then_reloaded(config, [ok(-4000, user="alice"), fail(-2000, user="alice")])
    windows = state["clients"]["stale_windows"]
    assert windows["203.0.113.5"][1] == 1
    windows["203.0.113.5"][1] = -10  # the stale failure's count, damaged
    tracker = Tracker(config)
    tracker.load_state(state)
    tracker.feed([fail(0, user="mallory", count=3)])
    assert [b.address for b in tracker.take_new_bans()] == ["203.0.113.5"]


@pytest.mark.parametrize("field", ["window", "failures", "flags", "bans"])
def test_a_saved_record_with_an_infinite_count_is_dropped_not_raised(field):
    """state.json is read with json.loads, which takes ``Infinity``: a record whose integer field holds it is
    damaged, dropped as the others are (int() raises OverflowError on it, not ValueError)."""
    config = PolicyConfig(maxretry=4, findtime=60)
    state = _saved_then_reloaded(config, [fail(-10)])
    row = state["records"]["203.0.113.5"]
    if field == "window":
        row[SAVED_FIELDS.index("window")][1] = float("inf")
    else:
        row[SAVED_FIELDS.index(field)] = float("inf")
    tracker = Tracker(config)
    tracker.load_state(json.loads(json.dumps(state)))
    tracker.feed([fail(0)])
    assert offender(tracker, everything=True).failures == 1
