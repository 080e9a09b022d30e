"""parse_line against the annotated case files tests/data/parser/*.cases (a line of log, a line of JSON).

An admin adds a case by pasting the log line and writing what it means; no Python. Every case is also checked
with CRLF and with its syslog header cut off (the journal's MESSAGE has none).
"""

from __future__ import annotations

import calendar
import json
from datetime import timezone
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from mail_bruteforce_guard.parser.lines import Record, parse_line
from mail_bruteforce_guard.parser.timestamps import TimestampParser

CASES_DIR = Path(__file__).resolve().parents[2] / "data" / "parser"
NOW = float(calendar.timegm((2026, 11, 26, 12, 0, 0)))
TS = TimestampParser(NOW, timezone.utc)
REQUIRED = ("kind", "ip", "user", "count", "service", "protocol")  # every recognised case states these
OPTIONAL = ("pid", "host", "session", "extra", "driver")  # stated only where a case pins them


class Case(NamedTuple):
    """One annotated log line: where it is written, the line, what parse_line must return (None: nothing)."""

    where: str
    line: str
    expected: dict[str, Any] | None


def load_cases(path: Path) -> list[Case]:
    """The cases of one file; a malformed file fails with the file and line number, not a pairing drift."""
    cases: list[Case] = []
    pending: tuple[int, str] | None = None
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not text.strip() or text.startswith("#"):
            continue
        where = f"{path.name}:{number}"
        if pending is None:
            if text.startswith("{") or text == "null":
                raise AssertionError(f"{where}: JSON without a log line before it")
            pending = (number, text)
            continue
        try:
            expected = json.loads(text)
        except json.JSONDecodeError as err:
            raise AssertionError(f"{where}: a log line must be followed by its JSON: {err}") from None
        if expected is not None:
            if not isinstance(expected, dict):
                raise AssertionError(f"{where}: expected a JSON object or null")
            unknown = set(expected) - set(REQUIRED) - set(OPTIONAL)
            missing = set(REQUIRED) - set(expected)
            if unknown or missing:
                raise AssertionError(f"{where}: unknown keys {sorted(unknown)}, missing {sorted(missing)}")
        cases.append(Case(f"{path.name}:{pending[0]}", pending[1], expected))
        pending = None
    if pending is not None:
        raise AssertionError(f"{path.name}:{pending[0]}: log line without its JSON line")
    return cases


CASES = [case for path in sorted(CASES_DIR.glob("*.cases")) for case in load_cases(path)]
RECOGNISED = [case for case in CASES if case.expected is not None]
IGNORED = [case for case in CASES if case.expected is None]


def _check(line: str, expected: dict[str, Any]) -> Record:
    rec = parse_line(line, TS)
    assert rec is not None, line
    assert {key: getattr(rec, key) for key in expected} == expected
    return rec


def test_the_case_files_are_read() -> None:
    """Guards the loader itself: an empty glob or a pairing bug would make every parametrized test vanish."""
    names = {path.name for path in CASES_DIR.glob("*.cases")}
    assert names >= {"postfix.cases", "dovecot.cases", "plesk.cases", "ignored.cases"}
    assert len(RECOGNISED) >= 50 and len(IGNORED) >= 20


@pytest.mark.parametrize("case", RECOGNISED, ids=[case.where for case in RECOGNISED])
def test_recognised(case: Case) -> None:
    assert case.expected is not None
    _check(case.line, case.expected)


@pytest.mark.parametrize("case", RECOGNISED, ids=[case.where for case in RECOGNISED])
def test_recognised_with_crlf_and_without_header(case: Case) -> None:
    assert case.expected is not None
    assert _check(case.line + "\r\n", case.expected) == parse_line(case.line, TS)
    # the same line with its timestamp and host cut off still parses, with no time
    when, pos = TS.split(case.line)
    if when is not None:
        text = case.line[pos:]
        if not text.split(" ", 1)[0].endswith(":"):
            text = text.split(" ", 1)[1]
        headless = {key: value for key, value in case.expected.items() if key != "host"}  # the header held it
        assert _check(text, headless).time is None


@pytest.mark.parametrize("case", IGNORED, ids=[case.where for case in IGNORED])
def test_ignored(case: Case) -> None:
    assert parse_line(case.line, TS) is None


def test_the_header_gives_the_time() -> None:
    first = next(case for case in RECOGNISED if case.where.startswith("postfix.cases"))
    rec = parse_line(first.line, TS)
    assert rec is not None and rec.time == calendar.timegm((2026, 8, 12, 8, 8, 18))


@pytest.mark.parametrize(
    "path", ["missing-json.cases", "json-first.cases", "bad-key.cases", "not-json.cases"]
)
def test_a_malformed_case_file_names_the_line(tmp_path: Path, path: str) -> None:
    bodies = {
        "missing-json.cases": "# c\nNov 26 08:00:00 mail postfix/smtpd[1]: connect from unknown[192.0.2.1]\n",
        "json-first.cases": "null\n",
        "bad-key.cases": "x\n" + json.dumps(dict.fromkeys(REQUIRED) | {"ipp": None}) + "\n",
        "not-json.cases": "x\ny\n",
    }
    file = tmp_path / path
    file.write_text(bodies[path])
    with pytest.raises(AssertionError, match=rf"{path}:\d+: "):
        load_cases(file)
