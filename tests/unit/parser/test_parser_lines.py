"""parse_line: every recognised line shape, program checks, and addresses only from the daemon's field."""

# ruff: noqa: E501  (real log lines are long: they stay whole, one per line, as the daemons write them)
from __future__ import annotations

import calendar
from datetime import timezone
from typing import Optional

import pytest
from mail_bruteforce_guard.parser import lines as raw
from mail_bruteforce_guard.parser.lines import parse_line
from mail_bruteforce_guard.parser.timestamps import TimestampParser

NOW = float(calendar.timegm((2026, 11, 26, 12, 0, 0)))
TS = TimestampParser(NOW, timezone.utc)

# (line, (kind, ip, user, count, service, protocol))
Expected = tuple[str, Optional[str], Optional[str], int, str, Optional[str]]
PF = "postfix"
DC = "dovecot"

POSTFIX: list = [
    # the forum thread (Plesk)
    ("Aug 12 08:08:18 www postfix/smtpd[4805]: warning: unknown[162.255.86.250]: SASL LOGIN authentication failed: "
     "authentication failure", (raw.SASL_FAILURE, "162.255.86.250", None, 1, PF, "smtp")),
    # shared/ENVIRONMENT.md (Debian 12, rsyslog RFC 3339, Postfix appends sasl_username)
    ("2026-11-26T17:29:09.818109+00:00 mx postfix/submission/smtpd[588]: warning: unknown[10.89.0.3]: SASL LOGIN "
     "authentication failed: (reason unavailable), sasl_username=alice@example.com",
     (raw.SASL_FAILURE, "10.89.0.3", "alice@example.com", 1, PF, "smtp")),
    ("2026-11-26T17:29:19.818109+00:00 mx postfix/submission/smtpd[588]: warning: unknown[10.89.0.3]: SASL PLAIN "
     "authentication failed: Connection lost to authentication server, sasl_username=(unavailable)",
     (raw.SASL_LOST, "10.89.0.3", None, 1, PF, "smtp")),
    ("2026-11-26T17:30:01+00:00 mx postfix/submission/smtpd[611]: 4ABC1234DE: client=unknown[10.89.0.4], "
     "sasl_method=PLAIN, sasl_username=alice@example.com", (raw.SMTPD_SUCCESS, "10.89.0.4", "alice@example.com", 1,
                                                            PF, "smtp")),
    # service names and mechanisms of every kind
    ("Sep  6 00:44:57 trianon postfix/submission/smtpd[11538]: warning: unknown[82.221.106.233]: SASL login "
     "authentication failed: UGFzc3dvcmQ6", (raw.SASL_FAILURE, "82.221.106.233", None, 1, PF, "smtp")),
    ("Apr 12 02:24:11 xxx postfix/smtps/smtpd[42]: warning: astra4139.startdedicated.de[62.138.2.143]: SASL LOGIN "
     "authentication failed: UGFzc3dvcmQ6", (raw.SASL_FAILURE, "62.138.2.143", None, 1, PF, "smtp")),
    ("Jan 29 08:11:45 mail postfix-incoming/smtpd[10752]: warning: unknown[1.1.1.1]: SASL LOGIN authentication "
     "failed: Password:", (raw.SASL_FAILURE, "1.1.1.1", None, 1, PF, "smtp")),
    ("Nov 26 08:00:00 mail postfix/submissions-proxyprotocol/smtpd[77]: warning: unknown[203.0.113.9]: SASL PLAIN "
     "authentication failed: ", (raw.SASL_FAILURE, "203.0.113.9", None, 1, PF, "smtp")),
    ("Aug 3 15:30:49 ksusha postfix/smtpd[17041]: warning: mail.foldsandwalker.com[98.191.84.74]: SASL Plain "
     "authentication failed:", (raw.SASL_FAILURE, "98.191.84.74", None, 1, PF, "smtp")),
    ("Aug  4 16:47:52 mail3 postfix/smtpd[31152]: warning: unknown[192.0.2.237]:55729: SASL LOGIN authentication "
     "failed: authentication failure", (raw.SASL_FAILURE, "192.0.2.237", None, 1, PF, "smtp")),
    ("Dec  2 22:24:22 hel postfix/smtpd[7676]: warning: 114-44-142-233.dynamic.hinet.net[114.44.142.233]: SASL "
     "CRAM-MD5 authentication failed: PDc3OTEwNTkyNTEyMzA2NDIuMTIyODI1MzA2MUBoZWw+",
     (raw.SASL_FAILURE, "114.44.142.233", None, 1, PF, "smtp")),
    ("Nov 26 08:00:00 mail postfix/smtpd[9]: warning: unknown[2001:db8::dead:beef]: SASL XOAUTH2 authentication "
     "failed: bad token, sasl_username=bob", (raw.SASL_FAILURE, "2001:db8::dead:beef", "bob", 1, PF, "smtp")),
    ("Nov 26 08:00:00 mail postfix/smtpd[9]: warning: unknown[::ffff:198.51.100.7]: SASL LOGIN authentication "
     "failed: authentication failure", (raw.SASL_FAILURE, "198.51.100.7", None, 1, PF, "smtp")),
    # summaries, too many errors
    ("Feb 10 13:26:34 srv postfix/smtpd[123]: disconnect from unknown[192.0.2.1] helo=1 auth=0/1 quit=1 "
     "commands=2/3", (raw.SMTPD_SUMMARY, "192.0.2.1", None, 1, PF, "smtp")),
    ("Feb 10 13:26:34 srv postfix/smtpd[123]: disconnect from unknown[192.0.2.2] ehlo=1 auth=2/7 rset=1 "
     "commands=3/8", (raw.SMTPD_SUMMARY, "192.0.2.2", None, 5, PF, "smtp")),
    ("Feb 10 13:26:34 srv postfix/submission/smtpd[5]: disconnect from unknown[192.0.2.3] ehlo=2 starttls=1 auth=1 "
     "quit=1 commands=5", (raw.SMTPD_SUMMARY, "192.0.2.3", None, 0, PF, "smtp")),
    ("Feb 10 13:26:34 srv postfix/smtpd[5]: disconnect from unknown[192.0.2.3]:4567 ehlo=1 auth=0/3",
     (raw.SMTPD_SUMMARY, "192.0.2.3", None, 3, PF, "smtp")),
    ("Feb 18 09:48:04 x postfix/smtpd[23]: too many errors after AUTH from unknown[192.0.2.23]",
     (raw.TOO_MANY_ERRORS, "192.0.2.23", None, 0, PF, "smtp")),
]  # fmt: skip

