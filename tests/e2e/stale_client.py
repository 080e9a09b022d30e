"""A stale mail client for the end-to-end scenario: a phone that logged in once, then keeps an old password.

Runs inside the client container (stdlib only, Python >= 3.9) against the project's own mail containers:

    stale_client.py --target mbg-mail3 --user alice@example.com --password PW --old-password OLD \
                    --every 20 --attempts 8

Logs in to IMAP (143) with the right password once, then every ``--every`` seconds connects again and sends
LOGIN with the old password, ``--attempts`` times. Every connection must be answered and every old-password
LOGIN refused: a connection that times out means the guard banned the client (exit 1). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from client import ClientError, LoginRefusedError, imap_login, private_address


def bounded(low: int, high: int):
    """An argparse type: an integer from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer from {low} to {high}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be an integer from {low} to {high}")
        return value

    return parse


def login(address: str, user: str, password: str, timeout: float) -> bool:
    """One IMAP connection and LOGIN: True when accepted, False when refused; ClientError when the server
    cannot be reached (a ban drops the packets: the connection times out)."""
    try:
        with imap_login(address, user, password, timeout=timeout, unreachable=" (banned?)"):
            return True
    except LoginRefusedError:
        return False


def main(argv: list[str] | None = None) -> int:
    """Entry point; one clear line and a non-zero exit on failure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--target", required=True, help="mail host")
    parser.add_argument("--user", required=True, help="login")
    parser.add_argument("--password", required=True, help="the user's (test) password")
    parser.add_argument("--old-password", required=True, help="the password the stale client still holds")
    parser.add_argument("--every", type=bounded(1, 300), default=20, help="seconds between attempts")
    parser.add_argument("--attempts", type=bounded(1, 50), default=8, help="old-password attempts")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per connection")
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        address = private_address(args.target)
        if not login(address, args.user, args.password, args.timeout):
            raise ClientError("the right password was refused")
        for attempt in range(args.attempts):
            time.sleep(max(0.0, start + (attempt + 1) * args.every - time.monotonic()))
            if login(address, args.user, args.old_password, args.timeout):
                raise ClientError("the old password was accepted")
    except ClientError as exc:
        print(f"stale_client.py: error: {args.target}: {exc}", file=sys.stderr)
        return 1
    seconds = round(time.monotonic() - start)
    done = {"target": args.target, "user": args.user, "refused": args.attempts, "seconds": seconds}
    print(json.dumps(done))
    return 0


if __name__ == "__main__":
    sys.exit(main())
