"""The tracker's compact per-address forms (issue 15's scale work) change no answer: a banned address's
window is the shared empty tuple, usernames a tuple, an address that is its own key is cached as its flags;
each gives what the plain form gave, saved and reloaded."""

from __future__ import annotations

import json

from mail_bruteforce_guard.parser.events import AUTH_FAILURE, Event
from mail_bruteforce_guard.policy import record
from mail_bruteforce_guard.policy.config import PolicyConfig
from mail_bruteforce_guard.policy.tracker import Tracker


def fail(t, ip, user="bob", count=1):
    return Event(0, t, ip, AUTH_FAILURE, "dovecot", "imap", user, count, None)


def test_a_banned_record_holds_the_shared_empty_window_and_saves_an_empty_list():
    t = Tracker(PolicyConfig(maxretry=3, findtime=600))
    t.feed([fail(1000.0 + i, "203.0.113.5", user=f"u{i % 2}") for i in range(3)])
    rec = t.records["203.0.113.5"]
    assert rec.ban_until is not None
    assert rec.window is record.NO_WINDOW
    assert rec.users == ("u0", "u1")
    saved = rec.to_list()
    assert saved[record.SAVED_FIELDS.index("window")] == [] and saved[record.SAVED_FIELDS.index("users")] == [
        "u0",
        "u1",
    ]
    # after the ban the window fills again from the shared empty one, as from an empty list
    t.feed([fail(1000.0 + 3700 + i, "203.0.113.5") for i in range(2)])
    assert rec.window == [4700.0, 1, 4701.0, 1]
    assert record.NO_WINDOW == ()


def test_a_tracker_reloaded_from_its_saved_state_decides_the_same():
    events = [fail(1000.0 + i, f"198.51.100.{i % 7}", user=f"u{i % 3}") for i in range(40)]
    live = Tracker(PolicyConfig(maxretry=4, findtime=600))
    live.feed(events[:20])
    reloaded = Tracker(PolicyConfig(maxretry=4, findtime=600))
    reloaded.load_state(json.loads(json.dumps(live.to_state())))
    for t in (live, reloaded):
        t.start_round()
        t.feed(events[20:])
    assert reloaded.take_new_bans() == live.take_new_bans()
    assert reloaded.decide(2000.0, everything=True) == live.decide(2000.0, everything=True)
    assert json.dumps(reloaded.to_state(), sort_keys=True) == json.dumps(live.to_state(), sort_keys=True)


def test_the_key_cache_answers_as_the_uncached_key():
    config = PolicyConfig(ignore=("10.0.0.0/8",), protected=("192.0.2.10",), ipv6_prefix=64)
    cached = Tracker(config)
    for ip in ("203.0.113.5", "10.1.2.3", "192.0.2.10", "2001:db8:1:2::7", "127.0.0.1"):
        first = cached._key(ip)
        assert cached._key(ip) == first == Tracker(config)._key(ip), ip
        assert isinstance(first, tuple) and len(first) == 2


def test_a_one_address_account_is_a_pair_saved_as_a_mapping_and_still_raises_targeted():
    t = Tracker(PolicyConfig(maxretry=50, targeted_min_ips=3, targeted_findtime=3600))
    t.feed([fail(1000.0, "203.0.113.1", user="alice"), fail(1001.0, "203.0.113.1", user="alice")])
    assert t.accounts["alice"] == ("203.0.113.1", 1001.0)
    assert t.to_state()["accounts"] == {"alice": {"203.0.113.1": 1001.0}}
    t.feed([fail(1002.0 + i, f"198.51.100.{i}", user="alice") for i in range(2)])
    assert t.accounts["alice"] == {"203.0.113.1": 1001.0, "198.51.100.0": 1002.0, "198.51.100.1": 1003.0}
    assert [(a.username, a.alert, a.ips) for a in t.decide().accounts] == [
        ("alice", "targeted", ["198.51.100.0", "198.51.100.1", "203.0.113.1"])
    ]
    t.prune(1001.0 + 3600 + 1)  # the pair's time is its latest failure: pruned as its dict would be
    assert "alice" in t.accounts
    t.feed([fail(9000.0, "192.0.2.77", user="bob")])
    t.prune(9000.0)
    assert list(t.accounts) == ["bob"]


def test_the_lazy_saved_state_is_the_plain_saved_state():
    from mail_bruteforce_guard.detector.state import json_pieces

    t = Tracker(PolicyConfig(maxretry=3, targeted_min_ips=2))
    t.feed([fail(1000.0 + i, f"198.51.100.{i % 9}", user=f"u{i % 4}") for i in range(60)])
    plain = json.dumps(t.to_state(), separators=(",", ":"))
    assert "".join(json_pieces(t.to_state(lazy=True))) == plain
    reloaded = Tracker(PolicyConfig(maxretry=3, targeted_min_ips=2))
    reloaded.load_state(json.loads(plain))
    assert json.dumps(reloaded.to_state(), separators=(",", ":")) == plain
