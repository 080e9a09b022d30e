"""parse_line: one log line -> a raw Record (no cross-line state), or None for lines that are not ours."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from ..addresses import normalize_ip
from ..memo import remember
from .gate import Gate
from .patterns import (
    DC24_AUTH_FIELDS_RE,
    DC24_AUTH_PASSDB_RE,
    DC24_AUTH_PREFIXES,
    DC_AUTH_DRIVERS,
    DC_AUTH_FAILED_RE,
    DC_AUTH_FIELDS_RE,
    DC_AUTH_MESSAGE_FIXED,
    DC_AUTH_MESSAGE_PASSWORD,
    DC_AUTH_MESSAGE_VARIABLE,
    DC_AUTH_PREFIX_RE,
    DC_AUTH_PROCESS_RE,
    DC_FAILED_USUAL_RE,
    DC_LEVEL_PREFIXES,
    DC_LOG_USER_MAX,
    DC_LOGIN_FAILED_USUAL_RE,
    DC_LOGIN_PREFIXES,
    DC_NO_AUTH,
    DC_PLAINTEXT_REFUSED,
    DC_PROXY_FAILED,
    DC_USUAL_LINE_RE,
    GATE_LOGGED_IN,
    GATE_LOGIN,
    HEADER_RE,
    PAM_RUSER,
    PAM_UNIX_FAILURE,
    PF_AUTH_COUNT_RE,
    PF_BAD_MECH,
    PF_DISCONNECT_RE,
    PF_LOST_AUTH_SERVER,
    PF_RCPT,
    PF_RCPT_NONE,
    PF_SASL_FAIL_RE,
    PF_SASL_USER_SEP,
    PF_SUCCESS_RE,
    PF_TOO_MANY_RE,
    PLESK_FAILED,
    PLESK_FAILED_TAIL,
    PLESK_NO_USER,
    PLESK_NO_USER_TAIL,
    PLESK_PROGRAM,
)
from .timestamps import ISO_SECOND_LEN, TimestampParser

# Raw record kinds (internal to the parser; the correlator turns them into Event kinds)
SASL_FAILURE = "sasl_failure"  # postfix: SASL <MECH> authentication failed
SASL_LOST = "sasl_lost"  # postfix: ... failed: Connection lost to authentication server
SMTPD_SUMMARY = "smtpd_summary"  # postfix: disconnect from name[ip] ... auth=ok/attempts  (count=failures)
SMTPD_SUCCESS = "smtpd_success"  # postfix: QUEUEID: client=name[ip], sasl_method=..., sasl_username=...
TOO_MANY_ERRORS = "too_many_errors"  # postfix: too many errors after AUTH from name[ip]
LOGIN_FAILURE = "login_failure"  # dovecot *-login: (auth failed, N attempts): ... rip=
LOGIN_SUCCESS = "login_success"  # dovecot *-login: Login: user=<...>, ... rip=
NO_AUTH = "no_auth"  # dovecot *-login: (no auth attempts ...)
PLAINTEXT_REFUSED = "plaintext_refused"  # dovecot *-login: (tried to use disabled plaintext auth)
AUTH_PROCESS_FAILURE = "auth_process_failure"  # dovecot auth: passdb(user,ip): unknown user / mismatch
PLESK_FAILURE = "plesk_failure"  # plesk_saslauthd: failed mail authentication attempt for user 'x'

_AUTH_DRIVERS = frozenset(DC_AUTH_DRIVERS)
_AUTH_MESSAGES_FIXED = frozenset(DC_AUTH_MESSAGE_FIXED)
_AUTH_MESSAGE_LONGEST = max(map(len, DC_AUTH_MESSAGE_FIXED))
_AUTH_MESSAGES_SERVER = tuple(m for m in DC_AUTH_MESSAGE_VARIABLE if m not in DC_AUTH_MESSAGE_PASSWORD)
_LOGIN_SUCCESS = (GATE_LOGIN, GATE_LOGGED_IN)  # "Login: " (Dovecot <= 2.3), "Logged in: " (2.4)
_DOVECOT_PROGRAMS = frozenset(("dovecot", "dovecot-auth", "auth", "auth-worker"))
_LOGIN_PROGRAMS = {p[:-2]: p[:-8] for p in DC_LOGIN_PREFIXES}  # "imap-login" -> "imap"
_LOGIN_PREFIXES = {p: p[:-8] for p in DC_LOGIN_PREFIXES}  # "imap-login: " -> "imap"
_MAX_USER = 512
_NO_USER = "(unavailable)"  # Dovecot's word for a username it did not get
_MAX_ATTEMPTS = 100000  # a login summary counting more attempts is not believed
_USUAL_FAILURE_WORDS = "(auth failed, "  # what every line DC_LOGIN_FAILED_USUAL_RE reads holds
# the counts a login summary usually writes, looked up instead of parsed (int() of a short text costs several
# times a dict lookup on CPython)
_NUMBERS = {str(n): n for n in range(1000)}


class Record(NamedTuple):
    """What one line says, before correlation. ``count`` is attempts (failures for SMTPD_SUMMARY)."""

    time: float | None
    kind: str
    service: str
    protocol: str | None
    ip: str | None
    user: str | None = None
    count: int = 1
    pid: int | None = None
    host: str = ""
    session: str | None = None
    extra: int = 0  # SMTPD_SUMMARY: successful AUTHs; LOGIN_FAILURE: session seconds (-1 unknown)
    driver: str = ""  # AUTH_PROCESS_FAILURE: passdb driver (passwd-file, pam, sql, ...)


_new = tuple.__new__  # Record(...) without the Python-level NamedTuple __new__ (all 12 fields given)


# One builder per daemon: the call sites name every field they set; each builder is the only place that knows
# the field order (tests/unit/parser/test_record_builders.py checks each name lands in its field).
def _postfix_record(
    time: float | None, kind: str, ip: str | None, *, user: str | None = None, count: int = 1,
    pid: int | None = None, host: str = "", extra: int = 0,
) -> Record:  # fmt: skip
    """A Postfix smtpd line's record: service postfix, protocol smtp, no session or passdb driver."""
    return _new(Record, (time, kind, "postfix", "smtp", ip, user, count, pid, host, None, extra, ""))


