"""A seeded, labelled three-day mail log of known clients and attackers (issue 19), in the line formats of
Debian 12's Postfix and Dovecot (see ../shared/ENVIRONMENT.md), or with ``--dovecot 2.4`` Debian 13's Dovecot
(its logins, login summaries and auth process lines): what each address must come to is in LABELS.

    python tests/bench/known_clients_log.py [--seed N] [--dovecot 2.3|2.4] > known.log

* the office NAT: twelve users log in every day; bob's phone keeps his old password on day 2 (IMAP, every
  5 min for 6 h, 72 failures, then the phone is fixed); carol mistypes twice: no ban, no ``compromised``,
  one stale alert (bob);
* a home address: dave logs in every day; his laptop's old password fails for an hour on day 2 (submission,
  every 2 min, 30 failures): no ban, one stale alert;
* an attacker behind the office address on day 3 tries usernames nobody logged in with there: banned;
* an address with one past success (erin, day 1) that fails three times for erin then sprays three other
  usernames on day 3 (banned only because the stale failures then count too);
* a new address that guesses frank's password after four failures: ``compromised`` (not banned);
* a bot without TLS: 30 ``tried to use disallowed plaintext auth`` in 5 minutes: banned (pre-auth);
* background: one-off ``no auth attempts`` scanners and inbound deliveries, never banned.
"""

from __future__ import annotations

import argparse
import random
import sys
import time

import maillines

START = 1795996800.0  # 2026-11-30T00:00:00Z
DAY = 86400
OFFICE = "198.51.100.10"
HOME = "203.0.113.20"
ONCE = "203.0.113.77"
GUESSER = "45.33.32.156"
BOT = "185.220.101.5"
OFFICE_USERS = [
    f"{name}@example.com"
    for name in (
        "alice",
        "bob",
        "carol",
        "ivan",
        "judy",
        "oscar",
        "peggy",
        "rupert",
        "sybil",
        "trent",
        "victor",
        "walter",
    )
]
NOW = START + 3 * DAY + 3600  # after the log
# address -> the decision the scan must give (addresses not listed must not be offenders with a ban)
LABELS = {OFFICE: "ban", HOME: "watch", ONCE: "ban", GUESSER: "watch", BOT: "ban"}
STALE = {("bob@example.com", OFFICE), ("dave@example.net", HOME)}  # the stale_client alerts expected
COMPROMISED = {"frank@example.org"}  # the only compromised account
ATTACKER_USERS = (
    "admin@example.com",
    "test@example.com",
    "info@example.com",
    "postmaster@example.com",
    "sales@example.com",
    "office@example.com",
)


class Log:
    def __init__(self, seed: int, dovecot: str = "2.3") -> None:
        self.rnd = random.Random(seed)
        self.lines: list = []
        self.pid = 4000
        self.dovecot24 = dovecot == "2.4"

    def session(self) -> str:
        return "".join(
            self.rnd.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
            for _ in range(16)
        )

    def add(self, t: float, text: str) -> None:
        self.lines.append((t, len(self.lines), text))

    def imap_ok(self, t: float, ip: str, user: str) -> None:
        self.pid += 1
        login = maillines.dovecot_login24 if self.dovecot24 else maillines.dovecot_login
        self.add(t, login("imap", user, ip, self.pid, self.session()))

    def imap_fail(self, t: float, ip: str, user: str) -> None:
        session = self.session()
        if self.dovecot24:
            self.add(t, maillines.dovecot_auth24("passwd-file", user, ip, "Password mismatch", session))
            summary = maillines.dovecot_auth_failed24(
                "imap", "Logged out", attempts=1, secs=2, user=user, ip=ip, session=session
            )
        else:
            self.add(t, maillines.dovecot_auth("passwd-file", user, ip, "Password mismatch"))
            how = "Disconnected: Aborted login by logging out"
            summary = maillines.dovecot_auth_failed(
                "imap", how, attempts=1, secs=2, user=user, ip=ip, session=session
            )
        self.add(t + 2, summary)

    def smtp_fail(self, t: float, ip: str, user: str) -> None:
        self.pid += 1
        p = f"postfix/submission/smtpd[{self.pid}]: "
        self.add(t, f"{p}connect from unknown[{ip}]")
        if self.dovecot24:
            auth = maillines.dovecot_auth24("passwd-file", user, ip, "Password mismatch", mech="login")
        else:
            auth = maillines.dovecot_auth("passwd-file", user, ip, "Password mismatch")
        self.add(t + 0.5, auth)
        why = f"(reason unavailable), sasl_username={user}"
        self.add(t + 2.5, maillines.smtpd_sasl_failed(p, f"unknown[{ip}]", "LOGIN", why))
        self.add(t + 2.6, f"{p}disconnect from unknown[{ip}] ehlo=1 auth=0/1 quit=1 commands=2/3")

    def smtp_ok(self, t: float, ip: str, user: str) -> None:
        self.pid += 1
        p = f"postfix/submission/smtpd[{self.pid}]: "
        q = f"{self.rnd.randrange(16**10):010X}"
        self.add(t, f"{p}connect from unknown[{ip}]")
        self.add(t + 0.4, maillines.smtpd_sasl_client(p, q, f"unknown[{ip}]", user))
        self.add(
            t + 0.8, f"{p}disconnect from unknown[{ip}] ehlo=2 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=7"
        )

    def preauth(self, t: float, ip: str, plaintext: bool) -> None:
        if self.dovecot24:
            why = (
                "(tried to use disallowed cleartext auth, 1 attempts in 0 secs) (cleartext_auth_disabled)"
                if plaintext
                else "(no auth attempts in 0 secs) (no_auth_attempts)"
            )
            how = f"Login aborted: Logged out {why}"
        else:
            why = "tried to use disallowed plaintext auth" if plaintext else "no auth attempts in 0 secs"
            how = f"Disconnected ({why})"
        self.add(
            t,
            f"dovecot: pop3-login: {how}: user=<>, rip={ip}, lip={maillines.LIP}, session=<{self.session()}>",
        )

    def inbound(self, t: float) -> None:
        self.pid += 1
        ip = f"203.0.113.{self.rnd.randint(100, 200)}"
        self.add(t, f"postfix/smtpd[{self.pid}]: connect from mx.partner.example[{ip}]")
        self.add(
            t + 1,
            f"postfix/smtpd[{self.pid}]: disconnect from mx.partner.example[{ip}] ehlo=1 mail=1 "
            "rcpt=1 data=1 quit=1 commands=5",
        )


