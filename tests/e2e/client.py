"""Legitimate mail client for the end-to-end scenario: logs in correctly, sends, and reads the mail back.

Runs inside the client container (stdlib only, Python >= 3.9) against the project's own mail containers:

    client.py --target mbg-mail1 --user alice@example.com --password PW --to bob@example.com --to-password PW2

Sends one message with a unique subject through SMTP submission (587, AUTH PLAIN), then logs in to
IMAP (143) as the recipient and waits until that message is in the INBOX. Prints one JSON line and
exits 0 only if the whole round trip worked.
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
from collections.abc import Iterator
from email.message import EmailMessage

SMTP_PORT = 587
IMAP_PORT = 143


class ClientError(Exception):
    """A step of the round trip failed; the message says which."""


def private_address(host: str) -> str:
    """The target's address, refusing anything outside the private test network."""
    try:
        address = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)[0][4][0]
    except OSError as exc:
        raise ClientError(f"cannot resolve {host}: {exc}") from None
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if not ip.is_private or ip.is_loopback:
        raise ClientError(f"{host} resolves to {address}, which is not a private test address")
    return address


def send(address: str, user: str, password: str, *, to: str, subject: str, timeout: float) -> None:
    """Authenticate on the submission port and send one message."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = user, to, subject
    message.set_content("Sent by the mail_bruteforce_guard end-to-end test client.\n")
    try:
        with smtplib.SMTP(address, SMTP_PORT, local_hostname="client.example.com", timeout=timeout) as smtp:
            smtp.ehlo()
            smtp.user, smtp.password = user, password
            smtp.auth("PLAIN", smtp.auth_plain)
            refused = smtp.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        raise ClientError(f"SMTP AUTH refused: {exc.smtp_code}") from None
    except (OSError, smtplib.SMTPException) as exc:
        raise ClientError(f"SMTP failed: {type(exc).__name__}: {exc}") from None
    if refused:
        raise ClientError(f"recipients refused: {refused}")


class LoginRefusedError(ClientError):
    """The server answered and refused the password."""


@contextlib.contextmanager
def imap_login(address: str, user: str, password: str, *, timeout: float, unreachable: str = "") -> Iterator:
    """An IMAP connection logged in as ``user``, logged out on the way out. ClientError when the server
    cannot be reached (``unreachable`` is added to that message) or fails, LoginRefusedError when it refuses
    the password."""
    try:
        imap = imaplib.IMAP4(address, IMAP_PORT, timeout=timeout)
    except OSError as exc:
        raise ClientError(f"IMAP connect failed{unreachable}: {type(exc).__name__}") from None
    try:
        try:
            imap.login(user, password)
        except imaplib.IMAP4.error as exc:
            raise LoginRefusedError(f"IMAP LOGIN refused: {exc}") from None
        yield imap
    except (OSError, imaplib.IMAP4.error) as exc:
        raise ClientError(f"IMAP failed: {type(exc).__name__}: {exc}") from None
    finally:
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            imap.logout()


def wait_delivered(
    address: str, user: str, password: str, *, subject: str, timeout: float, wait: float
) -> int:
    """Log in to IMAP and poll INBOX for the subject; returns the seconds it took."""
    start = time.monotonic()
    with imap_login(address, user, password, timeout=timeout) as imap:
        while True:
            imap.select("INBOX", readonly=True)
            _, data = imap.search(None, "SUBJECT", f'"{subject}"')
            if data and data[0]:
                return round(time.monotonic() - start)
            if time.monotonic() - start > wait:
                raise ClientError(f"message {subject!r} not in {user}'s INBOX after {wait:.0f} s")
            time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    """Entry point; one clear line and a non-zero exit on failure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--target", required=True, help="mail host")
    parser.add_argument("--user", required=True, help="sender login")
    parser.add_argument("--password", required=True, help="the sender's (test) password")
    parser.add_argument("--to", required=True, help="recipient, who also reads the message over IMAP")
    parser.add_argument("--to-password", required=True, help="the recipient's (test) password")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds per connection")
    parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait for delivery")
    args = parser.parse_args(argv)
    subject = f"mbg e2e {secrets.token_hex(6)}"
    start = time.monotonic()
    try:
        address = private_address(args.target)
        send(address, args.user, args.password, to=args.to, subject=subject, timeout=args.timeout)
        sent = round(time.monotonic() - start, 1)
        waited = wait_delivered(
            address, args.to, args.to_password, subject=subject, timeout=args.timeout, wait=args.wait
        )
    except ClientError as exc:
        print(f"client.py: error: {args.target}: {exc}", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "action": "client",
                "target": args.target,
                "address": address,
                "user": args.user,
                "to": args.to,
                "subject": subject,
                "sent_after": sent,
                "delivered_after": waited,
            },
            sort_keys=True,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
