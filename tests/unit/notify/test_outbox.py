"""The outbox: de-duplication, rate limit and digest, retries that survive a restart, the lease, damage."""

from __future__ import annotations

import json
import os

import pytest
from mail_bruteforce_guard.detector.config import Config
from mail_bruteforce_guard.notify import outbox
from mail_bruteforce_guard.notify.channels import DeliveryError
from mail_bruteforce_guard.notify.events import account_alert, ban_alert, failure_alert

NOW = 1_800_000_000.0


def config(tmp_path, notify, **kw):
    return Config({"state_dir": str(tmp_path / "state"), "syslog": False, "notify": notify, **kw})


def bans(n, now=NOW):
    return [ban_alert(f"203.0.113.{i}", now + 600, "r", now, host="h") for i in range(n)]


def deliver(cfg, now=NOW, sender=None, warnings=None):
    kw = {"sender": sender} if sender else {}
    return outbox.deliver(cfg, now=now, warn=(warnings if warnings is not None else []).append, **kw)


def queued(cfg):
    return outbox.pending(cfg.state_dir, print)["queued"]


def test_accounts_are_told_once_per_alert_interval_bans_each_time(tmp_path):
    cfg = config(tmp_path, [{"type": "exec", "command": ["/bin/true"]}], alert_interval=3600)
    alert = account_alert("compromised", "alice", ["192.0.2.1"], NOW, host="h")
    assert outbox.raise_alerts(cfg, [alert], now=NOW, warn=print) == [alert]
    assert outbox.raise_alerts(cfg, [alert], now=NOW + 3599, warn=print) == []
    assert len(outbox.raise_alerts(cfg, [alert], now=NOW + 3600, warn=print)) == 1
    other = account_alert("targeted", "alice", ["192.0.2.1"], NOW, host="h")
    assert len(outbox.raise_alerts(cfg, [other], now=NOW + 10, warn=print)) == 1  # another kind
    fail = failure_alert("log", "x", NOW, host="h")
    assert len(outbox.raise_alerts(cfg, [fail, fail], now=NOW, warn=print)) == 1
    same_ban = bans(1)
    assert len(outbox.raise_alerts(cfg, same_ban + same_ban, now=NOW, warn=print)) == 2
    assert queued(cfg) == {"exec0": 6}


def test_per_notifier_filters(tmp_path):
    cfg = config(
        tmp_path,
        [
            {"type": "exec", "name": "all", "command": ["/bin/true"]},
            {"type": "exec", "name": "loud", "command": ["/bin/true"], "min_severity": "warning"},
            {"type": "exec", "name": "bans", "command": ["/bin/true"], "events": ["ban"]},
        ],
    )
    outbox.raise_alerts(
        cfg, [*bans(2), account_alert("compromised", "a", ["192.0.2.1"], NOW, host="h")], now=NOW, warn=print
    )
    assert queued(cfg) == {"all": 3, "loud": 1, "bans": 2}


def test_delivery_through_a_real_webhook_then_empty(tmp_path, hook):
    cfg = config(tmp_path, [{"type": "webhook", "url": hook.url}])
    outbox.raise_alerts(cfg, bans(2), now=NOW, warn=print)
    result = deliver(cfg)
    assert (result.delivered, result.messages, result.queued) == (2, 2, 0)
    assert [hook.json(i)["address"] for i in range(2)] == ["203.0.113.0", "203.0.113.1"]
    assert deliver(cfg).messages == 0  # nothing twice


def test_many_bans_at_once_go_out_as_one_digest(tmp_path, hook):
    cfg = config(tmp_path, [{"type": "webhook", "url": hook.url}], alert_digest_min=5)
    outbox.raise_alerts(cfg, bans(40), now=NOW, warn=print)
    result = deliver(cfg)
    assert (result.delivered, result.messages) == (40, 1)
    body = hook.json()
    assert body["event"] == "digest" and body["count"] == 40 and body["counts"] == {"ban": 40}