def build(seed: int = 19, dovecot: str = "2.3") -> list:  # noqa: PLR0912 - the labelled log's story in order
    """The log's lines, in time order, with RFC 3164 stamps (UTC); ``dovecot``: "2.3" or "2.4"'s wording."""
    log = Log(seed, dovecot)
    r = log.rnd
    for day in range(3):
        base = START + day * DAY
        for user in OFFICE_USERS:  # the office: every user logs in in the morning and after lunch
            log.imap_ok(base + 8 * 3600 + r.uniform(0, 3600), OFFICE, user)
            log.imap_ok(base + 13 * 3600 + r.uniform(0, 3600), OFFICE, user)
        log.imap_ok(base + 7 * 3600 + r.uniform(0, 1800), HOME, "dave@example.net")
        log.imap_ok(base + 19 * 3600 + r.uniform(0, 1800), HOME, "dave@example.net")
        for k in range(60):
            log.inbound(base + k * 1440 + r.uniform(0, 600))
        for k in range(20):  # one-off scanners that never tried a password
            log.preauth(base + r.uniform(0, DAY), f"192.0.2.{100 + day * 20 + k}", plaintext=k % 2 == 0)
    day2 = START + DAY
    for k in range(72):  # bob's phone: old password every 5 minutes from 09:30 to 15:30
        log.imap_fail(day2 + 9.5 * 3600 + k * 300 + r.uniform(0, 20), OFFICE, "bob@example.com")
    log.imap_ok(day2 + 15.6 * 3600, OFFICE, "bob@example.com")  # fixed
    for k in range(2):
        log.imap_fail(day2 + 10 * 3600 + k * 40, OFFICE, "carol@example.com")  # typos
    for k in range(30):  # dave's laptop: old password every 2 minutes, 10:00 to 11:00
        log.smtp_fail(day2 + 10 * 3600 + k * 120 + r.uniform(0, 10), HOME, "dave@example.net")
    log.smtp_ok(START + 0.2 * DAY, ONCE, "erin@example.com")  # erin's one login from there (day 1)
    day3 = START + 2 * DAY
    for k in range(3):
        log.imap_fail(day3 + 600 + k * 60, ONCE, "erin@example.com")
    for k, user in enumerate(("admin@example.com", "test@example.com", "info@example.com")):
        log.smtp_fail(day3 + 800 + k * 30, ONCE, user)  # then sprays: 6 failures in under 10 minutes
    for k in range(12):  # an attacker behind the office NAT, at night
        log.imap_fail(day3 + 2 * 3600 + k * 10, OFFICE, ATTACKER_USERS[k % len(ATTACKER_USERS)])
    for k in range(4):  # a new address guesses frank's password
        log.smtp_fail(day3 + 11 * 3600 + k * 20, GUESSER, "frank@example.org")
    log.smtp_ok(day3 + 11 * 3600 + 100, GUESSER, "frank@example.org")
    for k in range(30):  # a bot without TLS: 30 plaintext logins refused in 5 minutes
        log.preauth(day3 + 15 * 3600 + k * 10, BOT, plaintext=True)
    out = []
    for t, _n, text in sorted(log.lines):
        stamp = time.strftime("%b %e %H:%M:%S", time.gmtime(t))
        out.append(f"{stamp} {maillines.HOST} {text}\n")
    return out


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--dovecot", choices=("2.3", "2.4"), default="2.3")
    args = parser.parse_args(argv)
    sys.stdout.write("".join(build(args.seed, args.dovecot)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
