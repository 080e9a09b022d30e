"""parse_text / parse_lines on generated traffic: exact attempt counts against the generator's truth."""

# ruff: noqa: E501  (real log lines are long: they stay whole, one per line, as the daemons write them)

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mail_bruteforce_guard.parser.correlate import Correlator
from mail_bruteforce_guard.parser.events import AUTH_FAILURE, Event, event_to_json, iso_utc
from mail_bruteforce_guard.parser.gate import Gate
from mail_bruteforce_guard.parser.stream import parse_lines, parse_text
from mail_bruteforce_guard.parser.timestamps import TimestampParser
from mail_bruteforce_guard.times import format_utc
from truth import GENLOG, generate, tally

NOW = 1796000000.0  # 2026-11-30, after the generated days
UTC = timezone.utc


def genlog(tmp: Path, lines: int, fmt: str, seed: int) -> tuple:
    out = tmp / f"{fmt}-{seed}.log"
    truth = generate(out, lines, seed, fmt)
    return out.read_text(encoding="utf-8"), truth


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("genlog")
    return {(fmt, seed): genlog(tmp, 40000, fmt, seed) for fmt, seed in (("rfc3164", 7), ("rfc3339", 8))}


@pytest.mark.parametrize("key", [("rfc3164", 7), ("rfc3339", 8)])
def test_every_attempt_counted_exactly_once(generated: dict, key: tuple) -> None:
    text, truth = generated[key]
    assert truth["lines"] == 40000 == text.count("\n")
    fail, ok = tally(parse_text(text, now=NOW, tz=UTC, info=False))
    assert sum(truth["attempts"].values()) > 1000  # the sample really is under attack
    assert fail == truth["attempts"]
    assert ok == truth["successes"]


def test_parse_text_and_parse_lines_agree_and_keep_line_order(generated: dict) -> None:
    text, _ = generated[("rfc3164", 7)]
    by_text = parse_text(text, now=NOW, tz=UTC)
    by_lines = list(parse_lines(text.splitlines(keepends=True), now=NOW, tz=UTC))
    assert by_text == by_lines
    assert [e.line for e in by_text] == sorted(e.line for e in by_text)
    lines = text.splitlines()
    for e in by_text[:300]:
        if e.ip is not None and ":" not in e.ip:
            assert e.ip in lines[e.line - 1]


@pytest.mark.parametrize("block", [1 << 12, 1 << 16, 1 << 20])
def test_blocks_with_saved_state_equal_one_pass(generated: dict, block: int) -> None:
    text, _ = generated[("rfc3339", 8)]
    whole = parse_text(text, now=NOW, tz=UTC)
    got: list = []
    state: dict = Correlator().to_dict()
    ts = TimestampParser(NOW, UTC)
    line, pos = 1, 0
    while pos < len(text):
        chunk = text[pos : pos + block]
        chunk = chunk[: chunk.rfind("\n") + 1] or text[pos:]
        corr = Correlator.from_dict(json.loads(json.dumps(state)))  # as a scan every minute would
        got += parse_text(chunk, start_line=line, correlator=corr, timestamps=ts)
        state = corr.to_dict()
        line += chunk.count("\n")
        pos += len(chunk)
    got += Correlator.from_dict(state).flush()
    assert got == whole


def test_gate_spans_of_text() -> None:
    text = "a\nx auth y\nb\nLogin: z\n\nsasl_username=q after AUTH\nauth"
    assert Gate.of().spans(text) == [(2, 10), (13, 21), (23, 49), (50, 54)]
    assert Gate.of(info=False).spans(text) == [(2, 10), (13, 21), (50, 54)]  # "after AUTH": info only
    assert Gate.of().spans("") == []


def test_event_to_json() -> None:
    e = Event(3, 1795680498.5, "192.0.2.1", AUTH_FAILURE, "postfix", "smtp", "bob", 2, 588)
    assert event_to_json(e) == {"line": 3, "time": "2026-11-26T08:08:18.500000Z", "ip": "192.0.2.1",
                                "kind": "auth_failure", "service": "postfix", "protocol": "smtp", "user": "bob",
                                "count": 2, "pid": 588}  # fmt: skip
    assert list(event_to_json(e)) == list(Event._fields)
    assert event_to_json(e._replace(time=None))["time"] is None
    assert iso_utc(1795680498.0) == "2026-11-26T08:08:18Z"
    assert iso_utc(1795680498.9999999) == "2026-11-26T08:08:19Z"
    json.dumps(event_to_json(e))


@settings(max_examples=2000, deadline=None)
@given(st.one_of(st.integers(0, 4102444799).map(float), st.floats(0, 4102444799, allow_nan=False)))
def test_iso_utc_is_datetimes_iso_format(when: float) -> None:
    """The cached-date formatter writes what datetime writes (microseconds rounded half to even)."""
    stamp = datetime.fromtimestamp(when, timezone.utc).isoformat().replace("+00:00", "Z")
    assert format_utc(when) == stamp
    assert iso_utc(when) == stamp
    assert iso_utc(when) == stamp  # the second time from the cache of recent stamps


# --- the generator itself -------------------------------------------------------------------------------------
def test_genlog_is_deterministic(tmp_path: Path) -> None:
    digests = []
    for seed in (3, 3, 4):
        out = tmp_path / f"{len(digests)}.log"
        subprocess.run([sys.executable, str(GENLOG), "--lines", "3000", "--out", str(out), "--seed", str(seed)],
                       check=True, timeout=60)  # fmt: skip
        digests.append(hashlib.sha256(out.read_bytes()).hexdigest())
        assert out.read_text().count("\n") == 3000
    assert digests[0] == digests[1] != digests[2]


def test_genlog_mixes_every_kind_of_traffic(generated: dict) -> None:
    text, _ = generated[("rfc3164", 7)]
    for needle in ("status=sent", "sasl_username=", "imap-login: Login:", "(no auth attempts", "plesk_saslauthd",
                   "authenticatication", "Connection lost to authentication server", "dovecot: auth: passwd-file(",
                   "(auth failed, ", "2001:db8:", "::ffff:", "too many errors after AUTH", "CRON["):  # fmt: skip
        assert needle in text, needle


@pytest.mark.parametrize(
    ("args", "code"),
    [(["--lines", "-1", "--out", "-"], 2), (["--lines", "5", "--out", "/nonexistent/dir/x.log"], 1),
     (["--lines", "5", "--out", "-", "--format", "json"], 2), (["--lines", "5", "--out", "-", "--start", "x"], 2)],
)  # fmt: skip
def test_genlog_bad_input_is_one_line(args: list, code: int) -> None:
    proc = subprocess.run(
        [sys.executable, str(GENLOG), *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == code
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(("genlog: error:", "usage:", "genlog.py: error:"))
