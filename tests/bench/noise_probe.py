"""How much this machine disturbs short and long runs: the figures behind docs/benchmarks.md on the ratio.

    python tests/bench/noise_probe.py [--minutes 10] [--lines 1000000] [--workdir DIR]

Rounds of three children, one after the other, for ``--minutes``: the detector's ``scan --from-start`` of
bench_scan's log (about a second), a pure-Python loop of about 0.4 s, and ``fail2ban-regex`` with the dovecot
filter on the log's first 30 MB (about three seconds). Each child's CPU time comes from its rusage; the
report gives, per child, the fastest, median and slowest run and the coefficient of variation (standard
deviation / mean), and the correlation of the detector's times with fail2ban-regex's. A host whose busy
moments are short disturbs short runs more than long ones, which average over them.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench_scan import GENLOG, detector_command, fail2ban_python, last_time, run_child

LOOP = "x = 0\nfor i in range(8_000_000):\n    x += i\nd = {str(i): i for i in range(300_000)}\n"
SLICE_BYTES = 30 << 20


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--workdir", help="keep the files here (default: a temporary directory, removed)")
    args = ap.parse_args(argv)
    exe = shutil.which("fail2ban-regex")
    if exe is None:
        raise SystemExit("noise_probe: fail2ban-regex is not installed (apt-get install fail2ban)")
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="mbg-probe-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        log = workdir / "mail.log"
        gen = [sys.executable, str(GENLOG), "--lines", str(args.lines), "--out", str(log), "--seed", "1"]
        subprocess.run(gen, check=True)
        part = workdir / "slice.log"
        with log.open("rb") as src:
            data = src.read(SLICE_BYTES)
        part.write_bytes(data[: data.rfind(b"\n") + 1])
        now = (last_time(log) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        python = fail2ban_python(exe)
        scan_name = f"detector scan, {args.lines:,} lines"
        children = {
            scan_name: [
                *detector_command(python, workdir),
                *("scan", "--log", str(log), "--state", str(workdir / "state"), "--dry-run", "--json"),
                *("--from-start", "--now", now),
            ],
            "pure-Python loop": [python, "-IS", "-c", LOOP],
            "fail2ban-regex dovecot, 30 MB": [
                *(exe, "--print-no-missed", "--print-no-ignored", str(part), "dovecot")
            ],
        }
        cpu: dict[str, list[float]] = {name: [] for name in children}
        end = time.monotonic() + args.minutes * 60
        while time.monotonic() < end or not cpu["pure-Python loop"]:
            for name, cmd in children.items():
                run = run_child(cmd)
                if run.code != 0:
                    raise SystemExit(f"noise_probe: {name} failed ({run.code}): {run.err.strip()[:300]}")
                cpu[name].append(run.cpu)
        rounds = len(cpu["pure-Python loop"])
        print(f"\nnoise probe: {rounds} rounds in {args.minutes:g} minutes (CPU seconds per run)")
        for name, times in cpu.items():
            cv = statistics.pstdev(times) / statistics.fmean(times)
            print(
                f"  {name:32} fastest {min(times):6.2f}  median {statistics.median(times):6.2f}"
                f"  slowest {max(times):6.2f}  variation {cv:5.1%}"
            )
        if rounds > 2:
            r = statistics.correlation(cpu[scan_name], cpu["fail2ban-regex dovecot, 30 MB"])
            print(f"  correlation detector / fail2ban-regex: {r:.2f}")
        return 0
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