def _dovecot_record(
    time: float | None, kind: str, protocol: str | None, ip: str | None, *, user: str | None = None,
    count: int = 1, host: str = "", session: str | None = None, extra: int = 0, driver: str = "",
) -> Record:  # fmt: skip
    """A Dovecot login or auth process line's record: service dovecot, no pid."""
    return _new(
        Record, (time, kind, "dovecot", protocol, ip, user, count, None, host, session, extra, driver)
    )


def _plesk_record(time: float | None, *, user: str | None, host: str) -> Record:
    """A Plesk saslauthd failure: no address on the line (correlation supplies it), protocol smtp."""
    return _new(Record, (time, PLESK_FAILURE, "plesk", "smtp", None, user, 1, None, host, None, 0, ""))


_default_ts: TimestampParser | None = None

# HEADER_RE can only match up to the first ": " after the timestamp (neither the host, the program nor the
# pid/id can hold one), so the header text there decides the match: parsed headers are cached by it
_HEADER_MAX = 364  # longest header HEADER_RE can match: host 255 + " " + program 64 + "(id)" 42 + ": "
_HEADERS_MAX = 8192
_IPS_MAX = 131072  # more than a scan's distinct addresses in all but the largest attacks (else: cleared)
# _DOVECOT_OWN: Dovecot's own log file, "auth(X)...: " / "auth-worker(X)...: " where a syslog header would be
# (X: an older auth worker's pid, or Dovecot 2.4's "USER,IP,..."): its message is read from "auth" on
_POSTFIX, _DOVECOT, _LOGIN, _PLESK, _DOVECOT_OWN = 1, 2, 3, 4, 5
_DAEMON_OF = {
    _POSTFIX: "postfix",
    _DOVECOT: "dovecot",
    _LOGIN: "dovecot",
    _PLESK: "plesk",
    _DOVECOT_OWN: "dovecot",
}
_AUTH_PROGRAMS = frozenset(p[:-1] for p in DC24_AUTH_PREFIXES)  # "auth", "auth-worker"
_MISSING = ()
_headers: dict[str, tuple | None] = {}  # header text -> (which parser, host, pid, login protocol) or None
_programs: dict[str, tuple | None] = {}  # "host program" of "host program[pid]: " -> the same, pid aside
_ips: dict[str, str | None] = {}  # address text -> normalize_ip(text) (a pure function), looked up inline


def is_candidate(text: str, info: bool = True) -> bool:
    """The cheap gate: False for lines that cannot be an event (most lines of a mail log); ``info=False``
    for callers that drop informational kinds (see ``gate.Gate``)."""
    return Gate.of(info).passes(text)


def parse_line(text: str, ts: TimestampParser | None = None) -> Record | None:
    """Parse one line (syslog, rsyslog RFC 3339, TAI64N, Dovecot's own log, or no header at all)."""
    if not is_candidate(text):
        return None
    return parse_candidate(text, ts)


def parse_candidate(text: str, ts: TimestampParser | None = None) -> Record | None:
    """parse_line without the substring gate (for callers that already tested it): None for a line no
    parser wants, a useless ``disconnect from`` summary included."""
    _indexes, located = locate_all((text,), ts)
    return parse_located(located[0]) if located else None


