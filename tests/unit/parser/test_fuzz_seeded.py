"""A short seeded fuzz run over every input the detector reads (issue 15): daemon lines with random client
text (usernames, passwords), random mutations of those lines, and random journal entries (fields of any
JSON type). It asserts no forged address, no exception, and a bounded time per line. Seeded: a failure
reproduces; FUZZ_SEED=<n> FUZZ_LINES=<n> explore further."""

from __future__ import annotations

import calendar
import os
import random
import time
from datetime import timezone

from hostile_lines import BUILDERS, PIECES, REAL
from mail_bruteforce_guard.addresses import normalize_ip
from mail_bruteforce_guard.detector.journaltrust import JournalTrust
from mail_bruteforce_guard.detector.logsource import Block, journal_line
from mail_bruteforce_guard.detector.pipeline import Pipeline
from mail_bruteforce_guard.parser.lines import claimed_daemon, parse_line
from mail_bruteforce_guard.parser.stream import parse_text
from mail_bruteforce_guard.parser.timestamps import TimestampParser

SEED = int(os.environ.get("FUZZ_SEED", "20261206"))
LINES = int(os.environ.get("FUZZ_LINES", "12000"))
NOW = float(calendar.timegm((2026, 11, 26, 12, 0, 0)))
PER_LINE = 0.25  # CPU seconds one line may take, however hostile (they take microseconds; a busy machine)
ODD = "\x00\x1b\t\r\x7f\x85\u2028\udcff\u00e9\u4e2d\ufffd"


def client_text(rng: random.Random) -> str:
    """Attacker text: pieces that matter to the parsers, odd characters, sometimes very long."""
    parts = []
    for _ in range(rng.randrange(0, 12)):
        pick = rng.random()
        if pick < 0.6:
            parts.append(rng.choice(PIECES))
        elif pick < 0.8:
            parts.append("".join(rng.choice(ODD + "abc,;:()<>[]=") for _ in range(rng.randrange(1, 6))))
        elif pick < 0.97:
            parts.append(str(rng.randrange(256)) + "." + str(rng.randrange(256)))
        else:
            parts.append(rng.choice(PIECES) * rng.randrange(100, 3000))
    return "".join(parts)


def mutate(rng: random.Random, line: str) -> str:
    """Random edits: a character replaced, inserted or deleted, a piece spliced in, a cut."""
    chars = list(line)
    for _ in range(rng.randrange(1, 5)):
        at = rng.randrange(len(chars) + 1)
        op = rng.random()
        if op < 0.3 and at < len(chars):
            chars[at] = rng.choice(ODD + "0123456789,:()[]<>= .")
        elif op < 0.6:
            chars[at:at] = list(rng.choice(PIECES))
        elif op < 0.9 and at < len(chars):
            del chars[at]
        else:
            del chars[at:]
    return "".join(chars)


def timed_parse(line: str, ts: TimestampParser):
    start = time.process_time()
    rec = parse_line(line, ts)
    elapsed = time.process_time() - start
    assert elapsed < PER_LINE, f"{elapsed:.3f} s for {line[:200]!r}"
    return rec


def test_seeded_fuzz_of_daemon_lines_forges_no_address():
    rng = random.Random(SEED)
    ts = TimestampParser(NOW, timezone.utc)
    builders = sorted(BUILDERS, key=lambda b: b.__name__)
    lines = []
    for _ in range(LINES):
        line = rng.choice(builders)(client_text(rng), client_text(rng))
        rec = timed_parse(line, ts)
        assert rec is None or rec.ip in (REAL, None), line[:300]
        lines.append(line.replace("\n", " ").replace("\r", " "))
    # the block paths (text and raw bytes, as a scan reads them) agree: no address but the real one
    events = parse_text("\n".join(lines), now=NOW, tz=timezone.utc)
    assert {e.ip for e in events} <= {REAL, None}
    data = "\n".join(lines).encode("utf-8", "surrogateescape")
    pipeline = Pipeline(None, now=NOW, info=True)
    released = pipeline.feed_batch(1, Block(data)) + pipeline.flush()
    assert {e.ip for e in released} <= {REAL, None}


def test_seeded_fuzz_of_mutated_lines_never_raises():
    rng = random.Random(SEED + 1)
    ts = TimestampParser(NOW, timezone.utc)
    builders = sorted(BUILDERS, key=lambda b: b.__name__)
    for _ in range(LINES):
        line = mutate(rng, rng.choice(builders)(client_text(rng), client_text(rng)))
        rec = timed_parse(line, ts)
        if rec is not None and rec.ip is not None:
            assert normalize_ip(rec.ip) == rec.ip


JOURNAL_VALUES = [
    None,
    0,
    1000,
    -1,
    1.5,
    True,
    [],
    [255, 0, 10],
    {"x": 1},
    "",
    "0",
    "1000",
    "root",
    "\x1b[2J",
]
IDENTS = ["postfix/smtpd", "postfix/submission/smtpd", "dovecot", "imap-login", "auth", "plesk_saslauthd",
          "sshd", "dovecot: x", "postfix/smtpd[1]: warning", "a b"]  # fmt: skip
UNITS = ["postfix@-.service", "dovecot.service", "php8.2-fpm.service", "user@1000.service", "cron.service"]
EXES = ["/usr/lib/postfix/sbin/smtpd", "/usr/sbin/dovecot", "/usr/sbin/php-fpm8.2", "/home/u/smtpd"]


def test_seeded_fuzz_of_journal_entries():
    """Any field of any JSON type: no exception; an entry is only ever accepted for a daemon from root (or
    that daemon's user) AND one of its units or executables; a non-root writer is never accepted."""
    rng = random.Random(SEED + 2)
    trust = JournalTrust()
    ts = TimestampParser(NOW, timezone.utc)
    builders = sorted(BUILDERS, key=lambda b: b.__name__)
    for _ in range(LINES // 4):
        message = rng.choice(builders)(client_text(rng), client_text(rng)).split(": ", 1)[1]
        entry = {
            "MESSAGE": rng.choice(
                [message, message.encode("utf-8", "surrogateescape").hex(), *JOURNAL_VALUES]
            ),
            "__REALTIME_TIMESTAMP": rng.choice(["1795000000000000", "x", "9" * 30, *JOURNAL_VALUES]),
            "_HOSTNAME": rng.choice(["mx1", "a b", *JOURNAL_VALUES]),
            "SYSLOG_IDENTIFIER": rng.choice(IDENTS + JOURNAL_VALUES),
            "SYSLOG_PID": rng.choice(["12", "x", *JOURNAL_VALUES]),
            "_UID": rng.choice(["0", "1000", "33", *JOURNAL_VALUES]),
            "_COMM": rng.choice(["smtpd", "php-fpm8.2", *JOURNAL_VALUES]),
            "_EXE": rng.choice(EXES + JOURNAL_VALUES),
            "_SYSTEMD_UNIT": rng.choice(UNITS + JOURNAL_VALUES),
        }
        for key in [k for k in entry if rng.random() < 0.1]:
            del entry[key]
        text = journal_line(entry)
        if text is None:
            continue
        daemon = claimed_daemon(text)
        accepted = daemon is None or trust.accepts(daemon, entry)
        if daemon is not None and accepted:
            assert entry.get("_UID") == "0"  # no daemon user exists on the test machine
            assert entry.get("_SYSTEMD_UNIT") in UNITS[:2] or entry.get("_EXE") in EXES[:2]
        timed_parse(text, ts)
