"""The scan's read path on generated traffic: exact counts against genlog's truth, and the raw-bytes block
path (``Block``, gate search before decoding) giving exactly the events of the line-by-line path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mail_bruteforce_guard.detector import api
from mail_bruteforce_guard.detector.config import Config
from mail_bruteforce_guard.detector.logsource import Block, FileSource
from mail_bruteforce_guard.detector.pipeline import HOLD, Pipeline
from mail_bruteforce_guard.parser import correlate
from mail_bruteforce_guard.parser.events import PREAUTH_KINDS
from mail_bruteforce_guard.parser.stream import parse_lines
from mail_bruteforce_guard.policy.config import PolicyConfig
from mail_bruteforce_guard.policy.tracker import Tracker
from truth import GENLOG, generate, tally

NOW = 1796000000.0  # 2026-11-30, after the generated traffic
LINES = 50000


@pytest.fixture(scope="module", params=["rfc3164", "rfc3339"])
def generated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    log = tmp_path_factory.mktemp("truth") / "mail.log"
    return log, generate(log, LINES, 11, request.param)


def events_of(batches, preauth: bool = False) -> list:
    pipeline = Pipeline(None, now=NOW, preauth=preauth)
    events = []
    for first, batch in batches:
        events.extend(pipeline.feed_batch(first, batch))
    events.extend(pipeline.flush(NOW - HOLD))
    return events


def test_read_path_counts_exactly_the_truth(generated: tuple) -> None:
    log, truth = generated
    source = FileSource(str(log), None, from_start=True)
    batches = list(source.batches())
    assert any(isinstance(batch, Block) for _, batch in batches)  # the fast path really ran
    fail, ok = tally(events_of(batches))
    assert source.lines == LINES == truth["lines"]
    assert sum(truth["attempts"].values()) > 1000  # the sample really is under attack
    assert fail == truth["attempts"]
    assert ok == truth["successes"]


def test_block_path_gives_the_events_of_the_line_path(generated: tuple) -> None:
    log, _ = generated
    blocks = list(FileSource(str(log), None, from_start=True).batches())
    lines = log.read_bytes().decode("utf-8", "replace").split("\n")[:-1]
    listed = [(first, lines[first - 1 : first + 999]) for first in range(1, len(lines) + 1, 1000)]
    assert events_of(blocks) == events_of(listed)
    # len() of a block, whether the pipeline counted its lines or not
    assert sum(len(batch) for _, batch in blocks) == LINES
    assert sum(len(batch) for _, batch in FileSource(str(log), None, from_start=True).batches()) == LINES


def test_preauth_kinds_on_both_paths_are_those_of_the_reference_parser(generated: tuple) -> None:
    """A scan that counts pre-auth kinds (``preauth``): the block and the line path give the same events, and
    its pre-auth events are exactly those ``parse_lines`` with every informational kind gives."""
    log, _ = generated
    blocks = list(FileSource(str(log), None, from_start=True).batches())
    lines = log.read_bytes().decode("utf-8", "replace").split("\n")[:-1]
    listed = [(first, lines[first - 1 : first + 999]) for first in range(1, len(lines) + 1, 1000)]
    fast = events_of(blocks, preauth=True)
    assert fast == events_of(listed, preauth=True)
    reference = [e for e in parse_lines(lines, now=NOW) if e.kind in PREAUTH_KINDS]
    assert [e for e in fast if e.kind in PREAUTH_KINDS] == reference
    assert len(reference) > 500  # the sample really has them ("no auth attempts" disconnects)
    # the counted events are those of a scan without pre-auth kinds
    assert [e for e in fast if e.kind not in PREAUTH_KINDS] == events_of(blocks)


def test_scan_from_start_reports_exactly_the_truth(generated: tuple, tmp_path: Path) -> None:
    log, truth = generated
    cfg = Config({"logs": [str(log)], "state_dir": str(tmp_path / "state"), "syslog": False})
    result = api.scan(cfg, from_start=True, dry_run=True, now=NOW, warn=lambda _msg: None)
    assert result["stats"]["lines"] == LINES
    assert result["stats"]["bytes"] == log.stat().st_size
    assert {o["ip"]: o["failures"] for o in result["offenders"]} == truth["attempts"]


def test_the_known_clients_rules_free_no_attacker(generated: tuple, tmp_path: Path) -> None:
    """Issue 19: the known-good memory, stale clients, shared addresses and pre-auth counting change no ban of
    the generated attacks (their addresses never logged in); only the users' one-off typos become stale."""
    log, _ = generated

    def bans(name: str, **settings) -> set:
        cfg = Config({"logs": [str(log)], "state_dir": str(tmp_path / name), "syslog": False, **settings})
        result = api.scan(cfg, from_start=True, dry_run=True, now=NOW, warn=lambda _msg: None)
        return {o["ip"] for o in result["offenders"] if o["decision"] == "ban"}

    old = bans("old", known_good_days=0, preauth_maxretry=0)
    assert len(old) > 20
    assert bans("new") == old