def locate_all(  # noqa: PLR0912 - the hot loop of the first stage, its fast path included (make bench)
    texts: Iterable[str], ts: TimestampParser | None = None, *, usual: bool = True
) -> tuple[list[int], list[tuple]]:
    """The first stage of parsing candidate lines (each holds a gate substring): ``(indexes, located)``,
    where ``located`` holds a ``(header, text, at, time)`` for each text whose program one of the parsers
    wants, its message starting at ``text[at]`` (``indexes``: its position in ``texts``);
    ``parse_message(*one)`` is the second stage. The parsers read the message in place, by offsets.
    A usual failure summary with a plain syslog header (``DC_USUAL_LINE_RE``: most lines of an attack on IMAP
    or POP3) is read whole here, in one match: its Record takes the place of the tuple (``usual``: this fast
    path; without it, the reference the tests compare it with). ``parse_located`` takes either.

    Block readers run each stage over a whole block before the next one: two short loops, each staying in
    the CPU's caches and branch predictors, run faster than one long loop that parses line after line.
    """
    global _default_ts  # noqa: PLW0603 - one lazily created parser anchored on the first call's clock
    if ts is None:
        if _default_ts is None:
            _default_ts = TimestampParser()
        ts = _default_ts
    seconds = ts.seconds
    split_new = ts.split_new
    headers = _headers
    usual_line = DC_USUAL_LINE_RE.fullmatch
    width = 16
    indexes: list[int] = []
    located: list[tuple] = []
    for index, text in enumerate(texts):
        if text.endswith(("\n", "\r")):
            text = text.rstrip("\r\n")  # noqa: PLW2901
        # ts.split, its first steps inlined: a stamp seen this second, of the previous line's form first (only
        # RFC 3164 stamps are cached at 16 characters, only RFC 3339 ones at ISO_SECOND_LEN: one can hit)
        when = seconds.get(text[:width])
        if when is not None:
            pos = width
        else:
            other = ISO_SECOND_LEN if width == 16 else 16
            when = seconds.get(text[:other])
            if when is not None:
                pos = width = other
            else:
                when, pos = split_new(text)
        # the line of an attack on IMAP or POP3, header and all (its last character first: most other lines
        # end otherwise, and the search for the words reads a whole line)
        if usual and text[-1:] == ">" and _USUAL_FAILURE_WORDS in text:
            m = usual_line(text, pos)
            if m is not None:
                host, proto, login_proto, attempts, secs, user, raw, session = m.groups()
                rec = _usual_failure_record(
                    proto or login_proto, attempts, secs, user, raw, session, when, host
                )
                if rec is not None:
                    indexes.append(index)
                    located.append(rec)
                    continue
        end = text.find(": ", pos) + 2
        if end < 2 or end - pos > _HEADER_MAX:
            continue
        head = text[pos:end]
        header = headers.get(head, _MISSING)
        if header is _MISSING:
            header = _header(head)
        if header is not None:
            indexes.append(index)
            located.append((header, text, end, when))
    return indexes, located


def claimed_daemon(text: str) -> str | None:
    """The daemon whose parser would read ``text`` ("postfix", "dovecot" or "plesk"; None when no parser
    wants it): who a journal entry claims to be, judged as the parser will judge it."""
    _indexes, located = locate_all((text,), usual=False)  # (the header alone: no line is read whole)
    return _DAEMON_OF[located[0][0][0]] if located else None


def parse_located(one: tuple) -> Record | None:
    """The second stage of parsing one line ``locate_all`` located: its Record (read there already, or now by
    ``parse_message``)."""
    return one if one.__class__ is Record else parse_message(*one)


def parse_message(header: tuple, text: str, at: int, when: float | None) -> Record | None:
    """The Record of the message at ``text[at:]``, after its header (see ``locate_all``)."""
    where, host, pid, proto = header
    if where == _POSTFIX:
        return _postfix(text, at, when, host, pid)
    if where == _DOVECOT:
        return _dovecot(text, at, when, host)
    if where == _LOGIN:
        return _login(proto, text, at, when, host)
    if where == _DOVECOT_OWN:  # ``proto``: how far before ``at`` the program's name starts
        return _dovecot(text, at - proto, when, host)
    return _plesk(text, at, when, host)


