"""Review of the Dovecot 2.4 parser (commit 0a0f024): a username that holds the fields of a failure of one
form (2.4's ``auth(USER,IP,...)<S>: PASSDB: MESSAGE`` or the older ``DRIVER(USER,IP): MESSAGE``) must not
make a line of the other form, or a line that is no failure (a debug line of the same request), or a line
of Dovecot's own log file, read as a failure of another address. Each line below read as 6.6.6.6's."""

from __future__ import annotations

import calendar
from datetime import timezone

import pytest
from hostile_lines import REAL, H
from mail_bruteforce_guard.parser import correlate
from mail_bruteforce_guard.parser.correlate import Correlator
from mail_bruteforce_guard.parser.lines import parse_line
from mail_bruteforce_guard.parser.timestamps import TimestampParser

NOW = float(calendar.timegm((2026, 11, 26, 12, 0, 0)))
TS = TimestampParser(NOW, timezone.utc)

# usernames (a widened auth_username_chars: commas, parentheses, colons, spaces) of at most 64 characters
OLDER_IN_USER = "a): pam(x,6.6.6.6): Password mismatch ("  # an older form's failure after "auth(a): "
NEWER_IN_USER = (
    "a,6.6.6.6): p: Password mismatch ("  # a 2.4 failure (passdb "p") after "auth(" / "auth-worker("
)
NEWER_AND_TWO_OLDER = NEWER_IN_USER + ",7.7.7.7): unknown user ("  # and the older reading: two addresses

FORGED = {
    "2.4 line that is no failure, an older failure in its username": (
        f"{H}dovecot: auth({OLDER_IN_USER},{REAL},sasl:plain)<Ab12>: passwd-file: lookup: user=x"
        " file=/etc/dovecot/users"
    ),
    "2.4 line that is no failure, a 2.4 failure in its username": (
        f"{H}dovecot: auth(a,6.6.6.6)<S1>: p: Password mismatch (,{REAL},sasl:plain)<Ab12>: passwd-file:"
        " Debug: lookup: user=x"
    ),
    "2.4 anonymous login (Dovecot logs the name the client gave)": (
        f"{H}dovecot: auth({OLDER_IN_USER},{REAL},sasl:anonymous)<Ab12>: anonymous login"
    ),
    "older auth worker line that is no failure, a 2.4 failure in its username": (
        f"{H}dovecot: auth-worker(7): pam({NEWER_IN_USER},{REAL}): lookup service=dovecot"
    ),
    "older auth worker failure read two ways, a 2.4 failure in its username": (
        f"{H}dovecot: auth-worker(7): pam({NEWER_AND_TWO_OLDER},{REAL}): pam_authenticate() failed:"
        " Authentication failure (password mismatch?)"
    ),
    "older auth line that is no failure, an older failure in its username": (
        f"{H}dovecot: auth: passwd-file(a,6.6.6.6): Password mismatch (,{REAL}): lookup: user=x"
        " file=/etc/dovecot/users"
    ),
    "Dovecot 2.4's own log file: the failure itself": (
        f"Nov 26 08:00:00 auth({OLDER_IN_USER},{REAL},sasl:plain)<Ab12>: Info: passwd-file: Password mismatch"
    ),
    "Dovecot 2.4's own log file, without a session": (
        f"Nov 26 08:00:00 auth({OLDER_IN_USER},{REAL},sasl:plain): Info: passwd-file: Password mismatch"
    ),
    "Dovecot 2.4's own log file: a username that reads as a login process's successful login": (
        f"Nov 26 08:00:00 auth(x): imap-login: Logged in: user=<x>, rip=6.6.6.6,{REAL},sasl:plain)<Ab12>:"
        " Info: passwd-file: Password mismatch"
    ),
    "Dovecot 2.4's own log file: an auth worker's failure": (
        f"Nov 26 08:00:00 auth-worker({OLDER_IN_USER},{REAL})<2559><Ab12>: request [1]: Info: pam:"
        " pam_authenticate() failed: Authentication failure (Password mismatch?)"
    ),
}


@pytest.mark.parametrize("line", FORGED.values(), ids=list(FORGED))
def test_a_username_cannot_make_a_line_name_another_address(line: str) -> None:
    assert max(len(OLDER_IN_USER), len(NEWER_AND_TWO_OLDER)) <= 64
    rec = parse_line(line, TS)
    assert rec is None or rec.ip == REAL, (rec, line)


READ = {  # the real lines these checks must leave alone
    "2.4": f"{H}dovecot: auth(alice,{REAL},sasl:plain)<Ab12>: passwd-file: Password mismatch",
    "2.4 worker": (
        f"{H}dovecot: auth-worker(alice,{REAL})<2559><Ab12>: request [1]: pam: pam_authenticate() failed:"
        " Authentication failure (Password mismatch?)"
    ),
    "older worker": (
        f"{H}dovecot: auth-worker(304): pam(alice,{REAL}): pam_authenticate() failed: Authentication failure"
        " (password mismatch?)"
    ),
    "older own log": f"2013-08-11 03:56:40 auth-worker(default): Info: pam(alice,{REAL}): unknown user",
    "older own log, pid": (
        f"Jan 29 13:54:06 auth-worker(22401): Info: sql(alice,{REAL},<n4JLdHNV>): unknown user"
    ),
}


@pytest.mark.parametrize("line", READ.values(), ids=list(READ))
def test_the_real_lines_still_read(line: str) -> None:
    rec = parse_line(line, TS)
    assert rec is not None and (rec.ip, rec.user) == (REAL, "alice")


def test_the_lookup_memory_is_bounded_when_the_clock_stands_still() -> None:
    """A flood of sessions whose lines carry no time (the clock never moves, so no lookup gets old): the
    lookups the correlator remembers stay bounded like its other tables."""
    corr = Correlator(info=False)
    rec = parse_line(f"{H}dovecot: auth(alice,{REAL},sasl:plain)<Ab12>: passwd-file: Password mismatch", TS)
    rec = rec._replace(time=None)
    limit = correlate.MAX_SESSIONS
    for i in range(limit + 5000):
        corr.feed(rec._replace(session=f"S{i}"), i)
    corr._evict()
    assert len(corr._last_auth) <= limit
