"""The floor under the detector's speed: the least a Python reader of a mail log has to do per line, counted
in instructions next to the detector's own scan of the same log (issue 14's 20x target, docs/benchmarks.md).

    python tests/bench/floor.py [--lines 100000] [--workdir DIR]

For each profile of tests/bench/genlog.py it writes a log of ``--lines`` lines and one of a tenth of them,
then counts (valgrind's cachegrind: exact, whatever the machine's load) the instructions of

* ``floor``: this file's ``read_floor``: the log read in 1 MB blocks, the detector's own gate
  (``parser.gate.Gate``: the byte searches that skip most lines), each candidate line decoded, its time stamp
  looked up in the detector's per-second cache, its syslog header found and looked up, one regex over its
  message for an address, and a counter per address. Nothing else: no correlation (Plesk's late username,
  Dovecot's login and auth lines, smtpd sessions), no policy (windows, accounts, known clients, pre-auth), no
  output;
* ``scan``: ``mail-bruteforce-guard scan --from-start --dry-run --json``, as ``make bench`` runs it,

and prints each one's instructions per line: the difference between the two logs over the difference of
their lines, so that start-up and imports drop out. Both run as ``make bench`` runs the detector:
``/usr/bin/python3 -IS``, the cyclic collector off. Needs valgrind.
"""

from __future__ import annotations

import argparse
import gc
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIBRARY = HERE.parents[1] / "plugins" / "module_utils"
PYTHON = "/usr/bin/python3"  # the interpreter of Debian's fail2ban-regex, as make bench finds it
PROFILES = ("mixed", "attack")
BLOCK = 1 << 20

# one regex per candidate message: the address of a Postfix SASL failure or summary, of a Dovecot line
# (its "rip="), or the username of a Plesk line
MESSAGE_RE = re.compile(
    r"(?:warning: [-\w.]*\[([0-9a-fA-F:.]+)\](?::\d+)?: SASL \w+ authentication failed"
    r"|disconnect from [-\w.]*\[([0-9a-fA-F:.]+)\]"
    r"|.*?rip=([0-9a-fA-F:.]+)"
    r"|failed mail authentication attempt for user '([^']*)')"
)


def read_floor(log: str) -> dict[str | None, int]:
    """The floor's whole work on ``log``: failures per address (see the module's docstring)."""
    # imported here: the library is on the path that the measured run sets up (see prelude)
    from mail_bruteforce_guard.parser.gate import Gate
    from mail_bruteforce_guard.parser.timestamps import TimestampParser

    gate = Gate.of(False, True)  # as a scan's: no informational kinds, pre-auth counted
    stamps = TimestampParser()
    seconds = stamps.seconds
    headers: dict[str, list[str]] = {}
    counts: dict[str | None, int] = {}
    with open(log, "rb") as fh:
        while True:
            data = fh.read(BLOCK)
            if not data:
                break
            data += fh.readline()  # complete lines only
            for at, stop in gate.spans(data, 0, len(data)):
                text = data[at:stop].decode("utf-8", "replace")
                if seconds.get(text[:16]) is None:
                    stamps.split_new(text)
                end = text.find(": ", 16) + 2
                head = text[16:end]
                if headers.get(head) is None:
                    headers[head] = head.split(" ", 1)
                m = MESSAGE_RE.match(text, end)
                if m is not None:
                    ip = m.group(1)
                    counts[ip] = counts.get(ip, 0) + 1
    return counts


def instructions(code: str) -> int:
    """Instructions of ``python3 -IS -c code`` (cachegrind)."""
    done = subprocess.run(
        [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
            PYTHON,
            "-IS",
            "-c",
            code,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"floor: the measured run failed: {done.stderr.strip()[-300:]}")
    return int(found.group(1).replace(",", ""))


def prelude(lib: Path) -> str:
    """What both measured runs start with: the collector off, the library first on ``sys.path``."""
    paths = f"sys.path.insert(0, {str(lib)!r}); sys.path.insert(0, {str(HERE)!r}); "
    return "import gc, sys; gc.disable(); " + paths


def floor_code(lib: Path, log: Path) -> str:
    return prelude(lib) + f"import floor; floor.read_floor({str(log)!r})"


def scan_code(lib: Path, log: Path, state: Path) -> str:
    argv = ["mbg", "scan", "--from-start", "--dry-run", "--json", "--state", str(state), "--log", str(log)]
    return (
        prelude(lib)
        + "import io, contextlib; from mail_bruteforce_guard.detector.cli import main; "
        + f"sys.argv = {argv!r}; out = io.StringIO(); contextlib.redirect_stdout(out).__enter__(); main()"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("floor: valgrind is needed (apt-get install valgrind)", file=sys.stderr)
        return 2
    if args.lines < 20:
        print("floor: --lines must be at least 20", file=sys.stderr)
        return 2
    work = args.workdir or Path(tempfile.mkdtemp(prefix="mbg-floor-"))
    lib = work / "lib"
    lib.mkdir(parents=True, exist_ok=True)
    if not (lib / "mail_bruteforce_guard").exists():
        (lib / "mail_bruteforce_guard").symlink_to(LIBRARY, target_is_directory=True)
    small = args.lines // 10
    print(f"instructions per line ({args.lines:,}-line log minus a {small:,}-line one), {PYTHON} -IS")
    for profile in PROFILES:
        logs = {}
        for n in (small, args.lines):
            logs[n] = work / f"{profile}-{n}.log"
            subprocess.run(
                [
                    sys.executable,
                    str(HERE / "genlog.py"),
                    "--lines",
                    str(n),
                    "--out",
                    str(logs[n]),
                    "--profile",
                    profile,
                ],
                check=True,
            )
        row = {}
        for name in ("floor", "scan"):
            counts = []
            for n in (small, args.lines):
                state = work / f"state-{profile}-{n}"
                shutil.rmtree(state, ignore_errors=True)
                code = floor_code(lib, logs[n]) if name == "floor" else scan_code(lib, logs[n], state)
                counts.append(instructions(code))
            row[name] = (counts[1] - counts[0]) / (args.lines - small)
        print(
            f"  {profile:7} floor {row['floor']:8,.0f}   scan {row['scan']:8,.0f}"
            f"   scan above the floor {row['scan'] - row['floor']:8,.0f}"
        )
    return 0


if __name__ == "__main__":
    gc.disable()
    sys.exit(main())