def _header(head: str) -> tuple | None:
    """(which parser, host, pid, login protocol) of a syslog header, or None when no parser wants it.

    In "host program[pid]: " the pid is the only bracketed part the program can end with, so whether and how
    the rest matches does not depend on the pid: that rest is cached once for all pids (smtpd runs many).
    """
    result = None
    bracket = head.rfind("[") if head.endswith("]: ") else -1
    digits = head[bracket + 1 : -3]
    if (
        bracket > 0
        and 0 < len(digits) <= 10
        and digits.isdecimal()
        and not head.startswith(DC24_AUTH_PREFIXES)
    ):
        rest = head[:bracket]
        known = _programs.get(rest, _MISSING)
        if known is _MISSING:
            known = remember(_programs, rest, _parse_header(rest + "[0]: "), _HEADERS_MAX)
        if known is not None:
            result = (known[0], known[1], int(digits), known[3])
    else:
        result = _parse_header(head)
    return remember(_headers, head, result, _HEADERS_MAX)


def _parse_header(head: str) -> tuple | None:
    if head.startswith(DC24_AUTH_PREFIXES):
        # Dovecot's own log file: an auth process's prefix where a syslog header would be, 2.4's with the
        # client's username in it ("auth(USER,IP,sasl:plain)<SESSION>: "): the message starts at "auth"
        return (_DOVECOT_OWN, "", None, len(head))
    m = HEADER_RE.fullmatch(head)
    result = None
    if m is not None:
        host, name, pid_text = m.group(1, 2, 3)
        pid = int(pid_text) if pid_text else None
        host = _clean(host) if host else ""
        proto = _LOGIN_PROGRAMS.get(name)
        if name.startswith("postfix") and name.endswith("/smtpd"):
            result = (_POSTFIX, host, pid, None)
        elif name in _AUTH_PROGRAMS and head.startswith("(", m.end(2)):
            # Dovecot's own log file: "auth(X): " is no header but the start of the message (2.4 writes the
            # client's username there): read from the program's name on, in both forms (see _dovecot)
            result = (_DOVECOT_OWN, host, None, len(head) - m.start(2))
        elif name in _DOVECOT_PROGRAMS:
            result = (_DOVECOT, host, pid, None)
        elif proto is not None:
            result = (_LOGIN, host, pid, proto)
        elif name == PLESK_PROGRAM:
            result = (_PLESK, host, pid, None)
    return result


def _ip(text: str) -> str | None:
    """normalize_ip(text), remembered in ``_ips`` (hot paths look it up there first)."""
    return remember(_ips, text, normalize_ip(text), _IPS_MAX)


def _clean(text: str) -> str:
    """Text safe for any JSON writer: undecodable bytes (lone surrogates from surrogateescape) become "?"."""
    return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")


def _user(text: str | None) -> str | None:
    if not text or text == _NO_USER:
        return None
    text = text[:_MAX_USER]
    return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")  # _clean, inlined


# --- Postfix smtpd ------------------------------------------------------------------------------------------


def _postfix(  # noqa: PLR0911, PLR0912, PLR0915 - one return per Postfix line shape (hot path)
    msg: str,
    at: int,
    when: float | None,
    host: str,
    pid: int | None,
) -> Record | None:
    """The message at ``msg[at:]`` (as every parser below: offsets into the line, no copy of the message)."""
    c = msg[at : at + 1]
    if c == "w":
        m = PF_SASL_FAIL_RE.match(msg, at)
        if m is None:
            return None
        raw = m.group(2)
        ip = _ips.get(raw, _MISSING)
        if ip is _MISSING:
            ip = _ip(raw)
        if ip is None:
            return None
        reason = m.end()  # the reason is server text; the username (attacker's) comes last
        user = None
        cut = msg.find(PF_SASL_USER_SEP, reason)
        if cut >= 0:
            user = _user(msg[cut + len(PF_SASL_USER_SEP) :])
        else:
            cut = len(msg)
        if msg.startswith(PF_BAD_MECH, reason, cut):
            return None  # the client asked for a mechanism we do not offer: no password was tried
        kind = SASL_LOST if msg.startswith(PF_LOST_AUTH_SERVER, reason, cut) else SASL_FAILURE
        return _postfix_record(when, kind, ip, user=user, pid=pid, host=host)
    if c == "d":
        m = PF_DISCONNECT_RE.match(msg, at)
        if m is None:
            return None
        counters = m.group(3)
        i = counters.find(" auth=")
        if i < 0:
            return None
        a = PF_AUTH_COUNT_RE.match(counters, i)
        raw = m.group(2)
        ip = _ips.get(raw, _MISSING)
        if ip is _MISSING:
            ip = _ip(raw)
        if a is None or ip is None:
            return None
        ok = int(a.group(1))
        if a.group(2) is None:  # every AUTH succeeded
            if PF_RCPT in counters and PF_RCPT_NONE not in counters:
                return None  # and a recipient was accepted: the client= line reported the login
            attempts = ok
        else:
            attempts = int(a.group(2))
        failures = max(0, attempts - ok)
        return _postfix_record(when, SMTPD_SUMMARY, ip, count=failures, pid=pid, host=host, extra=ok)
    if c == "t":
        m = PF_TOO_MANY_RE.match(msg, at)
        if m is None:
            return None
        ip = normalize_ip(m.group(2))
        return None if ip is None else _postfix_record(when, TOO_MANY_ERRORS, ip, count=0, pid=pid, host=host)
    if msg.find("client=", at) >= 0:
        m = PF_SUCCESS_RE.match(msg, at)
        if m is None:
            return None
        raw = m.group(2)
        ip = _ips.get(raw, _MISSING)
        if ip is _MISSING:
            ip = _ip(raw)
        if ip is None:
            return None
        user = msg[m.end() :]
        cut = user.find(", sasl_sender=")
        if cut >= 0:
            user = user[:cut]
        return _postfix_record(when, SMTPD_SUCCESS, ip, user=_user(user), pid=pid, host=host)
    return None