def test_dropping_the_logins_the_policy_cannot_use_changes_no_decision(
    generated: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Incremental scans (four appends) decide exactly the same whether logins from addresses without
    failures are dropped early (``Tracker.wants_success``) or all kept. In both runs one failure makes a login
    a `compromised` alert and the correlator's failure memory is cut to 30 s, so that a hundred logins are
    decided by the policy's records, not by that memory (the evicted set: test_parser_correlate.py)."""
    log, _ = generated
    monkeypatch.setattr(correlate, "LOST_WINDOW", 30.0)
    data = log.read_bytes()
    cuts = [data.rfind(b"\n", 0, len(data) * k // 4) + 1 for k in (1, 2, 3)] + [len(data)]

    def scans(name: str) -> list[dict]:
        path = tmp_path / name / "mail.log"
        path.parent.mkdir()
        cfg = Config(
            {"logs": [str(path)], "state_dir": str(tmp_path / name / "state"), "syslog": False,
             "compromised_min_failures": 1}
        )  # fmt: skip
        results, done = [], 0
        for cut in cuts:
            with path.open("ab") as fh:
                fh.write(data[done:cut])
            done = cut
            results.append(api.scan(cfg, dry_run=True, now=NOW, warn=lambda _msg: None))
        return results

    dropping = scans("dropping")
    monkeypatch.setattr(Tracker, "wants_success", lambda *_: True)
    keeping = scans("keeping")
    decided = ("offenders", "accounts", "timeline")
    assert [[r[k] for k in decided] for r in dropping] == [[r[k] for k in decided] for r in keeping]
    assert any(a["alert"] == "compromised" for r in dropping for a in r["accounts"])  # logins did matter
    assert sum(r["stats"]["events"] for r in dropping) < sum(r["stats"]["events"] for r in keeping)


@pytest.fixture(scope="module")
def attack(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """genlog's attack profile (issue 14): ~300 attackers, each smtpd failure named by a Plesk line."""
    log = tmp_path_factory.mktemp("attack") / "mail.log"
    truth = log.with_suffix(".truth.json")
    cmd = [sys.executable, str(GENLOG), "--lines", "20000", "--out", str(log), "--seed", "3", "--profile",
           "attack", "--truth", str(truth)]  # fmt: skip
    subprocess.run(cmd, check=True, timeout=120)
    return log, json.loads(truth.read_text())


def decided(batches, *, prompt: bool) -> tuple:
    """(failures per address, the tracker's decisions) of a scan's pipeline over ``batches``."""
    tracker = Tracker(PolicyConfig())
    pipeline = Pipeline(None, now=NOW, prompt=prompt, needs_user=tracker.needs_user,
                        success_policy=tracker.wants_success)  # fmt: skip
    events = []
    for first, batch in batches:
        released = pipeline.feed_batch(first, batch)
        events += released
        tracker.feed(released, NOW)
    released = pipeline.flush(NOW - HOLD)
    events += released
    tracker.feed(released, NOW)
    offenders = sorted(
        (o.ip, o.failures, o.decision, o.bans) for o in tracker.decide(NOW, everything=True).offenders
    )
    return tally(events)[0], offenders


def test_prompt_release_decides_as_holding_did_and_line_by_line_as_in_blocks(attack: tuple) -> None:
    """The fast path (a whole block at once: a userless smtpd failure waits for Plesk's username until the
    block ends, so no detail event) and the reference paths (one line per batch, as the follow daemon reads:
    a detail event per late username; and the holding correlator of before issue 14) give the same counts
    (genlog's truth) and the same decisions."""
    log, truth = attack
    blocks = list(FileSource(str(log), None, from_start=True).batches())
    lines = log.read_bytes().decode("utf-8", "replace").split("\n")[:-1]
    one_by_one = [(n, [text]) for n, text in enumerate(lines, 1)]
    fast = decided(blocks, prompt=True)
    assert fast[0] == truth["attempts"]
    assert decided(one_by_one, prompt=True) == fast
    assert decided(blocks, prompt=False) == fast
    assert sum(1 for o in fast[1] if o[2] == "ban") > 50
