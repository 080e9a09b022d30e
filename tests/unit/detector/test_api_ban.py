"""detector.api ban(until=...) and ban_each(): what the modules call. The detector runs in monitor mode or
dry-run, so the state is real and no firewall is touched (the real ipset:
tests/integration/test_guard_ban_enforce.py)."""

from __future__ import annotations

import json
import os

import pytest
from mail_bruteforce_guard.detector import api
from mail_bruteforce_guard.detector.config import Config

NOW = 1_795_000_000.0


@pytest.fixture
def cfg(tmp_path):
    return Config(
        {"mode": "monitor", "state_dir": str(tmp_path), "syslog": False, "protected": ["192.0.2.10"]}
    )


def saved(cfg) -> dict:
    with open(f"{cfg.state_dir}/state.json") as fh:
        return json.load(fh)["bans"]


def test_ban_until_is_an_absolute_end(cfg):
    result = api.ban(cfg, ["198.51.100.7"], until=NOW + 5000.5, reason="r", now=NOW, warn=print)
    assert result["changed"] is True and result["added"] == ["198.51.100.7"]
    assert result["until"] == api.iso_utc(NOW + 5000.5)
    assert saved(cfg)["198.51.100.7"]["until"] == NOW + 5000.5
    assert saved(cfg)["198.51.100.7"]["reason"] == "r"


def test_ban_duration_still_counts_from_now(cfg):
    api.ban(cfg, ["198.51.100.7"], duration=600, now=NOW, warn=print)
    assert saved(cfg)["198.51.100.7"]["until"] == NOW + 600


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"until": NOW + 60, "duration": 60}, "not both"),
        ({"until": NOW}, "not in the future"),
        ({"until": NOW - 1}, "not in the future"),
        ({"until": "tomorrow"}, "must be POSIX seconds"),
        ({"until": True}, "must be POSIX seconds"),
        ({"until": float("inf")}, "must be POSIX seconds"),
        ({"duration": 0}, "duration"),
    ],
)
def test_ban_bad_end_is_config_error(cfg, kwargs, message):
    with pytest.raises(api.ConfigError, match=message):
        api.ban(cfg, ["198.51.100.7"], now=NOW, dry_run=True, warn=print, **kwargs)


def test_ban_each_one_batch_with_own_ends_and_reasons(cfg):
    result = api.ban_each(
        cfg,
        [
            ("198.51.100.7", NOW + 100, "a"),
            ("2001:DB8::1", NOW + 300, "b"),
            ("198.51.100.7", NOW + 200, "later"),  # repeated: the later end wins
            ("192.0.2.10", NOW + 100, "protected"),  # refused
        ],
        now=NOW,
        warn=print,
    )
    assert result["added"] == ["198.51.100.7", "2001:db8::1"]
    assert [r["address"] for r in result["refused"]] == ["192.0.2.10"]
    assert result["until"] == api.iso_utc(NOW + 300)
    bans = saved(cfg)
    assert set(bans) == {"198.51.100.7", "2001:db8::1"}
    assert (bans["198.51.100.7"]["until"], bans["198.51.100.7"]["reason"]) == (NOW + 200, "later")
    assert (bans["2001:db8::1"]["until"], bans["2001:db8::1"]["reason"]) == (NOW + 300, "b")


def test_ban_each_never_shortens_a_saved_ban(cfg):
    api.ban_each(cfg, [("198.51.100.7", NOW + 500, "x")], now=NOW, warn=print)
    api.ban_each(cfg, [("198.51.100.7", NOW + 100, "y")], now=NOW, warn=print)
    assert saved(cfg)["198.51.100.7"]["until"] == NOW + 500


def test_ban_each_dry_run_writes_nothing(cfg):
    result = api.ban_each(cfg, [("198.51.100.7", NOW + 500, "x")], now=NOW, dry_run=True, warn=print)
    assert result["changed"] is False and result["added"] == ["198.51.100.7"]
    assert not os.path.exists(f"{cfg.state_dir}/state.json")


@pytest.mark.parametrize(
    ("bans", "message"),
    [
        ([], "no address given"),
        ([("999.1.1.1", NOW + 60, "x")], "invalid address"),
        ([("198.51.100.7", NOW - 60, "x")], "198.51.100.7: ban end .* is not in the future"),
        ([("198.51.100.7", NOW + 60)], r"must be \(address, until, reason\)"),
    ],
)
def test_ban_each_bad_input_is_config_error(cfg, bans, message):
    with pytest.raises(api.ConfigError, match=message):
        api.ban_each(cfg, bans, now=NOW, dry_run=True, warn=print)