# --- Dovecot ------------------------------------------------------------------------------------------------


def _dovecot(msg: str, at: int, when: float | None, host: str, usual: bool = True) -> Record | None:
    """A line of program "dovecot": the usual failure summary in one match (``usual``: its fast path; the
    general reading without it is the reference the tests compare it with), else the general reading."""
    if usual and _USUAL_FAILURE_WORDS in msg:  # (a substring test first: logins, "no auth attempts" lack it)
        m = DC_LOGIN_FAILED_USUAL_RE.fullmatch(msg, at)
        if m is not None:  # most lines of an attack on IMAP or POP3
            return _usual_failure_record(*m.groups(), when, host)
    if msg.startswith("dovecot: ", at):
        at += 9
    # each login prefix ends with the only ": " it holds: look the text up to the first ": " up
    cut = msg.find(": ", at) + 2
    proto = _LOGIN_PREFIXES.get(msg[at:cut]) if cut > 1 else None
    if proto is not None:
        return _login(proto, msg, cut, when, host, usual=False)  # (the pattern said no already)
    if msg.startswith(DC24_AUTH_PREFIXES, at):
        return _auth_either(msg, at, when, host)
    return _auth_line(msg, at, when, host)


def _auth_either(msg: str, at: int, when: float | None, host: str) -> Record | None:
    """A line that starts as Dovecot 2.4's auth process prefix (``auth(``, ``auth-worker(``), maybe also an
    older form (``auth-worker(7): pam(USER,IP): ...``): a username may make a line of one form, or one that
    is no failure (a debug line of the same request), read as a failure of either form. So the line reads
    only when the failure read names the address of every reading of either form's fields after it, a
    failure message after them or not (and both forms' failures, when both read, name the same one)."""
    start = msg.find("(", at) + 1
    newer = _auth_request(msg, start)
    # the older form, as _auth_line reads it (a line that starts so takes neither its "auth: " fast path nor,
    # unless pam_unix's words follow the prefix, anything but DC_AUTH_PROCESS_RE), with the comma it read at
    m = DC_AUTH_PROCESS_RE.match(msg, at)  # where an older form's username starts, if any
    older_at = None
    i = msg.find(PAM_UNIX_FAILURE, at)
    if i >= 0 and DC_AUTH_PREFIX_RE.fullmatch(msg, at, i):
        older = _pam_unix(msg, i, when, host)  # (its address: from the prefix's start)
    elif m is not None:
        older_at = _auth_fields(msg, m.end())
        older = (
            None
            if older_at is None
            else _auth_record(msg, m.end(), m.group(1), older_at, when=when, host=host)
        )
    else:
        older = None
    if newer is not None:
        ip, c, session, passdb = newer
        if (older is not None and older.ip != ip) or (
            m is not None and _fields_elsewhere(msg, m.end(), c, DC_AUTH_FIELDS_RE, ip)
        ):
            return None
        user = msg[start:c]
        return _dovecot_record(
            when, AUTH_PROCESS_FAILURE, None, ip, user=None if user == "?" else _user(user), host=host,
            session=session, driver=passdb,
        )  # fmt: skip
    if older is None:
        return None
    after = older_at[1] if older_at is not None else at
    return None if _fields_elsewhere(msg, start, after, DC24_AUTH_FIELDS_RE, older.ip) else older


