"""Generated traffic and its truth for the tests: run genlog.py; tally events the way its truth counts.

Importable by the tests (pytest's ``pythonpath`` holds tests/bench); the events are the parser's Events.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

GENLOG = Path(__file__).resolve().parent / "genlog.py"


def generate(log: Path, lines: int, seed: int, fmt: str = "rfc3164") -> dict:
    """Write ``lines`` generated lines to ``log`` (deterministic per seed); return genlog's truth."""
    truth = log.with_suffix(".truth.json")
    cmd = [sys.executable, str(GENLOG), "--lines", str(lines), "--out", str(log), "--format", fmt,
           "--seed", str(seed), "--truth", str(truth)]  # fmt: skip
    subprocess.run(cmd, check=True, timeout=120)
    return json.loads(truth.read_text())


def tally(events: list) -> tuple[dict, dict]:
    """(failed attempts, successful logins) per address, as in genlog's truth ``attempts`` / ``successes``."""
    fail: Counter = Counter()
    ok: Counter = Counter()
    for e in events:
        if e.kind == "auth_failure":
            fail[e.ip] += e.count
        elif e.kind == "auth_success":
            ok[e.ip] += e.count
    return dict(fail), dict(ok)
