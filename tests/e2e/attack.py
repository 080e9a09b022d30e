"""Test attacker for the end-to-end scenario: real SMTP AUTH and IMAP logins with wrong passwords.

Runs inside the attacker container (stdlib only, Python >= 3.9) against the project's own mail
containers on the private podman network, never anywhere else: every target must resolve to a
private address and the attempt count is bounded.

    attack.py attack --target mbg-mail1 --target mbg-mail2 --user alice@example.com
    attack.py probe --target mbg-mail1 --port 587 --port 143 --expect blocked

`attack` prints one JSON summary and exits 0 when every target refused at least one login (so the
servers really logged authentication failures); `probe` opens plain TCP connections and exits 0
when every port matches --expect (`open` or `blocked`, i.e. the connection timed out).
"""

from __future__ import annotations

import argparse
import contextlib
import imaplib
import ipaddress
import json
import secrets
import smtplib
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor

MAX_ATTEMPTS = 50  # per protocol and target: a test, not a flood
SMTP_PORT = 587
IMAP_PORT = 143


class UsageError(Exception):
    """Bad arguments or a target outside the private test network."""


def resolve_private(host: str) -> str:
    """Return the target's IPv4/IPv6 address; refuse anything that is not a private address."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise UsageError(f"cannot resolve {host}: {exc}") from None
    addresses = sorted({info[4][0] for info in infos})
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not ip.is_private or ip.is_loopback:
            raise UsageError(f"{host} resolves to {address}, which is not a private test address")
    return addresses[0]


def smtp_attempt(host: str, user: str, mechanism: str, timeout: float) -> str:
    """One SMTP AUTH with a wrong password on the submission port; returns the outcome."""
    password = "wrong-" + secrets.token_hex(4)
    try:
        with smtplib.SMTP(host, SMTP_PORT, local_hostname="attacker.invalid", timeout=timeout) as smtp:
            smtp.ehlo()
            smtp.user, smtp.password = user, password
            authobject = smtp.auth_plain if mechanism == "PLAIN" else smtp.auth_login
            try:
                smtp.auth(mechanism, authobject, initial_response_ok=mechanism == "PLAIN")
            except smtplib.SMTPAuthenticationError as exc:
                return f"refused {exc.smtp_code}"
            return "accepted"
    except smtplib.SMTPNotSupportedError:
        return "error: AUTH not offered"
    except (OSError, smtplib.SMTPException) as exc:
        return f"error: {type(exc).__name__}"


def imap_attempt(host: str, user: str, timeout: float) -> str:
    """One IMAP LOGIN with a wrong password on port 143; returns the outcome."""
    password = "wrong-" + secrets.token_hex(4)
    try:
        imap = imaplib.IMAP4(host, IMAP_PORT, timeout=timeout)
    except (OSError, imaplib.IMAP4.error) as exc:
        return f"error: {type(exc).__name__}"
    try:
        imap.login(user, password)
    except imaplib.IMAP4.error:
        return "refused NO"
    except OSError as exc:
        return f"error: {type(exc).__name__}"
    else:
        return "accepted"
    finally:
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            imap.logout()


def run_attack(args: argparse.Namespace) -> int:
    """Fire the bounded set of attempts in parallel and summarise them per target."""
    jobs = []
    for target in args.target:
        for i in range(args.smtp):
            user = args.user[i % len(args.user)]
            mechanism = "LOGIN" if i % 2 else "PLAIN"
            jobs.append((target, "smtp", user, mechanism))
        for i in range(args.imap):
            jobs.append((target, "imap", args.user[i % len(args.user)], "LOGIN"))

    def attempt(job: tuple[str, str, str, str]) -> tuple[str, str, str]:
        target, proto, user, mechanism = job
        address = args.resolved[target]
        if proto == "smtp":
            return target, proto, smtp_attempt(address, user, mechanism, args.timeout)
        return target, proto, imap_attempt(address, user, args.timeout)

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        results = list(pool.map(attempt, jobs))
    summary: dict[str, dict] = {}
    for target, proto, outcome in results:
        per = summary.setdefault(target, {"address": args.resolved[target]})
        counts = per.setdefault(proto, {})
        counts[outcome] = counts.get(outcome, 0) + 1
    refused_everywhere = all(
        sum(n for proto in ("smtp", "imap") for o, n in per.get(proto, {}).items() if o.startswith("refused"))
        for per in summary.values()
    )
    accepted = any(
        n
        for per in summary.values()
        for proto in ("smtp", "imap")
        for o, n in per.get(proto, {}).items()
        if o == "accepted"
    )
    print(
        json.dumps(
            {
                "action": "attack",
                "users": args.user,
                "attempts": len(jobs),
                "seconds": round(time.monotonic() - start, 1),
                "targets": summary,
            },
            sort_keys=True,
        )
    )
    if accepted:
        print("attack.py: a wrong password was accepted", file=sys.stderr)
        return 1
    if not refused_everywhere:
        print("attack.py: some target never refused a login (is it up?)", file=sys.stderr)
        return 1
    return 0


def tcp_state(address: str, port: int, timeout: float) -> str:
    """'open', 'blocked' (no answer within timeout: dropped) or 'refused' (RST)."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return "open"
    except socket.timeout:
        return "blocked"
    except ConnectionRefusedError:
        return "refused"
    except OSError as exc:
        return f"error: {type(exc).__name__}"


