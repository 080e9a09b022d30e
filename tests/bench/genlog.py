"""Generate a realistic, deterministic mail log: a busy Postfix + Dovecot (+ Plesk) server under attack.

    python tests/bench/genlog.py --lines 1000000 --out FILE [--format rfc3164|rfc3339] [--seed N]
                                 [--truth TRUTH.json] [--start 2026-11-25T00:00:00] [--profile mixed|attack]

Normal traffic (inbound deliveries, authenticated submission, IMAP/POP3 logins, "no auth attempts"
disconnects, rejects, cron noise) is mixed with attacks: fast SMTP brute force (Dovecot SASL with auth process
lines and "Connection lost to authentication server" once Dovecot's penalty kicks in, or Plesk's saslauthd
lines logged just before or after smtpd's warning), IMAP/POP3 brute force, low-and-slow attackers, a
distributed attack on one mailbox, IPv6 and IPv4-mapped attackers. ``--truth`` writes the real number of
password attempts per attacker address (and successful logins), so tests can check the parser counts each
attempt exactly once. Times are UTC. The same seed always gives the same bytes.

``--profile attack`` (issue 14) is a server under a heavy campaign: about 300 attacker addresses take turns
at SMTP AUTH on a Plesk host (every smtpd failure also named by a plesk_saslauthd line, before or after it),
with Dovecot failures (IMAP/POP3 and Dovecot-SASL submission) mixed in, over the same normal traffic: more
than 10 % of the lines are SASL failures.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
import time
from calendar import timegm
from collections import Counter
from typing import Callable

from maillines import (
    HOST,
    LIP,
    dovecot_auth,
    dovecot_auth_failed,
    dovecot_login,
    smtpd_sasl_client,
    smtpd_sasl_failed,
)

DOMAINS = ("example.com", "example.org", "example.net")
USERS = [
    f"{n}@{DOMAINS[i % 3]}"
    for i, n in enumerate(
        (
            "alice",
            "bob",
            "carol",
            "dave",
            "erin",
            "frank",
            "grace",
            "heidi",
            "ivan",
            "judy",
            "mallory",
            "oscar",
            "peggy",
            "rupert",
            "sybil",
            "trent",
            "victor",
            "walter",
            "info",
            "sales",
            "office",
            "admin",
        )
    )
]
GUESSES = (
    "admin",
    "test",
    "info",
    "webmaster",
    "postmaster",
    "sales",
    "office",
    "user",
    "contact",
    "support",
    "info@example.com",
    "admin@example.com",
    "test@example.org",
    "office@example.net",
)
MTAS = (
    "mx1.partner.example",
    "mail-oi1-f170.google.example",
    "outbound.mailer.example",
    "unknown",
    "smtp.relay.example",
    "mta7.newsletter.example",
)
SASL_MECHS = ("LOGIN", "PLAIN", "LOGIN", "PLAIN", "login", "CRAM-MD5")
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
QID = "0123456789ABCDEF"


class Gen:
    """Schedules the lines of overlapping scenarios and writes them in time order."""

    def __init__(self, seed: int, start: float) -> None:
        self.rnd = random.Random(seed)
        self.heap: list[tuple[float, int, str, str, int, int]] = []
        self.seq = 0
        self.pid = 20000
        self.truth: Counter = Counter()
        self.success: Counter = Counter()
        self.start = start
        self.clients = [self._public_v4() for _ in range(400)]
        self.mtas = [self._public_v4() for _ in range(300)]
        self.attackers: list[str] = []

    # --- helpers -------------------------------------------------------------------------------------------
    def _public_v4(self) -> str:
        r = self.rnd
        return (
            f"{r.choice((5, 31, 45, 62, 77, 80, 91, 103, 141, 176, 185, 193, 212))}.{r.randint(1, 254)}."
            f"{r.randint(0, 255)}.{r.randint(1, 254)}"
        )

    def _v6(self) -> str:
        r = self.rnd
        return f"2001:db8:{r.randint(1, 0xFFFF):x}:{r.randint(0, 0xFFFF):x}::{r.randint(1, 0xFFFF):x}"

    def next_pid(self) -> int:
        self.pid += self.rnd.randint(1, 40)
        if self.pid > 4194000:
            self.pid = 1000
        return self.pid

    def qid(self) -> str:
        return "".join(self.rnd.choices(QID, k=10))

    def session(self) -> str:
        return "".join(self.rnd.choices(B64, k=16))

    def add(self, t: float, text: str, ip: str = "", attempts: int = 0, successes: int = 0) -> None:
        """Schedule a line; ``attempts``/``successes`` are what it adds to the truth once written."""
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, text, ip, attempts, successes))

    # --- normal traffic ------------------------------------------------------------------------------------
    def inbound(self, t: float) -> None:
        r = self.rnd
        pid, q, ip, name = self.next_pid(), self.qid(), r.choice(self.mtas), r.choice(MTAS)
        user = r.choice(USERS)
        p = f"postfix/smtpd[{pid}]: "
        self.add(t, f"{p}connect from {name}[{ip}]")
        self.add(t + 0.3, f"{p}{q}: client={name}[{ip}]")
        self.add(t + 0.5, f"postfix/cleanup[{pid + 3}]: {q}: message-id=<{self.session()}@{name}>")
        self.add(
            t + 0.6,
            f"postfix/qmgr[1187]: {q}: from=<news@{name}>, size={r.randint(900, 90000)}, nrcpt=1 "
            "(queue active)",
        )
        self.add(t + 0.7, f"{p}disconnect from {name}[{ip}] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5")
        self.add(
            t + 0.9,
            f"postfix/lmtp[{pid + 7}]: {q}: to=<{user}>, relay=mail.example.com[private/dovecot-lmtp]"
            f", delay=0.6, delays=0.3/0.01/0.01/0.28, dsn=2.0.0, status=sent (250 2.0.0 <{user}> "
            f"{self.session()} Saved)",
        )
        self.add(
            t + 0.9,
            f"dovecot: lmtp({user})<{pid + 9}><{self.session()}>: msgid=<{q}@{name}>: saved mail to INBOX",
        )
        self.add(t + 1.0, f"postfix/qmgr[1187]: {q}: removed")

    def submission(self, t: float) -> None:
        r = self.rnd
        pid, q, ip, user = self.next_pid(), self.qid(), r.choice(self.clients), r.choice(USERS)
        svc = r.choice(("postfix/submission/smtpd", "postfix/submission/smtpd", "postfix/smtps/smtpd"))
        p = f"{svc}[{pid}]: "
        self.add(t, f"{p}connect from unknown[{ip}]")
        self.add(t + 0.4, smtpd_sasl_client(p, q, f"unknown[{ip}]", user), ip, 0, 1)
        self.add(t + 0.5, f"postfix/cleanup[{pid + 2}]: {q}: message-id=<{self.session()}@example.com>")
        self.add(
            t + 0.6,
            f"postfix/qmgr[1187]: {q}: from=<{user}>, size={r.randint(900, 90000)}, nrcpt=1 (queue active)",
        )
        self.add(
            t + 0.8,
            f"{p}disconnect from unknown[{ip}] ehlo=2 starttls=1 auth=1 mail=1 rcpt=1 data=1 quit=1 "
            "commands=8",
        )
        self.add(
            t + 1.4,
            f"postfix/smtp[{pid + 5}]: {q}: to=<{self.session()[:6].lower()}@partner.example>, "
            f"relay=mx1.partner.example[{r.choice(self.mtas)}]:25, delay=1, delays=0.2/0/0.3/0.5, "
            "dsn=2.0.0, status=sent (250 2.0.0 OK)",
        )
        self.add(t + 1.5, f"postfix/qmgr[1187]: {q}: removed")

    def imap_login(self, t: float) -> None:
        r = self.rnd
        ip, user, sess, mpid = r.choice(self.clients), r.choice(USERS), self.session(), self.next_pid()
        proto = "imap" if r.random() < 0.85 else "pop3"
        self.add(t, dovecot_login(proto, user, ip, mpid, sess), ip, 0, 1)
        self.add(
            t + r.uniform(1, 600),
            f"dovecot: {proto}({user})<{mpid}><{sess}>: Disconnected: Logged out "
            f"in={r.randint(50, 900)} out={r.randint(500, 90000)}",
        )

    def no_auth(self, t: float) -> None:
        r = self.rnd
        ip = self._public_v4()
        proto = r.choice(("imap", "imap", "pop3", "submission"))
        how = r.choice(("Disconnected", "Disconnected: Connection closed", "Disconnected: Inactivity"))
        self.add(
            t,
            f"dovecot: {proto}-login: {how} (no auth attempts in {r.randint(0, 180)} secs): user=<>, "
            f"rip={ip}, lip={LIP}, TLS handshaking: Connection closed, session=<{self.session()}>",
        )

    def reject(self, t: float) -> None:
        r = self.rnd
        pid, ip = self.next_pid(), self._public_v4()
        p = f"postfix/smtpd[{pid}]: "
        self.add(t, f"{p}connect from unknown[{ip}]")
        self.add(
            t + 0.5,
            f"{p}NOQUEUE: reject: RCPT from unknown[{ip}]: 554 5.7.1 <spam@{r.choice(DOMAINS)}>: "
            "Relay access denied; from=<x@spam.example> to=<victim@elsewhere.example> proto=ESMTP "
            "helo=<WIN-5Q2B>",
        )
        self.add(t + 0.6, f"{p}lost connection after RCPT from unknown[{ip}]")
        self.add(t + 0.6, f"{p}disconnect from unknown[{ip}] ehlo=1 mail=1 rcpt=0/1 commands=2/3")

    def noise(self, t: float) -> None:
        r = self.rnd
        pick = r.random()
        if pick < 0.4:
            self.add(
                t,
                f"postfix/anvil[1190]: statistics: max connection rate 3/60s for (smtp:{r.choice(self.mtas)}"
                ") at " + time.strftime("%b %d %H:%M:%S", time.gmtime(t)),
            )
        elif pick < 0.7:
            self.add(
                t,
                f"CRON[{self.next_pid()}]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)",
            )
        elif pick < 0.85:
            self.add(
                t,
                "systemd[1]: Started session-{0}.scope - Session {0} of User root.".format(
                    r.randint(1, 9999)
                ),
            )
        else:
            self.add(
                t,
                f"postfix/scache[{self.next_pid()}]: statistics: start interval "
                + time.strftime("%b %d %H:%M:%S", time.gmtime(t)),
            )

    # --- attacks -------------------------------------------------------------------------------------------
    def smtp_attack(self, t: float, ip: str, attempts: int, users: list[str], flavour: str) -> float:  # noqa: PLR0915 - one attack's lines in log order
        """One smtpd session of ``attempts`` failed AUTHs; returns the end time."""
        r = self.rnd
        pid = self.next_pid()
        svc = r.choice(
            (
                "postfix/smtpd",
                "postfix/submission/smtpd",
                "postfix/smtps/smtpd",
                "postfix/submissions-proxyprotocol/smtpd",
            )
        )
        p = f"{svc}[{pid}]: "
        name = "unknown" if r.random() < 0.8 else f"host-{ip.replace('.', '-').replace(':', '-')}.isp.example"
        self.add(t, f"{p}connect from {name}[{ip}]")
        port = f":{r.randint(1024, 65535)}" if r.random() < 0.1 else ""
        mech = r.choice(SASL_MECHS)
        genuine = 0
        for i in range(attempts):
            t += r.uniform(0.5, 4.0)
            user = users[i % len(users)]
            if flavour == "plesk":
                warn = smtpd_sasl_failed(p, f"{name}[{ip}]{port}", mech, "authentication failure")
                spelled = r.choice(("authenticatication", "authenticatication", "authentication"))
                plesk = (
                    f"plesk_saslauthd[4434]: failed mail {spelled} attempt for user '{user}' (password len="
                    f"{r.randint(4, 14)})"
                )
                if r.random() < 0.1:
                    plesk = f"plesk_saslauthd[4434]: No such user '{user}' in mail authorization database"
                if r.random() < 0.5:  # saslauthd answers, then smtpd logs (what Plesk's docs describe)
                    self.add(t, plesk)
                    t += r.choice((0.0, 0.2, 1.0))
                    self.add(t, warn, ip, 1)
                else:  # syslog buffering puts saslauthd's line after smtpd's (the forum thread)
                    self.add(t, warn, ip, 1)
                    t += r.choice((0.5, 1.0, 2.0))
                    self.add(t, plesk)
                genuine += 1
            elif genuine >= 3 and r.random() < 0.35:  # Dovecot's penalty outlasts Postfix's 10 s wait
                t += 10
                lost = "Connection lost to authentication server, sasl_username=(unavailable)"
                self.add(t, smtpd_sasl_failed(p, f"{name}[{ip}]{port}", mech, lost), ip, 1)
                self.add(t, "dovecot: auth: Error: auth client 0 disconnected with 1 pending requests")
            else:
                driver = r.choice(("passwd-file", "passwd-file", "sql", "pam"))
                why = "unknown user" if r.random() < 0.4 else "Password mismatch"
                if driver == "pam":
                    why = "pam_authenticate() failed: Authentication failure (password mismatch?)"
                    self.add(t, f"dovecot: auth-worker({pid % 900 + 100}): pam({user},{ip}): {why}", ip, 1)
                else:
                    self.add(t, dovecot_auth(driver, user, ip, why), ip, 1)
                t += 2
                suffix = f", sasl_username={user}" if r.random() < 0.5 else ""
                self.add(
                    t, smtpd_sasl_failed(p, f"{name}[{ip}]{port}", mech, f"(reason unavailable){suffix}")
                )
                genuine += 1
        aborted = 1 if r.random() < 0.15 else 0  # an AUTH the client aborted: only the summary shows it
        total = attempts + aborted
        t += r.uniform(0.2, 2)
        if attempts >= 10:
            self.add(t, f"{p}too many errors after AUTH from {name}[{ip}]")
            cmds = f"ehlo=1 auth=0/{total} commands=1/{total + 1}"
        else:
            cmds = f"ehlo=1 auth=0/{total} quit=1 commands=2/{total + 2}"
        self.add(t, f"{p}disconnect from {name}[{ip}] {cmds}", ip, aborted)
        return t

    def imap_attack(self, t: float, ip: str, attempts: int, users: list[str], shown: str = "") -> float:
        r = self.rnd
        proto = r.choice(("imap", "imap", "pop3", "submission", "managesieve"))
        sess = self.session()
        start = t
        verbose = r.random() < 0.8
        with_session = r.random() < 0.7
        user = users[0]
        key, ip = ip, shown or ip
        for i in range(attempts):
            t += r.uniform(1, 3)
            user = users[i % len(users)]
            if verbose:
                why = r.choice(("unknown user", "Password mismatch"))
                self.add(t, dovecot_auth("passwd-file", user, ip, why, sess if with_session else ""), key, 1)
            t += 2
        how = r.choice(
            (
                "Disconnected",
                "Aborted login",
                "Disconnected: Connection closed",
                "Login aborted: Connection closed",
                "Disconnected: Inactivity",
            )
        )
        if how.endswith("Inactivity"):
            t += 180
        summary = dovecot_auth_failed(
            proto, how, attempts=attempts, secs=int(t - start), user=user, ip=ip, session=sess
        )
        self.add(t, summary, key, 0 if verbose else attempts)
        return t

    def fast_bruteforce(self, t: float) -> None:
        r = self.rnd
        ip = self._v6() if r.random() < 0.15 else self._public_v4()
        users = r.sample(GUESSES, k=r.randint(1, 4))
        flavour = "plesk" if r.random() < 0.4 else "dovecot"
        for _ in range(r.randint(1, 3)):
            if r.random() < 0.75:
                t = self.smtp_attack(t, ip, r.randint(2, 25), users, flavour) + r.uniform(1, 20)
            else:
                shown = f"::ffff:{ip}" if ":" not in ip and r.random() < 0.3 else ip
                t = self.imap_attack(t, ip, r.randint(1, 6), users, shown) + r.uniform(1, 20)

    def single_failure(self, t: float) -> None:
        """A user mistyping a password once (then succeeding), or a one-shot scanner."""
        r = self.rnd
        ip, user = r.choice(self.clients), r.choice(USERS)
        self.smtp_attack(t, ip, 1, [user], "plesk" if r.random() < 0.3 else "dovecot")

    def distributed(self, t: float) -> None:
        """Many addresses, one mailbox, one attempt each."""
        r = self.rnd
        target = ["ceo@example.com"]
        for _ in range(r.randint(5, 25)):
            t += r.uniform(5, 120)
            ip = self._public_v4()
            if r.random() < 0.6:
                self.smtp_attack(t, ip, 1, target, "dovecot")
            else:
                self.imap_attack(t, ip, 1, target)

    def lost_without_attack(self, t: float) -> None:
        """The auth server is down for a legitimate client: informational only."""
        pid, ip = self.next_pid(), self._public_v4()
        p = f"postfix/submission/smtpd[{pid}]: "
        self.add(t, f"{p}connect from unknown[{ip}]")
        self.add(
            t + 10,
            f"{p}warning: unknown[{ip}]: SASL PLAIN authentication failed: Connection lost to "
            "authentication server, sasl_username=(unavailable)",
        )
        self.add(t + 10.5, f"{p}disconnect from unknown[{ip}] ehlo=1 auth=0/1 quit=1 commands=2/3")

    def campaign(self, t: float) -> None:
        """One turn of the attack profile's campaign: an address of the pool tries a few passwords."""
        r = self.rnd
        ip = r.choice(self.attackers)
        users = r.sample(GUESSES, k=r.randint(1, 3))
        pick = r.random()
        if pick < 0.75:  # the Plesk host's own SASL: every smtpd failure named by plesk_saslauthd
            self.smtp_attack(t, ip, r.randint(1, 6), users, "plesk")
        elif pick < 0.9:  # Dovecot SASL for submission (auth process line, then smtpd's warning)
            self.smtp_attack(t, ip, r.randint(1, 6), users, "dovecot")
        else:  # IMAP/POP3 guesses
            self.imap_attack(t, ip, r.randint(1, 4), users)

    # --- driver --------------------------------------------------------------------------------------------
    def run(self, lines: int, out, fmt: str, profile: str = "mixed") -> int:
        r = self.rnd
        scenarios: list[tuple[float, Callable[[float], None]]] = [
            (0.40, self.inbound),
            (0.10, self.submission),
            (0.17, self.imap_login),
            (0.09, self.no_auth),
            (0.07, self.reject),
            (0.12, self.noise),
            (0.008, self.fast_bruteforce),
            (0.01, self.single_failure),
            (0.002, self.distributed),
            (0.002, self.lost_without_attack),
        ]
        if profile == "attack":
            self.attackers = [self._v6() if r.random() < 0.1 else self._public_v4() for _ in range(300)]
            scenarios.append((0.17, self.campaign))
        weights = [w for w, _ in scenarios]
        funcs = [f for _, f in scenarios]
        slow = [self._public_v4() for _ in range(8)] + [self._v6() for _ in range(2)]
        slow_next = {ip: self.start + r.uniform(0, 600) for ip in slow}
        t = self.start
        written = 0
        stamp = _stamper(fmt)
        buf: list[str] = []
        heap = self.heap
        while written < lines:
            t += r.expovariate(1 / 0.4)
            for fn in r.choices(funcs, weights, k=1):
                fn(t)
            for ip, due in slow_next.items():
                if due <= t:
                    self.smtp_attack(due, ip, 1, [r.choice(GUESSES)], "dovecot")
                    slow_next[ip] = due + r.uniform(240, 540)
            while heap and heap[0][0] <= t - 30 and written < lines:
                when, _, text, ip, attempts, successes = heapq.heappop(heap)
                buf.append(f"{stamp(when)} {HOST} {text}\n")
                written += 1
                if attempts:
                    self.truth[ip] += attempts
                if successes:
                    self.success[ip] += successes
            if len(buf) >= 8192:
                out.write("".join(buf))
                buf.clear()
        out.write("".join(buf))
        return written


