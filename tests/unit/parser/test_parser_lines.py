"""parse_line: hostile usernames and field limits (every recognised and ignored line shape is a case in
tests/data/parser/*.cases, checked by test_parser_cases.py)."""

# ruff: noqa: E501  (real log lines are long: they stay whole, one per line, as the daemons write them)
from __future__ import annotations

import calendar
from datetime import timezone

import pytest
from mail_bruteforce_guard.parser import lines as raw
from mail_bruteforce_guard.parser.lines import parse_line
from mail_bruteforce_guard.parser.timestamps import TimestampParser

NOW = float(calendar.timegm((2026, 11, 26, 12, 0, 0)))
TS = TimestampParser(NOW, timezone.utc)


@pytest.mark.parametrize("line", ["", "\x00\x00\x00", "\r\n"])
def test_empty_and_binary_lines_are_ignored(line: str) -> None:
    """The cases a line-based file cannot hold (tests/data/parser/*.cases has the rest)."""
    assert parse_line(line, TS) is None


# --- hostile usernames: the address comes only from the field the daemon writes -------------------------------
HOSTILE_USERS = [
    "x,6.6.6.6",
    "evil rip=6.6.6.6",
    "[6.6.6.6]",
    "a>, method=PLAIN, rip=6.6.6.6, lip=6.6.6.6",
    "x,6.6.6.6): unknown user",
    "x,6.6.6.6,<abc>",
    "u rhost=6.6.6.6",
    "u rhost=6.6.6.6  user=u rhost=6.6.6.6",
    "'6.6.6.6' (password len=3)",
    "x), sasl_username=y, rip=6.6.6.6",
    "unknown[6.6.6.6]",
    "<6.6.6.6>",
]


@pytest.mark.parametrize("user", HOSTILE_USERS)
@pytest.mark.parametrize(
    ("template", "kind"),
    [
        ("Nov 26 08:00:00 m dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<{u}>, "
         "method=PLAIN, rip=192.0.2.1, lip=192.0.2.10, TLS, session=<abc>", raw.LOGIN_FAILURE),
        ("Nov 26 08:00:00 m dovecot: imap-login: Login: user=<{u}>, method=PLAIN, rip=192.0.2.1, lip=192.0.2.10",
         raw.LOGIN_SUCCESS),
        ("Nov 26 08:00:00 m dovecot: auth: passwd-file({u},192.0.2.1): unknown user", raw.AUTH_PROCESS_FAILURE),
        ("Nov 26 08:00:00 m dovecot: auth: passwd-file({u},192.0.2.1,<Sess1on>): Password mismatch",
         raw.AUTH_PROCESS_FAILURE),
        ("Nov 26 08:00:00 m dovecot: auth-worker(1): pam({u},192.0.2.1): pam_authenticate() failed: Authentication "
         "failure (password mismatch?)", raw.AUTH_PROCESS_FAILURE),
        ("Nov 26 08:00:00 m auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 "
         "tty=dovecot ruser={u} rhost=192.0.2.1", raw.AUTH_PROCESS_FAILURE),
        ("Nov 26 08:00:00 m auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 "
         "tty=dovecot ruser={u} rhost=192.0.2.1  user={u}", raw.AUTH_PROCESS_FAILURE),
        ("Nov 26 08:00:00 m postfix/smtpd[1]: warning: unknown[192.0.2.1]: SASL LOGIN authentication failed: "
         "(reason unavailable), sasl_username={u}", raw.SASL_FAILURE),
        ("Nov 26 08:00:00 m postfix/smtpd[1]: 4ABC: client=unknown[192.0.2.1], sasl_method=PLAIN, "
         "sasl_username={u}", raw.SMTPD_SUCCESS),
    ],
)  # fmt: skip
def test_hostile_username_never_gives_its_address(template: str, kind: str, user: str) -> None:
    rec = parse_line(template.format(u=user), TS)
    if rec is not None:  # some shapes cannot be parsed safely at all: then they are dropped, never misread
        assert rec.kind == kind
        assert rec.ip == "192.0.2.1"
        assert rec.user == user


@pytest.mark.parametrize(
    "user",
    [
        "x,6.6.6.6",
        "evil rip=6.6.6.6",
        "[6.6.6.6]",
        "a>, method=PLAIN, rip=6.6.6.6",
        "x,6.6.6.6): unknown user",
    ],
)
@pytest.mark.parametrize(
    "template",
    [
        "Nov 26 08:00:00 m dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<{u}>, "
        "method=PLAIN, rip=192.0.2.1, lip=192.0.2.10, TLS, session=<abc>",
        "Nov 26 08:00:00 m dovecot: auth: passwd-file({u},192.0.2.1): unknown user",
        "Nov 26 08:00:00 m dovecot: auth-worker(1): pam({u},192.0.2.1): pam_authenticate() failed: Authentication "
        "failure (password mismatch?)",
    ],
)
def test_hostile_username_is_still_attributed(template: str, user: str) -> None:
    rec = parse_line(template.format(u=user), TS)
    assert rec is not None
    assert (rec.ip, rec.user) == ("192.0.2.1", user)


def test_plesk_user_with_the_tail_inside() -> None:
    line = ("Aug 12 08:08:20 www plesk_saslauthd[4434]: failed mail authenticatication attempt for user "
            "'a' (password len=1)' (password len=6)")  # fmt: skip
    rec = parse_line(line, TS)
    assert rec is not None and rec.user == "a' (password len=1)" and rec.ip is None


@pytest.mark.parametrize(
    ("tail", "useful"),
    [
        ("ehlo=1 auth=0/1 quit=1 commands=2/3", True),  # a failure
        ("ehlo=2 starttls=1 auth=1/2 mail=1 rcpt=1 data=1 quit=1 commands=8/9", True),
        (
            "ehlo=1 auth=1 quit=1 commands=3",
            True,
        ),  # AUTH then QUIT: the summary is the only trace of the login
        (
            "ehlo=2 starttls=1 auth=1 mail=1 rcpt=0/1 quit=1 commands=5/6",
            True,
        ),  # no queue file, no client= line
        (
            "ehlo=2 starttls=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=8",
            False,
        ),  # client= line said it all
        ("ehlo=2 starttls=1 auth=1 mail=1 rcpt=12 data=1 quit=1 commands=8", False),
        ("ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5", False),  # no AUTH at all
    ],
)
def test_which_summaries_are_parsed(tail: str, useful: bool) -> None:
    line = f"Nov 26 08:00:00 mail postfix/submission/smtpd[7]: disconnect from unknown[192.0.2.9] {tail}"
    assert raw.is_candidate(line) is useful
    assert (parse_line(line, TS) is not None) is useful


@pytest.mark.parametrize(
    ("session", "kept"),
    [("abc", "abc"), ("s" * 64, "s" * 64), ("s" * 63 + "t" * 40, "s" * 63 + "t"), ("", None)],
)
def test_login_session_is_kept_to_64_characters(session: str, kept: str | None) -> None:
    line = (
        "Nov 26 08:00:00 m dovecot: imap-login: Login: user=<u>, method=PLAIN, rip=192.0.2.1, lip=192.0.2.10,"
        f" mpid=1, TLS, session=<{session}>"
    )
    rec = parse_line(line, TS)
    assert rec is not None and rec.ip == "192.0.2.1" and rec.user == "u" and rec.session == kept