def run_probe(args: argparse.Namespace) -> int:
    """Try one new TCP connection per target and port; compare with --expect."""
    jobs = [(t, p) for t in args.target for p in args.port]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        states = list(pool.map(lambda job: tcp_state(args.resolved[job[0]], job[1], args.timeout), jobs))
    result: dict[str, dict] = {}
    for (target, port), state in zip(jobs, states):
        result.setdefault(target, {"address": args.resolved[target]})[str(port)] = state
    print(json.dumps({"action": "probe", "expect": args.expect, "targets": result}, sort_keys=True))
    wrong = [f"{t}:{p}={s}" for (t, p), s in zip(jobs, states) if s != args.expect]
    if wrong:
        print(f"attack.py: expected {args.expect}, got {', '.join(wrong)}", file=sys.stderr)
        return 1
    return 0


def bounded(value: str) -> int:
    """An attempt count between 0 and MAX_ATTEMPTS."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0 <= number <= MAX_ATTEMPTS:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_ATTEMPTS}")
    return number


def build_parser() -> argparse.ArgumentParser:
    """Command line: `attack` and `probe`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    sub = parser.add_subparsers(dest="action", required=True)
    attack = sub.add_parser("attack", help="wrong-password SMTP AUTH (587) and IMAP (143) logins")
    attack.add_argument("--target", action="append", required=True, help="mail host (repeatable)")
    attack.add_argument("--user", action="append", help="username to try (repeatable)")
    attack.add_argument("--smtp", type=bounded, default=10, help="SMTP AUTH attempts per target")
    attack.add_argument("--imap", type=bounded, default=5, help="IMAP LOGIN attempts per target")
    attack.add_argument("--workers", type=int, default=15, help="parallel connections")
    attack.add_argument("--timeout", type=float, default=30.0, help="seconds per connection")
    probe = sub.add_parser("probe", help="one new TCP connection per port")
    probe.add_argument("--target", action="append", required=True, help="mail host (repeatable)")
    probe.add_argument("--port", action="append", type=int, required=True, help="TCP port (repeatable)")
    probe.add_argument("--expect", choices=("open", "blocked"), required=True)
    probe.add_argument("--timeout", type=float, default=3.0, help="seconds until a connection is blocked")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; one clear line and a non-zero exit on bad input."""
    args = build_parser().parse_args(argv)
    try:
        if args.action == "attack":
            args.user = args.user or ["alice@example.com"]
            if not 1 <= args.workers <= 32:
                raise UsageError("--workers must be between 1 and 32")
        args.resolved = {target: resolve_private(target) for target in args.target}
    except UsageError as exc:
        print(f"attack.py: error: {exc}", file=sys.stderr)
        return 2
    return run_attack(args) if args.action == "attack" else run_probe(args)


if __name__ == "__main__":
    sys.exit(main())
