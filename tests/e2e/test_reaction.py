"""tests/e2e/reaction.py: which failure crosses maxretry, and the measured time (molecule `mail` runs it for
real against the kernel's ban set)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("mbg_e2e_reaction", HERE / "reaction.py")
reaction = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reaction)

IP = "10.89.0.7"


def _failure(line: int, second: int, ip: str = IP, count: int = 1, kind: str = "auth_failure") -> dict:
    stamp = f"2026-12-06T07:00:{second:02d}.250000Z"
    return {"line": line, "time": stamp, "ip": ip, "kind": kind, "count": count}


def test_the_failure_that_reaches_maxretry_counts_attempts_and_skips_others():
    events = [
        _failure(1, 1),
        _failure(2, 2, ip="10.89.0.8"),  # another address
        _failure(3, 3, kind="auth_success"),
        _failure(4, 4, count=2),  # "auth failed, 2 attempts"
        _failure(5, 5),
        _failure(6, 6),
    ]
    found = reaction.crossing(events, IP, 4)
    assert found == reaction.Crossing(5, 1796540405.25, 4)
    assert reaction.crossing(events, IP, 6) is None
    assert reaction.crossing([{**_failure(1, 1), "time": None}], IP, 1) is None


def test_watch_returns_when_the_probe_succeeds_and_gives_up_at_the_timeout():
    assert reaction.watch([sys.executable, "-c", "pass"], timeout=5, every=0.01) is not None
    assert reaction.watch([sys.executable, "-c", "raise SystemExit(1)"], timeout=0.2, every=0.05) is None


def test_measure_prints_the_reaction_from_the_detectors_own_parse(tmp_path, capsys):
    launcher = tmp_path / "launcher"
    events = [_failure(n, n) for n in range(1, 6)]
    launcher.write_text(
        f"#!{sys.executable}\nimport sys\n" + "".join(f"print({json.dumps(json.dumps(e))})\n" for e in events)
    )
    launcher.chmod(0o755)
    banned = tmp_path / "banned-at"
    banned.write_text("1796540405.000000\n")
    argv = ["measure", f"--ip={IP}", "--maxretry=4", f"--banned-at={banned}", f"--launcher={launcher}"]
    assert reaction.main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["crossing_line"] == 4
    assert result["reaction_seconds"] == 0.75
    assert reaction.main([*argv[:3], f"--banned-at={tmp_path / 'missing'}", argv[4]]) == 1
    assert "no ban time" in capsys.readouterr().err
