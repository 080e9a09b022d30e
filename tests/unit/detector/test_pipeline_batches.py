"""Pipeline.feed_batch and Tracker.feed: the same events whatever the batch form, and the cyclic garbage
collector (paused while a batch runs) always left as it was found."""

from __future__ import annotations

import gc

import pytest
from mail_bruteforce_guard.detector.logsource import Block
from mail_bruteforce_guard.detector.pipeline import Pipeline
from mail_bruteforce_guard.policy.config import PolicyConfig
from mail_bruteforce_guard.policy.tracker import Tracker

NOW = 1795737600.0  # 2026-11-27T00:00:00Z
LINES = [
    "Nov 26 08:08:10 mail postfix/smtpd[101]: connect from unknown[203.0.113.7]",
    "Nov 26 08:08:12 mail postfix/smtpd[101]: warning: unknown[203.0.113.7]: SASL LOGIN authentication"
    " failed: UGFzc3dvcmQ6",
    "Nov 26 08:08:14 mail dovecot: imap-login: Login: user=<ann@example.com>, method=PLAIN, rip=198.51.100.4,"
    " lip=192.0.2.10, mpid=1, TLS, session=<abc>",
    "Nov 26 08:08:15 mail dovecot: auth: passwd-file(bob,203.0.113.9): unknown user",
    "Nov 26 08:08:18 mail postfix/smtpd[101]: disconnect from unknown[203.0.113.7] ehlo=1 auth=0/3 quit=1"
    " commands=2/5",
]


def _events(batch) -> list:
    pipeline = Pipeline(None, now=NOW)
    return pipeline.feed_batch(1, batch) + pipeline.flush()


def test_block_and_list_batches_give_the_same_events() -> None:
    as_list = _events(list(LINES))
    as_block = _events(Block("\n".join(LINES).encode()))
    assert as_list == as_block
    assert [(e.line, e.ip, e.kind, e.count) for e in as_list] == [
        (2, "203.0.113.7", "auth_failure", 1),
        (3, "198.51.100.4", "auth_success", 1),
        (4, "203.0.113.9", "auth_failure", 1),
        (5, "203.0.113.7", "auth_failure", 2),
    ]


@pytest.mark.parametrize("enabled", [True, False])
def test_gc_state_is_restored(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        events = _events(Block("\n".join(LINES).encode()))
        assert gc.isenabled() is enabled
        tracker = Tracker(PolicyConfig())
        assert tracker.feed(events, NOW) == 4
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_gc_is_restored_when_a_batch_fails() -> None:
    assert gc.isenabled()
    with pytest.raises(TypeError):
        Pipeline(None, now=NOW).feed_batch(1, [None])  # not a line: the gate's "in" test fails
    assert gc.isenabled()
    with pytest.raises(AttributeError):
        Tracker(PolicyConfig()).feed([object()], NOW)
    assert gc.isenabled()


def test_block_of_a_buffer_slice_reads_only_its_lines() -> None:
    data = ("junk that began in the previous read\n" + "\n".join(LINES) + "\nincomplete").encode()
    start = data.index(b"\n") + 1
    end = data.rindex(b"\n")
    block = Block(data, start=start, end=end)
    assert len(block) == len(LINES)
    assert list(block) == LINES
    pipeline = Pipeline(None, now=NOW)
    assert pipeline.feed_batch(1, block) + pipeline.flush() == _events(list(LINES))
    with pytest.raises(ValueError, match="beginning of a line"):
        Block(data, start=start + 1, end=end)


def test_unnumbered_pipeline_gives_the_same_events_at_line_zero() -> None:
    numbered = _events(Block("\n".join(LINES).encode()))
    pipeline = Pipeline(None, now=NOW, numbered=False)
    block = Block("\n".join(LINES).encode())
    events = pipeline.feed_batch(1, block) + pipeline.flush()
    assert events == [e._replace(line=0) for e in numbered]
    assert len(block) == len(LINES)  # the block's lines are still counted exactly


def test_scan_pipeline_skips_informational_lines_before_parsing() -> None:
    extra = [
        "Nov 26 08:08:19 mail postfix/smtpd[101]: too many errors after AUTH from unknown[203.0.113.7]",
        "Nov 26 08:08:20 mail dovecot: imap-login: Disconnected (no auth attempts in 2 secs): user=<>,"
        " rip=203.0.113.8, lip=192.0.2.10, session=<x>",
    ]
    text = "\n".join(LINES + extra).encode()
    scan = Pipeline(None, now=NOW, info=False)
    assert scan.feed_batch(1, Block(text)) + scan.flush() == _events(list(LINES))
    parse = Pipeline(None, now=NOW, info=True)
    kinds = [e.kind for e in parse.feed_batch(1, Block(text)) + parse.flush()]
    assert kinds[-2:] == ["too_many_errors", "no_auth_attempts"]


def test_gate_words_in_a_username_do_not_hide_a_failure_in_a_scan() -> None:
    lines = [
        "Nov 26 08:08:12 mail postfix/smtpd[101]: warning: unknown[203.0.113.7]: SASL LOGIN authentication"
        " failed: UGFzc3dvcmQ6, sasl_username=(no auth attempts in 0 secs): ",
        "Nov 26 08:08:13 mail dovecot: auth: passwd-file(disconnect from ,203.0.113.9): unknown user",
    ]
    for batch in (list(lines), Block("\n".join(lines).encode())):
        scan = Pipeline(None, now=NOW, info=False, numbered=False)
        assert [e.ip for e in scan.feed_batch(1, batch) + scan.flush()] == ["203.0.113.7", "203.0.113.9"]