def _auth_line(msg: str, at: int, when: float | None, host: str) -> Record | None:
    """An auth process failure as Dovecot up to 2.3 writes it (``auth: DRIVER(USER,IP): ...``, its workers',
    pam_unix's), the message starting at ``msg[at]``."""
    if msg.startswith("auth: ", at):
        # "auth: DRIVER(", the usual form: what DC_AUTH_PROCESS_RE finds first on it, without running it
        # (and no pam_unix line: its words would have to follow "auth: " directly, not a driver)
        paren = msg.find("(", at + 6)
        driver = msg[at + 6 : paren]
        if paren > at + 6 and driver in _AUTH_DRIVERS:
            return _auth_process(msg, paren + 1, driver, when, host)
    i = msg.find(PAM_UNIX_FAILURE, at)
    if i >= 0 and DC_AUTH_PREFIX_RE.fullmatch(msg, at, i):
        return _pam_unix(msg, i, when, host)
    m = DC_AUTH_PROCESS_RE.match(msg, at)
    if m is None:
        return None
    return _auth_process(msg, m.end(), m.group(1), when, host)


def _login(  # noqa: PLR0911, PLR0912, PLR0917 - one return per unusable field (a hot path: no keywords)
    proto: str, body: str, at: int, when: float | None, host: str, usual: bool = True
) -> Record | None:
    """A login process's message at ``body[at]`` (``proto``: its protocol): the usual failure summary in one
    match (``usual``, as in ``_dovecot``), else the general reading: a login, or a summary of a connection."""
    if usual and _USUAL_FAILURE_WORDS in body:
        m = DC_FAILED_USUAL_RE.fullmatch(body, at)
        if m is not None:
            return _usual_failure_record(proto, *m.groups(), when, host)

    if body.startswith(DC_LEVEL_PREFIXES, at):
        at = body.find(" ", at) + 1  # each level prefix ("Info: ") ends with its only space
    if body.startswith(_LOGIN_SUCCESS, at):
        ip, user, session = _login_fields(body, body.find(": ", at) + 2)
        if ip is None:
            return None
        return _dovecot_record(when, LOGIN_SUCCESS, proto, ip, user=user, host=host, session=session)
    end = body.find("): ", at)
    if end < 0:
        return None
    # Dovecot's words end at body[end], e.g. "Disconnected: Inactivity (auth failed, 1 attempts)"
    i = body.find("(auth failed, ", at, end)
    if i >= 0:
        m = DC_AUTH_FAILED_RE.match(body, i, end + 1)
        if m is None:
            return None
        attempts, secs = m.group(1, 2)
        kind, count, extra = LOGIN_FAILURE, int(attempts), -1 if secs is None else int(secs)
    elif DC_PROXY_FAILED in (head := body[at : end + 1]):
        kind, count, extra = LOGIN_FAILURE, 1, -1
    elif DC_NO_AUTH in head:
        kind, count, extra = NO_AUTH, 0, 0
    elif any(reason in head for reason in DC_PLAINTEXT_REFUSED):
        kind, count, extra = PLAINTEXT_REFUSED, 0, 0
    else:
        return None
    ip, user, session = _login_fields(body, end + 3)
    if ip is None or count > _MAX_ATTEMPTS:
        return None
    return _dovecot_record(
        when, kind, proto, ip, user=user, count=count, host=host, session=session, extra=extra
    )


def _usual_failure_record(  # noqa: PLR0917 - the pattern's groups, in its order (a hot path)
    proto: str,
    attempts: str,
    secs: str | None,
    user: str,
    raw: str,
    session: str,
    when: float | None,
    host: str,
) -> Record | None:
    """The record of a usual failure summary from the groups of ``DC_LOGIN_FAILED_USUAL_RE`` (protocol,
    attempts, seconds, user, rip, session): what ``_login``'s general reading finds in it, without its
    searches (the pattern proved where each field is). A builder of its own (the fast path's: no keyword
    call of ``_dovecot_record``), each field named in the comment beside it."""
    ip = _ips.get(raw, _MISSING)
    if ip is _MISSING:
        ip = _ip(raw)
    count = _NUMBERS.get(attempts)
    if count is None:
        count = int(attempts)
    if ip is None or count > _MAX_ATTEMPTS:
        return None
    return _new(
        Record,
        (
            when,  # time
            LOGIN_FAILURE,  # kind
            "dovecot",  # service
            proto,  # protocol
            ip,  # ip
            user if user and user != _NO_USER else None,  # user: _user's answer (no cut: at most 512)
            count,  # count
            None,  # pid
            host,  # host
            session,  # session
            -1 if secs is None else _NUMBERS.get(secs) or int(secs),  # extra: the session's seconds
            "",  # driver
        ),
    )