def test_rate_limit_holds_the_rest_for_one_digest_later(tmp_path, hook):
    cfg = config(tmp_path, [{"type": "webhook", "url": hook.url}], alert_rate_limit=3, alert_digest_min=100)
    for i in range(3):
        outbox.raise_alerts(cfg, bans(1, NOW + i), now=NOW + i, warn=print)
        deliver(cfg, now=NOW + i)
    assert len(hook.requests) == 3
    outbox.raise_alerts(cfg, bans(4, NOW + 10), now=NOW + 10, warn=print)
    assert deliver(cfg, now=NOW + 10).messages == 0  # limit reached: nothing lost, nothing sent
    assert queued(cfg) == {"webhook0": 4}
    result = deliver(cfg, now=NOW + 3600)  # the first slot frees: one digest of all four
    assert (result.messages, result.delivered, result.queued) == (1, 4, 0)
    assert hook.json()["count"] == 4


def test_failures_stay_queued_across_a_restart_and_back_off(tmp_path, hook):
    cfg = config(tmp_path, [{"type": "webhook", "url": hook.url, "retries": 0}])
    outbox.raise_alerts(cfg, bans(1), now=NOW, warn=print)
    hook.httpd.statuses[:] = [500]
    warnings = []
    result = deliver(cfg, warnings=warnings)
    assert (result.failed, result.queued) == (1, 1)
    assert "HTTP 500" in result.errors[0]
    # a new process: only the file carries it
    saved = json.loads((tmp_path / "state" / outbox.OUTBOX).read_text())
    assert saved["queue"][0]["tries"] == 1
    assert saved["queue"][0]["next"] == NOW + outbox.RETRY_FIRST
    assert deliver(cfg, now=NOW + 30).messages == 0  # backing off
    result = deliver(cfg, now=NOW + outbox.RETRY_FIRST)
    assert (result.delivered, result.queued) == (1, 0)
    assert hook.json()["address"] == "203.0.113.0"
    assert len(hook.requests) == 2


def test_backoff_doubles_to_the_cap(tmp_path):
    cfg = config(tmp_path, [{"type": "exec", "command": ["/bin/false"]}])
    outbox.raise_alerts(cfg, bans(1), now=NOW, warn=print)

    def fail(_n, _alerts):
        raise DeliveryError("down")

    now, gaps = NOW, []
    for _ in range(8):
        deliver(cfg, now=now, sender=fail)
        nxt = json.loads((tmp_path / "state" / outbox.OUTBOX).read_text())["queue"][0]["next"]
        gaps.append(nxt - now)
        now = nxt
    assert gaps == [60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_too_old_or_orphaned_entries_are_given_up_loudly(tmp_path):
    cfg = config(
        tmp_path,
        [
            {"type": "exec", "name": "a", "command": ["/bin/true"]},
            {"type": "exec", "name": "b", "command": ["/bin/true"]},
        ],
    )
    outbox.raise_alerts(cfg, bans(1), now=NOW, warn=print)
    only_a = config(tmp_path, [{"type": "exec", "name": "a", "command": ["/bin/true"]}])
    result = deliver(only_a, now=NOW + outbox.MAX_AGE + 1, sender=lambda _n, _a: None)
    assert (result.dropped, result.delivered) == (2, 0)


def test_an_entry_being_sent_is_leased(tmp_path):
    cfg = config(tmp_path, [{"type": "exec", "command": ["/bin/true"]}])
    outbox.raise_alerts(cfg, bans(1), now=NOW, warn=print)
    inner = []

    def sender(_n, alerts):  # another delivery run starts while this one is sending
        inner.append(deliver(cfg, now=NOW + 1, sender=lambda _n, _a: pytest.fail("sent twice")))

    assert deliver(cfg, sender=sender).delivered == 1
    assert inner[0].messages == 0


def test_a_damaged_outbox_is_set_aside(tmp_path):
    cfg = config(tmp_path, [{"type": "exec", "command": ["/bin/true"]}])
    (tmp_path / "state").mkdir(mode=0o700)
    (tmp_path / "state" / outbox.OUTBOX).write_text("{not json")
    warnings = []
    outbox.raise_alerts(cfg, bans(1), now=NOW, warn=warnings.append)
    assert "damaged" in warnings[0]
    assert any(name.startswith(outbox.OUTBOX + ".damaged-") for name in os.listdir(tmp_path / "state"))
    assert queued(cfg) == {"exec0": 1}
    assert oct((tmp_path / "state" / outbox.OUTBOX).stat().st_mode & 0o777) == "0o600"