DOVECOT: list = [
    ("2026-11-26T17:29:09.1+00:00 mx dovecot: auth: passwd-file(alice@example.com,10.89.0.3): Password mismatch",
     (raw.AUTH_PROCESS_FAILURE, "10.89.0.3", "alice@example.com", 1, DC, None)),
    ("2026-11-26T17:29:11+00:00 mx dovecot: imap-login: Disconnected: Aborted login by logging out (auth failed, 1 "
     "attempts in 2 secs): user=<alice@example.com>, method=PLAIN, rip=10.89.0.3, lip=10.89.0.2, session=<ab+/c>",
     (raw.LOGIN_FAILURE, "10.89.0.3", "alice@example.com", 1, DC, "imap")),
    ("2026-11-26T17:30:05+00:00 mx dovecot: imap-login: Login: user=<alice@example.com>, method=PLAIN, "
     "rip=10.89.0.4, lip=10.89.0.2, mpid=1201, TLS, session=<a1b2c3d4>",
     (raw.LOGIN_SUCCESS, "10.89.0.4", "alice@example.com", 1, DC, "imap")),
    ("Jun 13 16:30:54 platypus dovecot: imap-login: Disconnected (auth failed, 2 attempts): user=<username.bob>, "
     "method=PLAIN, rip=49.176.98.87, lip=113.212.99.194, TLS", (raw.LOGIN_FAILURE, "49.176.98.87", "username.bob",
                                                                 2, DC, "imap")),
    ("Jun 14 00:48:21 platypus dovecot: imap-login: Disconnected (auth failed, 1 attempts): method=PLAIN, "
     "rip=59.167.242.100, lip=113.212.99.194, TLS: Disconnected", (raw.LOGIN_FAILURE, "59.167.242.100", None, 1, DC,
                                                                   "imap")),
    ("Jun 23 00:52:43 vhost1-ua dovecot: pop3-login: Disconnected: Inactivity (auth failed, 1 attempts): "
     "user=<info>, method=PLAIN, rip=193.95.245.163, lip=176.214.13.210", (raw.LOGIN_FAILURE, "193.95.245.163",
                                                                           "info", 1, DC, "pop3")),
    ("Jul 02 13:49:31 hostname dovecot[442]: pop3-login: Aborted login (auth failed, 1 attempts in 17 secs): "
     "user=<test>, method=PLAIN, rip=192.51.100.13, lip=203.0.113.17, session=<YADINsQCDs5BH8Pg>",
     (raw.LOGIN_FAILURE, "192.51.100.13", "test", 1, DC, "pop3")),
    ("Aug 28 06:38:52 s1 dovecot: imap-login: Disconnected: Connection closed: read(size=1003) failed: Connection "
     "reset by peer (auth failed, 1 attempts in 0 secs): user=<test@example.com>, rip=192.0.2.4, lip=127.0.0.19, "
     "session=<Lsz0Oo7WXti3b7xe>", (raw.LOGIN_FAILURE, "192.0.2.4", "test@example.com", 1, DC, "imap")),
    ("Aug 29 03:17:18 server dovecot: submission-login: Client has quit the connection (auth failed, 1 attempts in "
     "2 secs): user=<user1>, method=LOGIN, rip=192.0.2.133, lip=0.0.0.0", (raw.LOGIN_FAILURE, "192.0.2.133", "user1",
                                                                           1, DC, "submission")),
    ("Aug 29 15:33:53 server dovecot: managesieve-login: Disconnected: Too many invalid commands. (auth failed, 1 "
     "attempts in 2 secs): user=<myself>, method=PLAIN, rip=192.0.2.100, lip=0.0.0.0, TLS, TLSv1.3 with cipher "
     "TLS_CHACHA20_POLY1305_SHA256 (256/256 bits)", (raw.LOGIN_FAILURE, "192.0.2.100", "myself", 1, DC, "managesieve")),
    ("Nov 26 09:00:00 mx dovecot: imap-login: Login aborted: Logged out (auth failed, 3 attempts in 9 secs) "
     "(auth_failed): user=<a@b.c>, method=PLAIN, rip=198.51.100.9, lip=192.0.2.10, TLS, session=<Q1w2E3r4>",
     (raw.LOGIN_FAILURE, "198.51.100.9", "a@b.c", 3, DC, "imap")),
    ("Jul 17 09:21:22 mailproxy dovecot: imap-login: Disconnected (proxy dest auth failed): user=<rt@acenet.au>, "
     "method=PLAIN, rip=192.0.2.4, lip=192.168.1.2, session=<NTI4FiZxcQCSud4G>", (raw.LOGIN_FAILURE, "192.0.2.4",
                                                                                  "rt@acenet.au", 1, DC, "imap")),
    ("Jun 13 20:48:11 platypus dovecot: pop3-login: Disconnected (no auth attempts): rip=121.44.24.254, "
     "lip=113.212.99.194, TLS: Disconnected", (raw.NO_AUTH, "121.44.24.254", None, 0, DC, "pop3")),
    ("Aug 29 01:49:33 server dovecot[459]: imap-login: Disconnected: Connection closed: SSL_accept() failed: "
     "error:1408F10B:SSL routines:ssl3_get_record:wrong version number (no auth attempts in 0 secs): user=<>, "
     "rip=192.0.2.5, lip=127.0.0.1, TLS handshaking: SSL_accept() failed: error:1408F10B:SSL routines:"
     "ssl3_get_record:wrong version number", (raw.NO_AUTH, "192.0.2.5", None, 0, DC, "imap")),
    ("Dec 12 11:19:11 dunnart dovecot: pop3-login: Aborted login (tried to use disabled plaintext auth): "
     "rip=190.210.136.21, lip=113.212.99.193", (raw.PLAINTEXT_REFUSED, "190.210.136.21", None, 0, DC, "pop3")),
    # auth process lines: passwd-file, pam, sql, ldap, pam_unix
    ("Jul 02 13:49:32 hostname dovecot[442]: dovecot: auth(default): pam(account@MYSERVERNAME.com,200.76.17.206): "
     "pam_authenticate() failed: User not known to the underlying authentication module: 2 Time(s)",
     (raw.AUTH_PROCESS_FAILURE, "200.76.17.206", "account@MYSERVERNAME.com", 1, DC, None)),
    ("2013-08-11 03:56:40 auth-worker(default): Info: pam(username,1.2.3.4): pam_authenticate() failed: "
     "Authentication failure (password mismatch?)", (raw.AUTH_PROCESS_FAILURE, "1.2.3.4", "username", 1, DC, None)),
    ("Jan 29 05:32:50 mail dovecot: auth-worker(304): pam(username,1.2.3.4): pam_authenticate() failed: "
     "Authentication failure (password mismatch?)", (raw.AUTH_PROCESS_FAILURE, "1.2.3.4", "username", 1, DC, None)),
    ("Jan 29 05:13:40 mail dovecot: auth-worker(31326): pam(username,1.2.3.4): unknown user",
     (raw.AUTH_PROCESS_FAILURE, "1.2.3.4", "username", 1, DC, None)),
    ("Jan 29 05:13:50 mail dovecot: auth: passwd-file(username,1.2.3.4): unknown user",
     (raw.AUTH_PROCESS_FAILURE, "1.2.3.4", "username", 1, DC, None)),
    ("Jan 29 13:54:06 auth-worker(22401): Info: sql(admin@example.de,192.0.2.5,<n4JLdHNVngZGpV2j>): unknown user",
     (raw.AUTH_PROCESS_FAILURE, "192.0.2.5", "admin@example.de", 1, DC, None)),
    ("Jun 11 13:57:17 main dovecot: auth: ldap(user@server.org,192.168.178.25,<LZmGp6mZaMrAqLIZ>): unknown user "
     "(SHA1 of given password: f638ff)", (raw.AUTH_PROCESS_FAILURE, "192.168.178.25", "user@server.org", 1, DC, None)),
    ("Jun 11 13:57:17 main dovecot: auth: sql(admin@example.ru,192.168.144.226,<6rXunFtu493AqJDi>): Password "
     "mismatch", (raw.AUTH_PROCESS_FAILURE, "192.168.144.226", "admin@example.ru", 1, DC, None)),
    ("Jun 11 13:57:17 main dovecot: auth: ldap(user@server.org,192.168.178.25,<LZmGp6mZaMrAqLIZ>): Password "
     "mismatch (for LDAP bind) (SHA1 of given password: f638ff)", (raw.AUTH_PROCESS_FAILURE, "192.168.178.25",
                                                                   "user@server.org", 1, DC, None)),
    ("Jun 12 11:48:12 auth-worker(80180): Info: conn unix:auth-worker (uid=143): auth-worker<13247>: "
     "sql(support,192.0.2.6): unknown user", (raw.AUTH_PROCESS_FAILURE, "192.0.2.6", "support", 1, DC, None)),
    ("Jun 15 11:28:21 hostname dovecot: auth-worker(5787): conn unix:auth-worker (pid=27359,uid=97): "
     "auth-worker<55>: pam(webapps,192.0.2.7): unknown user", (raw.AUTH_PROCESS_FAILURE, "192.0.2.7", "webapps", 1,
                                                               DC, None)),
    ("Jan 29 14:38:51 example.com dovecot[24941]: auth-worker(30165): pam(user@example.com,192.0.2.6,"
     "<PNHQq8pZhqIKAQGd>): pam_authenticate() failed: Permission denied", (raw.AUTH_PROCESS_FAILURE, "192.0.2.6",
                                                                           "user@example.com", 1, DC, None)),
    ("Mar 23 06:10:52 auth: Info: ldap(dog,52.37.139.121,): invalid credentials",
     (raw.AUTH_PROCESS_FAILURE, "52.37.139.121", "dog", 1, DC, None)),
    ("Apr 19 05:22:20 vm5 auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot "
     "ruser=informix rhost=80.255.3.104", (raw.AUTH_PROCESS_FAILURE, "80.255.3.104", "informix", 1, DC, None)),
    ("@400000004c91b044077a9e94 dovecot-auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 "
     "tty=dovecot ruser=root rhost=176.61.140.225  user=root", (raw.AUTH_PROCESS_FAILURE, "176.61.140.225", "root",
                                                                1, DC, None)),
    ("Nov 26 08:00:00 m dovecot: auth-worker(9): pam_unix(dovecot:auth): authentication failure; logname= uid=0 "
     "euid=0 tty=dovecot ruser= rhost=2001:db8::5  user=carol", (raw.AUTH_PROCESS_FAILURE, "2001:db8::5", "carol", 1,
                                                                 DC, None)),
    # Dovecot's own log file (no hostname), ISO and TAI64N stamps
    ("Jan 29 09:33:58 pop3-login: Info: Aborted login (auth failed, 1 attempts in 2 secs): user=<grace>, "
     "method=PLAIN, rip=212.9.180.3", (raw.LOGIN_FAILURE, "212.9.180.3", "grace", 1, DC, "pop3")),
    ("2026-11-26 08:08:18 imap-login: Info: Login: user=<carol>, method=PLAIN, rip=::ffff:203.0.113.77, "
     "lip=192.0.2.10, mpid=7, TLS, session=<x>", (raw.LOGIN_SUCCESS, "203.0.113.77", "carol", 1, DC, "imap")),
    ("@400000004c91b044077a9e94 imap-login: Info: Aborted login (auth failed, 1 attempts): "
     "user=<martin@waschbuesch.de>, method=CRAM-MD5, rip=80.187.101.33, lip=80.254.129.240, TLS",
     (raw.LOGIN_FAILURE, "80.187.101.33", "martin@waschbuesch.de", 1, DC, "imap")),
    # no syslog header at all (journal MESSAGE with its identifier): time None
    ("dovecot: imap-login: Login: user=<eve>, method=PLAIN, rip=198.51.100.1, lip=192.0.2.10",
     (raw.LOGIN_SUCCESS, "198.51.100.1", "eve", 1, DC, "imap")),
]  # fmt: skip

