"""Print the deploy timings the adopt tests measured (README quotes them)."""

from __future__ import annotations

from test_adopt import TIMINGS


def pytest_terminal_summary(terminalreporter) -> None:
    if TIMINGS:
        terminalreporter.section("deploy timings (one host, podman exec)")
        for line in TIMINGS:
            terminalreporter.line(line)