def _stamper(fmt: str) -> Callable[[float], str]:
    cache: dict[int, str] = {}

    def rfc3164(when: float) -> str:
        sec = int(when)
        text = cache.get(sec)
        if text is None:
            if len(cache) > 4096:
                cache.clear()
            text = cache[sec] = time.strftime("%b %e %H:%M:%S", time.gmtime(sec))
        return text

    def rfc3339(when: float) -> str:
        sec = int(when)
        text = cache.get(sec)
        if text is None:
            if len(cache) > 4096:
                cache.clear()
            text = cache[sec] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        return f"{text}.{int((when - sec) * 1e6):06d}+00:00"

    return rfc3164 if fmt == "rfc3164" else rfc3339


def main(argv: list[str] | None = None) -> int:  # type: ignore[assignment]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--lines", type=int, default=1000000)
    ap.add_argument("--out", required=True, help="output file ('-' for stdout)")
    ap.add_argument("--format", choices=("rfc3164", "rfc3339"), default="rfc3164")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--truth", help="write {attempts: {ip: n}, successes: {ip: n}} as JSON here")
    ap.add_argument("--start", default="2026-11-25T00:00:00", help="UTC start time (ISO 8601)")
    ap.add_argument(
        "--profile",
        choices=("mixed", "attack"),
        default="mixed",
        help="attack: ~300 addresses of a campaign, >= 10 %% SASL failures (Plesk-named)",
    )
    args = ap.parse_args(argv)
    if args.lines < 0:
        ap.error("--lines must be >= 0")
    try:
        start = float(timegm(time.strptime(args.start, "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        ap.error(f"--start {args.start!r}: expected YYYY-MM-DDTHH:MM:SS")
    gen = Gen(args.seed, start)
    try:
        if args.out == "-":
            written = gen.run(args.lines, sys.stdout, args.format, args.profile)
        else:
            with open(args.out, "w", encoding="utf-8") as out:
                written = gen.run(args.lines, out, args.format, args.profile)
        if args.truth:
            # counted per written line, so attempts cut off at the end of the file are not in the truth
            with open(args.truth, "w", encoding="utf-8") as fh:
                json.dump(
                    {
                        "attempts": dict(sorted(gen.truth.items())),
                        "successes": dict(sorted(gen.success.items())),
                        "lines": written,
                    },
                    fh,
                )
    except OSError as err:
        print(f"genlog: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