def _login_fields(text: str, at: int) -> tuple[str | None, str | None, str | None]:
    """(ip, user, session) from the fields "user=<U>, method=M, rip=R, lip=L, ..., session=<S>" that start
    at ``text[at]``.

    The username comes first and may contain anything (``>, rip=6.6.6.6``); every field after the real
    ``rip=`` is Dovecot's, so the address is the value of the LAST ``rip=`` that starts a field.
    """
    k = text.rfind(", rip=", at) + 2  # a field starts after ", " (or is the first one)
    if k < 2:
        if not text.startswith("rip=", at):
            return None, None, None
        k = at
    end = text.find(",", k)
    raw = text[k + 4 : end if end >= 0 else len(text)]
    ip = _ips.get(raw, _MISSING)
    if ip is _MISSING:
        ip = _ip(raw)
    user = None
    if text.startswith("user=<", at):
        close = text.rfind(">, ", at, k)
        if close >= at + 6:
            user = _user(text[at + 6 : close])
    session = None
    s = text.find("session=<", k)
    if s >= 0:
        e = text.find(">", s)
        if e > s:
            session = _clean(text[s + 9 : e if e < s + 73 else s + 73]) or None  # at most 64 characters
    return ip, user, session


def _auth_process(msg: str, start: int, driver: str, when: float | None, host: str) -> Record | None:
    """``driver(USER,IP[,master][,<session>]): <failure message>``, the username starting at ``msg[start]``.

    Dovecot writes at most ``DC_LOG_USER_MAX`` characters of the username (the client's text, which may hold
    commas, parentheses and addresses when ``auth_username_chars`` allows them), then its own fields; with
    ``auth_verbose_passwords`` the client's password follows the message. So each comma within reach of
    the "(" is a possible end of the username: a reading is one whose fields fit and whose message is one
    Dovecot writes (a message of server text ending the line, or starting the rest when only server text or
    a password follows). Every reading must give the same address: a line that reads two ways (a crafted
    username AND password) is dropped (the login process's summary or Postfix's warning, which read the
    address from a field no client text precedes and follows, still counts that attempt).
    """
    found = _auth_fields(msg, start)
    return None if found is None else _auth_record(msg, start, driver, found, when=when, host=host)


def _auth_record(msg: str, start: int, driver: str, found: tuple, *, when: float | None, host: str) -> Record:
    """The Record of the reading ``found`` (``_auth_fields``) of an older form's line."""
    ip, c, session = found
    if session is not None:
        session = session[1:-1]
    user = _user(msg[start:c])
    return _dovecot_record(
        when, AUTH_PROCESS_FAILURE, None, ip, user=user, host=host, session=session, driver=driver
    )


def _auth_fields(msg: str, start: int) -> tuple | None:
    """``(ip, comma, <session> or None)`` of the failure ``_auth_process`` reads. After the first reading
    with a failure message, any comma that Dovecot's fields follow, whatever comes after them, must name
    its address too: else the first may be a username's text, and the real fields, of a line that is no
    failure (a debug line of the same request), follow it."""
    found = None
    for c, m, ip in _comma_readings(msg, start, DC_AUTH_FIELDS_RE):
        if found is None:
            if _auth_message(msg, m.end()):
                found = (ip, c, m.group(2))
        elif found[0] != ip:
            return None  # two readings, two addresses: no way to tell the real one
    return found


def _comma_readings(msg: str, start: int, fields: re.Pattern) -> Iterator[tuple[int, re.Match, str]]:
    """``(comma, match, address)`` of each comma within ``DC_LOG_USER_MAX`` characters of ``msg[start]``
    (where Dovecot's auth prefix writes the client's username) that Dovecot's ``fields`` follow with an
    address: each one a possible end of the username, in order (the readings both forms' readers weigh)."""
    limit = start + DC_LOG_USER_MAX + 1
    c = msg.find(",", start, limit)
    while c >= 0:
        m = fields.match(msg, c + 1)
        if m is not None:
            raw = m.group(1)
            ip = _ips.get(raw, _MISSING)
            if ip is _MISSING:
                ip = _ip(raw)
            if ip is not None:
                yield c, m, ip
        c = msg.find(",", c + 1, limit)


def _auth_message(msg: str, close: int) -> bool:
    """Whether the text from the ")" at ``msg[close]`` on is "): " + a failure message Dovecot writes."""
    return msg.startswith("): ", close) and _auth_text(msg, close + 3)


def _auth_text(msg: str, start: int) -> bool:
    """Whether ``msg[start:]`` is a failure message of Dovecot's auth process."""
    if len(msg) - start <= _AUTH_MESSAGE_LONGEST and msg[start:] in _AUTH_MESSAGES_FIXED:
        return True
    if msg.startswith(DC_AUTH_MESSAGE_PASSWORD, start):
        return True  # the client's password follows: anything may
    for marker in _AUTH_MESSAGES_SERVER:  # server text follows: never another "): "
        if msg.startswith(marker, start):
            return msg.find("): ", start + len(marker)) < 0
    return False