PLESK: list = [
    ("Aug 12 08:08:20 www plesk_saslauthd[4434]: failed mail authenticatication attempt for user "
     "'info@example.com' (password len=6)", (raw.PLESK_FAILURE, None, "info@example.com", 1, "plesk", "smtp")),
    ("Aug 12 08:08:20 www plesk_saslauthd[4434]: failed mail authentication attempt for user 'o'brien@example.com' "
     "(password len=9)", (raw.PLESK_FAILURE, None, "o'brien@example.com", 1, "plesk", "smtp")),
    ("Aug 12 08:08:20 www plesk_saslauthd[4434]: No such user 'nobody@example.com' in mail authorization database",
     (raw.PLESK_FAILURE, None, "nobody@example.com", 1, "plesk", "smtp")),
]  # fmt: skip


def _check(line: str, expected: Expected) -> raw.Record:
    rec = parse_line(line, TS)
    assert rec is not None, line
    _kind, _ip, _user, _count, _service, _protocol = expected
    assert (rec.kind, rec.ip, rec.user, rec.count, rec.service, rec.protocol) == expected
    return rec


@pytest.mark.parametrize(("line", "expected"), POSTFIX + DOVECOT + PLESK)
def test_recognised(line: str, expected: Expected) -> None:
    _check(line, expected)


