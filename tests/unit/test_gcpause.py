"""paused_gc: the collector is off inside, restored to its previous state outside, also on errors."""

from __future__ import annotations

import gc

import pytest
from mail_bruteforce_guard.gcpause import paused_gc


def test_the_collector_is_paused_and_restored() -> None:
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():  # nested: the inner block leaves it off
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_an_error_inside_restores_the_collector() -> None:
    with pytest.raises(ValueError, match="boom"), paused_gc():
        raise ValueError("boom")
    assert gc.isenabled()


def test_a_collector_switched_off_before_stays_off() -> None:
    gc.disable()
    try:
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_scan_runs_with_the_collector_paused(tmp_path, monkeypatch) -> None:
    """The whole scan (reading, parsing, policy, state) runs with the collector paused, and it is back on
    after it."""
    from mail_bruteforce_guard.detector import api
    from mail_bruteforce_guard.policy.tracker import Tracker

    log = tmp_path / "mail.log"
    log.write_text(
        "Nov 26 08:08:18 mail postfix/smtpd[7]: warning: unknown[203.0.113.5]: SASL LOGIN authentication"
        " failed: UGFzc3dvcmQ6\n"
    )
    seen = []
    real_feed = Tracker.feed

    def feed(self, events, now=None):
        seen.append(gc.isenabled())
        return real_feed(self, events, now)

    monkeypatch.setattr(Tracker, "feed", feed)
    config = api.load_config(None, {"logs": [str(log)], "state_dir": str(tmp_path / "state")})
    result = api.scan(config, from_start=True, dry_run=True, now=1795737600.0)
    assert result["stats"]["events"] == 1
    assert seen and not any(seen)
    assert gc.isenabled()