def _auth_request(msg: str, start: int) -> tuple | None:
    """Dovecot 2.4's auth process line ``auth(USER,IP[,sasl:MECH][,master])[<SESSION>]: PASSDB: MESSAGE`` (or
    its worker's, see ``patterns.DC24_AUTH_FIELDS_RE``), the username starting at ``msg[start]``: as
    ``_auth_fields`` reads the 2.3 form, each comma within reach of the "(" is a possible end of the
    username, a reading is one whose fields fit and whose message is one Dovecot writes, and every comma
    after it that the prefix's fields follow must name the same address (else None: the login summary still
    counts the attempt). ``(ip, comma, session, passdb)``, or None."""
    found = None
    for c, m, ip in _comma_readings(msg, start, DC24_AUTH_FIELDS_RE):
        if found is None:
            p = DC24_AUTH_PASSDB_RE.match(msg, m.end())
            if p is not None and _auth_text(msg, p.end()):
                found = (ip, c, m.group(2), p.group(1))
        elif found[0] != ip:
            return None  # two readings, two addresses: no way to tell the real one
    return found


def _fields_elsewhere(msg: str, start: int, after: int, fields: re.Pattern, ip: str) -> bool:
    """Whether a comma after ``msg[after]`` within reach of ``msg[start]`` is followed by Dovecot's
    ``fields`` (whatever comes after them) naming another address than ``ip``."""
    return any(c > after and other != ip for c, _m, other in _comma_readings(msg, start, fields))


def _pam_unix(msg: str, i: int, when: float | None, host: str) -> Record | None:
    """pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=R rhost=H
    [ user=U]: pam_unix writes "ruser=%s rhost=%s %s%s" (" user=" and U only when U is set), and Dovecot sets
    both R and U to the client's username (some versions leave R empty). So the rest after "ruser=" reads as
    ``R rhost=H  user=R`` (the username twice: its length, and with it the address field, is fixed by the
    line's length), `` rhost=H  user=U``, `` rhost=H`` (no username) or, from other PAM users,
    ``R rhost=H`` with nothing after the address.
    Every reading must give the same address, or the line is dropped. ``i`` is where the pam_unix words
    start (after Dovecot's own prefix only)."""
    r = msg.find(PAM_RUSER, i)
    if r < 0:
        return None
    s = msg[r + len(PAM_RUSER) :]
    readings = []  # (address text, username)
    size = len(s)
    # "U rhost=H  user=U": len(s) == 2 * len(U) + len(H) + 14, with 2 <= len(H) <= 45
    for j in range(max(1, (size - 59 + 1) // 2), (size - 16) // 2 + 1):
        if s.startswith(" rhost=", j) and s.endswith("  user=" + s[:j]):
            readings.append((s[j + 7 : size - j - 7], s[:j]))
    # " rhost=H  user=U": no ruser (Dovecot versions that do not set it)
    if s.startswith(" rhost="):
        sp = s.find(" ", 7)
        if sp > 7 and s.startswith("  user=", sp) and len(s) > sp + 7:
            if " rhost=" in s[sp + 7 :]:
                # U holds another "rhost=": this may be "R rhost=H  user=R" with R = " rhost=...", its end
                # trimmed by the log reader (a trailing CR) so that the length test above missed it
                return None
            readings.append((s[7:sp], s[sp + 7 :]))
    # " rhost=H" or "R rhost=H" (a trailing space kept): the address ends the line
    body = s[:-1] if s.endswith(" ") else s
    j = body.rfind(" rhost=")
    if j >= 0 and "  user=" not in body[:j]:
        readings.append((body[j + 7 :], body[:j]))
    found = None
    for addr, user in readings:
        ip = normalize_ip(addr) if addr and " " not in addr else None
        if ip is None:
            continue
        if found is None:
            found = (ip, user)
        elif found[0] != ip:
            return None  # two readings, two addresses
    if found is None:
        return None
    return _dovecot_record(when, AUTH_PROCESS_FAILURE, None, found[0], user=_user(found[1]), host=host)


# --- Plesk --------------------------------------------------------------------------------------------------


def _plesk(msg: str, at: int, when: float | None, host: str) -> Record | None:
    for prefix in PLESK_FAILED:
        if msg.startswith(prefix, at):
            user = msg[at + len(prefix) :]
            end = user.rfind(PLESK_FAILED_TAIL)
            if end >= 0:
                user = user[:end]
            elif user.endswith("'"):
                user = user[:-1]
            return _plesk_record(when, user=_user(user), host=host)
    if msg.startswith(PLESK_NO_USER, at):
        user = msg[at + len(PLESK_NO_USER) :]
        end = user.rfind(PLESK_NO_USER_TAIL)
        if end < 0:
            return None
        return _plesk_record(when, user=_user(user[:end]), host=host)
    return None
