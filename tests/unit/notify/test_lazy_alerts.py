"""The scan's fast paths for a storm of bans, pinned to the plain reference they replaced: ``events.Alerts``
makes each ban's Alert as it is read (the reference: a list of ``ban_alert`` calls), and ``queue_alerts``
cuts the outbox queue as it grows (the reference: one cut at the end)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mail_bruteforce_guard.detector.config import Config
from mail_bruteforce_guard.notify import events, outbox
from mail_bruteforce_guard.notify.events import Alerts, account_alert, ban_alert, failure_alert, unban_alert
from mail_bruteforce_guard.policy.tracker import NewBan

NOW = 1_800_000_000.0


def rows(n: int, start: int = 0) -> list[NewBan]:
    return [
        NewBan(f"203.0.{(start + i) // 250}.{(start + i) % 250}", NOW + 600 + i, f"r{i}", 1 + i % 3)
        for i in range(n)
    ]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(["bans", "account", "failure", "unban", "none"]), max_size=8))
def test_lazy_alerts_read_as_the_eager_list_in_raising_order(parts):
    lazy, eager = Alerts(), []
    for i, part in enumerate(parts):
        if part == "bans":
            burst = rows(3, 10 * i)
            lazy.add_bans(burst, NOW + i, host="mx1")
            eager += [
                ban_alert(b.address, b.until, b.reason, NOW + i, count=b.count, host="mx1") for b in burst
            ]
        elif part == "none":
            lazy.add_bans([], NOW)
        else:
            alert = {
                "account": account_alert("targeted", f"u{i}", ["192.0.2.1"], NOW, host="mx1"),
                "failure": failure_alert("log", "x", NOW, host="mx1"),
                "unban": unban_alert("192.0.2.9", NOW, host="mx1"),
            }[part]
            lazy.append(alert)
            eager.append(alert)
    assert len(lazy) == len(eager)
    assert bool(lazy) == bool(eager)
    assert list(lazy) == eager
    assert list(lazy) == eager  # read twice, the same


def test_lazy_ban_alerts_take_the_host_name_once_and_as_ban_alert_does():
    lazy = Alerts()
    lazy.add_bans(rows(2), NOW)
    assert list(lazy) == [ban_alert(b.address, b.until, b.reason, NOW, count=b.count) for b in rows(2)]


def config(tmp_path, notify, **kw):
    return Config({"state_dir": str(tmp_path / "state"), "syslog": False, "notify": notify, **kw})


def test_queue_cut_as_it_grows_keeps_what_one_cut_at_the_end_keeps(tmp_path, monkeypatch):
    monkeypatch.setattr(outbox, "MAX_QUEUE", 7)
    notify = [
        {"type": "exec", "command": ["/bin/true"]},
        {"type": "exec", "name": "loud", "command": ["/bin/true"], "min_severity": "warning"},
    ]
    storm = Alerts()
    storm.append(unban_alert("192.0.2.9", NOW, host="mx1"))
    storm.add_bans(rows(10), NOW, host="mx1")
    storm.append(account_alert("compromised", "alice", ["192.0.2.1"], NOW, host="mx1"))
    storm.add_bans(rows(25, 100), NOW, host="mx1")
    storm.append(failure_alert("log", "x", NOW, host="mx1"))
    storm.add_bans(rows(6, 300), NOW, host="mx1")
    grown = config(tmp_path / "a", notify)
    assert outbox.queue_alerts(grown, storm, now=NOW, warn=print) == len(storm)

    # the reference: every entry queued, then one cut (the code before the fast path)
    reference = config(tmp_path / "b", notify)
    monkeypatch.setattr(outbox, "MAX_QUEUE", 10**9)
    outbox.queue_alerts(reference, list(storm), now=NOW, warn=print)
    path = tmp_path / "b" / "state" / outbox.OUTBOX
    data = json.loads(path.read_text())
    queue = data["queue"]
    data["queue"] = outbox._evict(queue, len(queue) - 7)
    data["counts"]["dropped"] = {"overflow": len(queue) - 7}

    def strip(d):
        return {**d, "queue": [{k: v for k, v in e.items() if k != "id"} for e in d["queue"]]}

    got = json.loads((tmp_path / "a" / "state" / outbox.OUTBOX).read_text())
    assert strip(got) == strip(data)
    assert len(got["queue"]) == 7 and got["counts"]["alerts"] == {
        "ban": 41,
        "unban": 1,
        "compromised": 1,
        "failure": 1,
    }


def test_raise_alerts_still_returns_what_was_told(tmp_path):
    cfg = config(tmp_path, [])
    alert = account_alert("compromised", "alice", ["192.0.2.1"], NOW, host="h")
    lazy = Alerts()
    lazy.add_bans(rows(2), NOW, host="h")
    lazy.append(alert)
    lazy.append(alert)  # de-duplicated
    told = outbox.raise_alerts(cfg, lazy, now=NOW, warn=print)
    assert told == list(lazy)[:3]


@pytest.mark.parametrize("syslog", [False, True])
def test_no_notifier_queues_nothing_and_counts_every_alert(tmp_path, syslog):
    cfg = config(tmp_path, [], syslog=syslog)
    lazy = Alerts()
    lazy.add_bans(rows(5), NOW, host="h")
    assert outbox.queue_alerts(cfg, lazy, now=NOW, warn=print) == 5
    data = json.loads((tmp_path / "state" / outbox.OUTBOX).read_text())
    assert data["queue"] == [] and data["counts"] == {"alerts": {"ban": 5}}


@pytest.mark.parametrize("min_severity", ["warning", "info"])
def test_ban_alerts_no_one_takes_are_counted_without_being_made(tmp_path, monkeypatch, min_severity):
    """Without syslog and without a notifier of bans, a burst of bans is only counted (its alerts are never
    made): the outbox is the one the plain list of alerts gives, its counts in the same order. A notifier
    that takes bans gets each of them."""
    notify = [{"type": "exec", "command": ["/bin/true"], "min_severity": min_severity}]
    storm = Alerts()
    storm.append(failure_alert("log", "x", NOW, host="mx1"))
    storm.add_bans(rows(4), NOW, host="mx1")
    storm.append(unban_alert("192.0.2.9", NOW, host="mx1"))
    storm.add_bans(rows(3, 100), NOW, host="mx1")
    reference = config(tmp_path / "b", notify)
    assert outbox.queue_alerts(reference, list(storm), now=NOW, warn=print) == 9
    made = []
    real = events.ban_alert
    monkeypatch.setattr(events, "ban_alert", lambda *a, **k: made.append(a) or real(*a, **k))
    assert outbox.queue_alerts(config(tmp_path / "a", notify), storm, now=NOW, warn=print) == 9
    assert len(made) == (7 if min_severity == "info" else 0)

    def strip(d):
        return {**d, "queue": [{k: v for k, v in e.items() if k != "id"} for e in d["queue"]]}

    got, want = ((tmp_path / d / "state" / outbox.OUTBOX).read_text() for d in "ab")
    assert strip(json.loads(got)) == strip(json.loads(want))
    assert list(json.loads(got)["counts"]["alerts"]) == ["failure", "ban", "unban"]
