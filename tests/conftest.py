"""Session-wide rule for CI: under MBG_REQUIRE_NETNS=1 a skipped test fails the run unless its reason is in
tests/allowed-skips.txt (the one list of skips CI accepts, each with why)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ALLOWED = Path(__file__).with_name("allowed-skips.txt")
_unlisted: list[str] = []


def _allowed_reasons() -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in ALLOWED.read_text().splitlines())
    return [line for line in lines if line]


def _required() -> bool:
    return os.environ.get("MBG_REQUIRE_NETNS") == "1"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not (_required() and report.skipped) or hasattr(report, "wasxfail"):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    if not any(allowed in reason for allowed in _allowed_reasons()):
        _unlisted.append(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _unlisted and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    if _unlisted:
        terminalreporter.section("skips CI does not accept (MBG_REQUIRE_NETNS=1, tests/allowed-skips.txt)")
        for line in _unlisted:
            terminalreporter.line(line)