@pytest.mark.parametrize(("line", "expected"), POSTFIX + DOVECOT + PLESK)
def test_recognised_with_crlf_and_without_header(line: str, expected: Expected) -> None:
    assert _check(line + "\r\n", expected) == parse_line(line, TS)
    # the same line with its timestamp and host cut off still parses, with no time
    text = line
    when, pos = TS.split(line)
    if when is not None:
        text = line[pos:]
        if not text.split(" ", 1)[0].endswith(":"):
            text = text.split(" ", 1)[1]
        rec = _check(text, expected)
        assert rec.time is None


def test_fields() -> None:
    rec = _check(POSTFIX[0][0], POSTFIX[0][1])
    assert rec.pid == 4805
    assert rec.host == "www"
    assert rec.time == calendar.timegm((2026, 8, 12, 8, 8, 18))
    rec = parse_line(DOVECOT[1][0], TS)
    assert rec is not None and rec.session == "ab+/c" and rec.extra == 2
    rec = parse_line(DOVECOT[3][0], TS)
    assert rec is not None and rec.extra == -1  # no "in N secs"
    rec = parse_line(POSTFIX[14][0], TS)
    assert rec is not None and rec.extra == 2  # two successful AUTHs of seven
    rec = parse_line(DOVECOT[20][0], TS)
    assert rec is not None and rec.session == "n4JLdHNVngZGpV2j" and rec.driver == "sql"


