"""Measure the guard's reaction time on a mail host: from the log line of the failure that crosses maxretry to
the attacker's address being in the kernel's ban set.

Runs on the mail host (stdlib only, Python >= 3.9), as root:

    reaction.py watch --ip 10.89.0.5 --out /tmp/mbg-banned-at [--set mbg_ban_v4] [--timeout 180]
    reaction.py measure --ip 10.89.0.5 --maxretry 4 --banned-at /tmp/mbg-banned-at [--log /var/log/mail.log]

``watch`` (started before the attack) asks the kernel every 20 ms (``ipset test SET IP``) and writes the
POSIX time of the first answer "in set" to ``--out``; exit 1 when ``--timeout`` passes first. ``measure``
(after the ban) counts the address's attempts by their first log line - Dovecot's auth process logs each
failed password (``auth: passwd-file(USER,IP): Password mismatch`` or ``unknown user``) before Postfix or
imap-login say anything, for SMTP AUTH and IMAP alike - takes the one that brings the count to
``--maxretry`` and prints one JSON line: its log line and time, the time the address was seen in the set, and
the difference in seconds. Exit 1 when something is missing. (The detector's ``parse`` gives each attempt the
time of its last line, seconds later for a slow attempt: not the moment the failure could first be counted.)
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple


class Crossing(NamedTuple):
    """The failure that brought the address's count to maxretry."""

    line: int
    time: float
    count: int


# rsyslog's RFC 3339 stamp, host, then Dovecot's auth process line for a failed password (any passdb)
AUTH_FAILURE = re.compile(
    r"(?P<time>\d{4}-\d\d-\d\dT\S+) \S+ dovecot(?:\[\d+\])?: auth: [\w-]+\("
    r"(?P<user>[^,()]*),(?P<ip>[0-9A-Fa-f.:]+)(?:,<[^>]*>)?\): (?:Password mismatch|unknown user)"
)


def crossing(lines: Iterable[str], ip: str, maxretry: int) -> Crossing | None:
    """The auth-process failure line of ``ip`` that brings its count to ``maxretry`` (1-based line number,
    POSIX time); None when it never does."""
    total = 0
    for number, line in enumerate(lines, 1):
        match = AUTH_FAILURE.match(line)
        if match is None or match["ip"] != ip:
            continue
        total += 1
        if total >= maxretry:
            when = datetime.fromisoformat(match["time"].replace("Z", "+00:00")).timestamp()
            return Crossing(number, when, total)
    return None


def watch(argv: list[str], timeout: float, every: float) -> float | None:
    """Poll ``argv`` (exit 0: in the set) until it succeeds: the POSIX time it did, None at the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        probe = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        if probe.returncode == 0:
            return time.time()
        time.sleep(every)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("watch", help="note when the address appears in the ban set")
    p.add_argument("--ip", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--set", default="mbg_ban_v4")
    p.add_argument("--timeout", type=float, default=180.0)
    p.add_argument("--every", type=float, default=0.02)
    p = sub.add_parser("measure", help="the crossing failure's time to the ban, as one JSON line")
    p.add_argument("--ip", required=True)
    p.add_argument("--maxretry", type=int, required=True)
    p.add_argument("--banned-at", required=True)
    p.add_argument("--log", default="/var/log/mail.log")
    args = parser.parse_args(argv)

    if args.command == "watch":
        seen = watch(["ipset", "test", args.set, args.ip], args.timeout, args.every)
        if seen is None:
            print(f"reaction: {args.ip} not in {args.set} within {args.timeout:g}s", file=sys.stderr)
            return 1
        with open(args.out, "w", encoding="ascii") as out:
            out.write(f"{seen:.6f}\n")
        return 0

    try:
        with open(args.banned_at, encoding="ascii") as handle:
            banned_at = float(handle.read().strip())
    except (OSError, ValueError) as err:
        print(f"reaction: no ban time in {args.banned_at}: {err}", file=sys.stderr)
        return 1
    try:
        with open(args.log, encoding="utf-8", errors="replace") as log:
            found = crossing(log, args.ip, args.maxretry)
    except (OSError, ValueError) as err:
        print(f"reaction: cannot read {args.log}: {err}", file=sys.stderr)
        return 1
    if found is None:
        print(f"reaction: {args.ip} never reached {args.maxretry} failures in {args.log}", file=sys.stderr)
        return 1
    result = {
        "ip": args.ip,
        "crossing_line": found.line,
        "crossing_time": found.time,
        "banned_at": banned_at,
        "reaction_seconds": round(banned_at - found.time, 3),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
