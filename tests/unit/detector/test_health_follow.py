"""``status --check`` under the follow engine: the daemon's heartbeat counts as a run, found through the
kernel's lock table (never by trying the daemon's lock)."""

from __future__ import annotations

import fcntl
import os

from mail_bruteforce_guard.detector import health
from mail_bruteforce_guard.detector.config import Config
from mail_bruteforce_guard.detector.follow import HEARTBEAT_EVERY, INSTANCE_LOCK
from mail_bruteforce_guard.detector.metrics import RunRecord, record


def _config(tmp_path) -> Config:
    log = tmp_path / "mail.log"
    log.write_text("")
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    return Config(
        {"mode": "monitor", "logs": [str(log)], "state_dir": str(state), "scan_interval_seconds": 10}
    )


def test_a_running_daemon_is_seen_in_the_lock_table_and_a_stopped_one_is_not(tmp_path):
    cfg = _config(tmp_path)
    assert not health.following(cfg.state_dir)  # no lock file
    fd = os.open(os.path.join(cfg.state_dir, INSTANCE_LOCK), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        assert not health.following(cfg.state_dir)  # the file is there, nobody holds it
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert health.following(cfg.state_dir)
        assert not health.following(cfg.state_dir, locks=str(tmp_path / "no-such-table"))
    finally:
        os.close(fd)
    assert not health.following(cfg.state_dir)


def test_the_daemons_heartbeat_keeps_the_check_green_between_timer_periods(tmp_path):
    cfg = _config(tmp_path)
    record(cfg.state_dir, RunRecord(True, 0.1, 0, 0, 0, {}, ""), 1000.0)
    later = 1000.0 + HEARTBEAT_EVERY + 5  # older than twice scan_interval_seconds (20 s)
    (stale,) = health.problems(cfg, None, now=later)
    assert stale.startswith("last successful scan ") and "scan_interval_seconds, 20s" in stale
    fd = os.open(os.path.join(cfg.state_dir, INSTANCE_LOCK), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert health.problems(cfg, None, now=later) == []
        (stale,) = health.problems(cfg, None, now=1000.0 + 2 * HEARTBEAT_EVERY + 1)
        assert stale.startswith("last successful run of the follow daemon ")
    finally:
        os.close(fd)