@pytest.mark.parametrize(
    "line",
    [
        # not a failure, or not ours
        "Feb 14 16:18:16 xxx postfix/smtpd[14933]: warning: host[192.0.2.5]: SASL CRAM-MD5 authentication failed: "
        "Invalid authentication mechanism",
        "Nov 26 08:00:00 mail postfix/smtpd[1]: connect from unknown[192.0.2.1]",
        "Nov 26 08:00:00 mail postfix/smtpd[1]: disconnect from unknown[192.0.2.1] ehlo=1 mail=1 quit=1 commands=3",
        "Nov 26 08:00:00 mail postfix/smtpd[1]: 4ABC: client=unknown[192.0.2.1]",
        "Nov 26 08:00:00 mail postfix/smtpd[1]: lost connection after AUTH from unknown[192.0.2.23]",
        "Nov 26 08:00:00 mail dovecot: imap(alice)<1><x>: Disconnected: Logged out in=1 out=2",
        "Nov 26 08:00:00 mail dovecot: auth: Error: auth client 0 disconnected with 1 pending requests",
        "Nov 26 08:00:00 mail plesk_saslauthd[4434]: select() timed out",
        "Nov 26 08:00:00 mail postfix/qmgr[1187]: 4ABC: removed",
        # the right words from the wrong program: an address must never come from these
        "Nov 26 08:00:00 mail sshd[1]: warning: unknown[6.6.6.6]: SASL LOGIN authentication failed: x",
        "Nov 26 08:00:00 mail postfix/smtp[1]: warning: unknown[6.6.6.6]: SASL LOGIN authentication failed: x",
        "Nov 26 08:00:00 mail postfix/smtpd-evil[1]: warning: unknown[6.6.6.6]: SASL LOGIN authentication failed: x",
        "Nov 26 08:00:00 mail logger: postfix/smtpd[1]: warning: unknown[6.6.6.6]: SASL LOGIN authentication failed:",
        "Nov 26 08:00:00 mail sshd[2]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh "
        "ruser= rhost=6.6.6.6",
        "Nov 26 08:00:00 mail roundcube: imap-login: Login: user=<x>, method=PLAIN, rip=6.6.6.6, lip=1.1.1.1",
        "Nov 26 08:00:00 mail nginx: 1.2.3.4 - - GET /?q=postfix/smtpd[1]:%20warning:%20x[6.6.6.6] auth",
        # broken fields
        "Nov 26 08:00:00 mail postfix/smtpd[1]: warning: unknown[999.1.1.1]: SASL LOGIN authentication failed: x",
        "Nov 26 08:00:00 mail postfix/smtpd[1]: warning: unknown[]: SASL LOGIN authentication failed: x",
        "Nov 26 08:00:00 mail postfix/smtpd[1]: warning: unknown[1.2.3.4: SASL LOGIN authentication failed: x",
        "Nov 26 08:00:00 mail dovecot: imap-login: Disconnected (auth failed, 1 attempts): user=<x>, method=PLAIN",
        "Nov 26 08:00:00 mail dovecot: auth: passwd-file(alice): unknown user",
        "Nov 26 08:00:00 mail dovecot: auth: passwd-file(alice,notanip): unknown user",
        "Nov 26 08:00:00 mail dovecot: auth: passwd-file(alice,1.2.3.4): some new message",
        "",
        "\x00\x00\x00",
        "auth",
    ],
)
def test_ignored(line: str) -> None:
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
