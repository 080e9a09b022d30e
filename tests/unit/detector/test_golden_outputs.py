"""Golden outputs: ``parse --json`` and ``scan --from-start --dry-run --json`` on generated logs of both
genlog profiles, byte for byte (issue 18: behaviour does not move while the code is reshaped or made faster).

The logs are generated (tests/bench/genlog.py, seed 1, deterministic) and not committed; the golden files in
tests/data/golden/ are the CLI's output, gzipped, with the scan's timing (``stats.seconds``) removed, and a
manifest with the SHA-256 of each generated log (so a change to genlog is reported as that, not as a change
of the detector's answers).

When a change of behaviour is intended, rewrite them and review the diff of the decompressed files:

    MBG_REGEN_GOLDEN=1 scripts/in-netns.sh .venv/bin/pytest tests/unit/detector/test_golden_outputs.py
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from truth import GENLOG

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden"
MANIFEST = GOLDEN / "manifest.json"
REGEN = os.environ.get("MBG_REGEN_GOLDEN") == "1"
CLI = str(Path(sys.executable).parent / "mail-bruteforce-guard")
NOW = "2026-11-27T00:00:00Z"  # after the generated traffic (it starts 2026-11-25T00:00:00Z)
LINES = 25000
PROFILES = ("mixed", "attack")
# zoneless RFC 3164 stamps are read in the local zone: pinned, so the golden times hold on any machine
ENV = {**os.environ, "TZ": "UTC"}


def _cli(cwd: Path, *args: str) -> bytes:
    proc = subprocess.run([CLI, *args], cwd=cwd, env=ENV, capture_output=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    assert not proc.stderr, proc.stderr.decode("utf-8", "replace")
    return proc.stdout


def _scan_without_timing(out: bytes) -> bytes:
    """The scan's JSON without ``stats.seconds`` (the only part that is not a function of the input), in the
    CLI's own key order."""
    result = json.loads(out)
    del result["stats"]["seconds"]
    return (json.dumps(result, indent=1) + "\n").encode("ascii")


@pytest.fixture(scope="module", params=PROFILES)
def outputs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    profile = request.param
    work = tmp_path_factory.mktemp(f"golden-{profile}")
    log = work / f"{profile}.log"  # a relative name on the command line: parse prints it in every event
    cmd = [sys.executable, str(GENLOG), "--lines", str(LINES), "--out", str(log), "--profile", profile]
    subprocess.run(cmd, check=True, timeout=120)
    (work / "config.json").write_text("{}\n")  # the defaults, whatever /etc holds
    parsed = _cli(work, "parse", "--json", "--now", NOW, log.name)
    scanned = _cli(work, "scan", "--config", "config.json", "--log", log.name, "--state", "state",
                   "--from-start", "--dry-run", "--json", "--now", NOW)  # fmt: skip
    digest = hashlib.sha256(log.read_bytes()).hexdigest()
    return profile, digest, {"parse.jsonl": parsed, "scan.json": _scan_without_timing(scanned)}


def _first_difference(got: bytes, want: bytes) -> str:
    for number, (a, b) in enumerate(zip(got.splitlines(), want.splitlines()), 1):
        if a != b:
            return f"line {number}:\n got  {a[:300]!r}\n want {b[:300]!r}"
    return f"lengths differ: {len(got.splitlines())} lines, golden {len(want.splitlines())}"


def test_outputs_match_the_golden_files(outputs: tuple) -> None:
    profile, digest, produced = outputs
    manifest = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}
    if REGEN:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for name, data in produced.items():
            (GOLDEN / f"{profile}.{name}.gz").write_bytes(gzip.compress(data, 9, mtime=0))
        manifest[profile] = {"lines": LINES, "seed": 1, "now": NOW, "log_sha256": digest}
        MANIFEST.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        return
    entry = manifest.get(profile)
    assert entry is not None, f"no golden files for {profile}: run with MBG_REGEN_GOLDEN=1"
    assert entry["log_sha256"] == digest, (
        f"genlog.py --profile {profile} writes another log than the golden files were made from: "
        "if genlog changed on purpose, regenerate them (MBG_REGEN_GOLDEN=1, see this module's docstring)"
    )
    for name, data in produced.items():
        want = gzip.decompress((GOLDEN / f"{profile}.{name}.gz").read_bytes())
        assert data == want, f"{profile}.{name} differs from its golden file, {_first_difference(data, want)}"


def test_the_golden_files_are_small_and_not_trivial() -> None:
    """The golden files stay small in the repository and really hold decisions (bans) and events."""
    for profile in PROFILES:
        for name in ("parse.jsonl", "scan.json"):
            path = GOLDEN / f"{profile}.{name}.gz"
            assert path.stat().st_size < 200_000, path
        scan = json.loads(gzip.decompress((GOLDEN / f"{profile}.scan.json.gz").read_bytes()))
        assert sum(o["decision"] == "ban" for o in scan["offenders"]) >= 20
        assert scan["stats"]["lines"] == LINES
        parsed = gzip.decompress((GOLDEN / f"{profile}.parse.jsonl.gz").read_bytes()).splitlines()
        assert len(parsed) > 1000
