"""The parser's caches and raw-bytes gate give exactly what the plain regex / per-line gate give."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mail_bruteforce_guard.parser import lines
from mail_bruteforce_guard.parser.gate import Gate
from mail_bruteforce_guard.parser.lines import is_candidate, parse_line
from mail_bruteforce_guard.parser.patterns import (
    DC_AUTH_PREFIX_RE,
    DC_AUTH_PROCESS_RE,
    DC_AUTH_TAIL_FIXED,
    DC_NO_AUTH,
    HEADER_RE,
    PAM_UNIX_FAILURE,
)
from mail_bruteforce_guard.parser.stream import parse_candidates
from mail_bruteforce_guard.parser.timestamps import TimestampParser

PIECES = ["mail", "mx-1.example", " ", ":", ": ", "[", "]", "(", ")", "postfix/smtpd", "dovecot",
          "auth-worker", "imap-login", "plesk_saslauthd", "auth", "12345", "0", "٣", "\t", "é", "x" * 70,
          "a:b"]  # fmt: skip


def regex_header(head: str) -> tuple | None:
    """What parse_candidate did before the cache: HEADER_RE at the header position, then the dispatch (an
    auth process's prefix in Dovecot's own log file, "auth(...): ", is the start of its message)."""
    if head.startswith(("auth(", "auth-worker(")):
        return (lines._DOVECOT_OWN, "", None, len(head))
    m = HEADER_RE.match(head)
    if m is None or m.end() != len(head):
        return None
    return lines._parse_header(head)


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=8))
def test_header_cache_agrees_with_the_regex(pieces: list) -> None:
    text = "".join(pieces) + ": rest: of the line"
    head = text[: text.find(": ") + 2]
    expected = regex_header(head)
    assert lines._header(head) == expected
    assert lines._header(head) == expected  # cached now


def test_header_cache_pid_forms() -> None:
    assert lines._header("mail postfix/smtpd[123]: ") == (lines._POSTFIX, "mail", 123, None)
    assert lines._header("mail postfix/smtpd[456]: ") == (lines._POSTFIX, "mail", 456, None)
    assert lines._header("mail imap-login[7]: ") == (lines._LOGIN, "mail", 7, "imap")
    assert lines._header("mail postfix/smtpd[12345678901]: ") is None  # 11 digits: no pid, no program
    assert lines._header("mail postfix/qmgr[123]: ") is None
    assert lines._header("h[1] dovecot[2]: ") == (lines._DOVECOT, "h[1]", 2, None)


def _counter_ok(counter: str) -> bool:
    """``name=N`` or ``name=N/M`` of an smtpd summary (ASCII: 1-24 of [a-z_], 1-9 digits each)."""
    name, eq, value = counter.partition("=")
    numbers = value.split("/")
    return (
        bool(eq)
        and 1 <= len(name) <= 24
        and all(c in "abcdefghijklmnopqrstuvwxyz_" for c in name)
        and len(numbers) <= 2
        and all(1 <= len(n) <= 9 and n.isascii() and n.isdigit() for n in numbers)
    )


def done_summary_at(line: str, i: int) -> bool:
    """The reference of the gate's rule, in plain string operations: the "auth" at ``i`` starts the
    counters that end an smtpd summary in which every AUTH succeeded and a recipient was accepted."""
    tail = line[i + 4 :]
    if tail.endswith("\r"):
        tail = tail[:-1]
    if not tail.startswith("="):
        return False
    first, *counters = tail[1:].split(" ")
    if not (1 <= len(first) <= 6 and first.isascii() and first.isdigit()) or len(counters) > 40:
        return False
    if not all(_counter_ok(c) for c in counters):
        return False
    accepted = any(c.startswith("rcpt=") and c[5] in "123456789" for c in counters)
    return accepted and not any(c.startswith("rcpt=0") for c in counters)


def reference_gate(line: str, info: bool, after_auth: bool = True) -> bool:
    """lines.is_candidate, spelled out: a gate "auth" is neither a done summary's counters nor (without
    info kinds) the "auth" of Dovecot's "(no auth attempts"; the other gates are plain substrings."""
    i = line.find("auth")
    while i >= 0:
        in_no_auth = line.startswith(DC_NO_AUTH, i - DC_NO_AUTH.find("auth"))
        if not done_summary_at(line, i) and (info or not in_no_auth):
            return True
        i = line.find("auth", i + 1)
    words = ("sasl_method=", "Login: ", "Logged in: ", *(("after AUTH",) if after_auth else ()))
    return any(word in line for word in words)


def candidate_lines(
    data: bytes, info: bool = True, start: int = 0, end: int | None = None, preauth: bool = False
) -> list[tuple[int, int]]:
    """The gate's byte form (a block of the detector's read buffer)."""
    return Gate.of(info, preauth).spans(data, start, end)


def candidate_starts(text: str, info: bool = True) -> list[int]:
    """The gate's text form (parse_text): where its candidate lines start."""
    return [start for start, _end in Gate.of(info).spans(text)]


def _line_starts(data: bytes) -> list[int]:
    return [0] + [i + 1 for i, byte in enumerate(data) if byte == 10]


GATE_PIECES = [b"auth", b"AUTH", b"after AUTH", b"sasl_method=", b"Login: ", b"Login:", b"disconnect from ",
               b"Logged in: ", b"Logged in",
               b"x", b" ", b"\n", b"\r", b"\xe2\x82", b"\xff", b"au", b"th", b"(no auth attempts", b"(no ",
               b" attempts", b"=1", b"/2", b" rcpt=1", b" rcpt=0", b" mail=1", b" auth=1", b"=", b"9", b" ",
               b"sasl", b"_method=", b"uth", b"a",
               "٣".encode()]  # fmt: skip


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(GATE_PIECES), max_size=30), st.booleans())
def test_the_three_gates_agree_with_the_reference(parts: list, info: bool) -> None:
    """The gate's three forms, on bytes (blocks), on text (parse_text) and on a line (is_candidate), keep
    exactly the lines of the reference gate (without info kinds no "after AUTH" lines: informational only)."""
    data = b"".join(parts)
    texts = data.decode("utf-8", "replace").split("\n")
    starts = _line_starts(data)
    assert [is_candidate(text, info) for text in texts] == [
        reference_gate(text, info, after_auth=info) for text in texts
    ]
    text = "\n".join(texts)
    text_starts = [0] + [i + 1 for i, char in enumerate(text) if char == "\n"]
    assert candidate_starts(text, info) == [
        s for s, t in zip(text_starts, texts) if reference_gate(t, info, after_auth=info)
    ]
    spans = candidate_lines(data, info)
    assert [s for s, _ in spans] == [
        s for s, t in zip(starts, texts) if reference_gate(t, info, after_auth=info)
    ]
    for start, end in spans:
        assert data[start:end] == data[start:].split(b"\n", 1)[0]
    for start, end in Gate.of(info).spans(text):
        assert text[start:end] == text[start:].split("\n", 1)[0]
    assert [Gate.of(info, preauth=True).passes(t) for t in texts] == [
        reference_gate(t, True, after_auth=info) for t in texts
    ]
    # a scan that counts pre-auth kinds: the "(no auth attempts" lines too, still not "after AUTH"
    assert [s for s, _ in candidate_lines(data, info, preauth=True)] == [
        s for s, t in zip(starts, texts) if reference_gate(t, True, after_auth=info)
    ]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([b"auth", b"after AUTH", b"sasl_method=", b"Login: ", b"x", b" ", b"\n",
                                 b"\xff", b"=1", b" rcpt=1"]), max_size=30),
       st.integers(0, 40), st.integers(0, 40))  # fmt: skip
def test_bytes_gate_within_bounds_matches_the_gate_of_the_slice(parts: list, cut: int, keep: int) -> None:
    data = b"".join(parts)
    # a block starts at 0 or after a newline and ends before one (or at the end): as logsource builds it
    newlines = [i for i, byte in enumerate(data) if byte == 10]
    start = newlines[cut % len(newlines)] + 1 if newlines and cut else 0
    ends = [i for i in newlines if i >= start] + [len(data)]
    end = ends[keep % len(ends)]
    for info in (True, False):
        for preauth in (True, False):
            inside = candidate_lines(data[start:end], info, preauth=preauth)
            shifted = [(s + start, e + start) for s, e in inside]
            assert candidate_lines(data, info, start, end, preauth) == shifted


def test_no_auth_attempts_lines_are_left_out_of_counted_scans_only() -> None:
    line = ("Nov 26 08:08:18 mx dovecot: imap-login: Disconnected: Inactivity (no auth attempts in 180 secs):"
            " user=<>, rip=203.0.113.5, lip=192.0.2.1, session=<abc>")  # fmt: skip
    assert is_candidate(line) and not is_candidate(line, info=False)
    assert candidate_lines(line.encode(), False) == []
    assert candidate_lines(line.encode(), True) == [(0, len(line))]
    assert candidate_lines(line.encode(), False, preauth=True) == [(0, len(line))]  # the policy counts them
    # a username that repeats the words never hides a failure (its own "auth failed" is a gate)
    hostile = line.replace(
        "Inactivity (no auth attempts in 180 secs)", "Inactivity (auth failed, 2 attempts)"
    )
    hostile = hostile.replace("user=<>", "user=<(no auth attempts>")
    assert is_candidate(hostile, info=False)
    assert candidate_lines(hostile.encode(), False) == [(0, len(hostile))]


SUMMARY = "Nov 26 08:08:18 mail postfix/submission/smtpd[7]: disconnect from {host}[198.51.100.4] {counters}"


@pytest.mark.parametrize(
    ("counters", "gate"),
    [
        ("ehlo=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=6", False),  # the client= line said it all
        ("ehlo=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=6\r", False),  # CRLF
        ("ehlo=1 auth=0/1 mail=1 rcpt=1 data=1 quit=1 commands=6/7", True),  # a failure
        ("ehlo=1 auth=1 quit=1 commands=3", True),  # no recipient: no client= line
        ("ehlo=1 auth=1 mail=1 rcpt=0/1 quit=1 commands=4/5", True),
        ("ehlo=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=6 x", True),  # not a summary's end
        ("ehlo=1 auth=1" + " noop=1" * 40 + " rcpt=1", True),  # more counters than a summary has
    ],
)
def test_the_gate_skips_only_summaries_that_add_nothing(counters: str, gate: bool) -> None:
    line = SUMMARY.format(host="unknown", counters=counters)
    assert is_candidate(line) is gate
    assert is_candidate(line, info=False) is gate
    assert bool(candidate_lines(line.encode())) is gate
    assert bool(candidate_starts(line)) is gate


def test_a_summary_the_gate_lets_through_is_still_dropped_by_its_parser() -> None:
    """An "auth" in the client's (forward-confirmed) name makes the line a candidate: the summary's parser
    applies the same rule."""
    line = SUMMARY.format(host="auth.example.net", counters="ehlo=1 auth=1 mail=1 rcpt=1 quit=1 commands=5")
    assert is_candidate(line)
    assert parse_line(line, TimestampParser(1795737600.0)) is None
    failed = line.replace("auth=1 ", "auth=0/1 ")
    rec = parse_line(failed, TimestampParser(1795737600.0))
    assert rec is not None and rec.count == 1 and rec.ip == "198.51.100.4"


def test_a_hostile_line_of_counters_costs_linear_time() -> None:
    """Each gate "auth" looks at no more than 40 counters: a megabyte of them is searched quickly."""
    import time

    data = b"x: " + b"auth=1 rcpt=1 " * 75_000 + b"\n"
    started = time.process_time()
    assert candidate_lines(data) == [(0, len(data) - 1)]
    assert is_candidate(data.decode())
    assert time.process_time() - started < 5


COUNTER_NAMES = [
    "ehlo",
    "auth",
    "mail",
    "rcpt",
    "data",
    "quit",
    "commands",
    "x_y",
    "a" * 24,
    "a" * 25,
    "RCPT",
    "",
]
TS = TimestampParser(1795737600.0)
COUNTER_VALUES = ["0", "1", "12", "0/1", "1/2", "123456789", "1234567890", "1/", "/1", "٣", "1\r", "", "x"]


@settings(max_examples=1500, deadline=None)
@given(
    st.sampled_from(
        [
            "disconnect from x[192.0.2.1] ehlo=1 ",
            "disconnect from auth.example[192.0.2.1] ",
            "x: ",
            "",
            "(no ",
        ]
    ),
    st.sampled_from(["auth=", "auth=1/2", "auth=1", "auth=0", "auth=1234567", "auth"]),
    st.lists(st.tuples(st.sampled_from(COUNTER_NAMES), st.sampled_from(COUNTER_VALUES)), max_size=44),
    st.sampled_from(["", "\r", " ", "\r\r", "\n", "\nauth=1 rcpt=1"]),
    st.booleans(),
)
def test_summary_tails_agree_with_the_reference(
    head: str, auth: str, counters: list, end: str, info: bool
) -> None:
    """Lines built from summary counters (the gate's rule in detail): all three gates agree with the
    reference."""
    line = head + auth + "".join(f" {name}={value}" for name, value in counters) + end
    data = line.encode()
    texts = line.split("\n")
    starts = _line_starts(data)
    assert [is_candidate(text, info) for text in texts] == [reference_gate(text, info) for text in texts]
    expected = [s for s, t in zip(starts, texts) if reference_gate(t, info)]
    assert [s for s, _ in candidate_lines(data, info)] == expected
    text_starts = [0] + [i + 1 for i, char in enumerate(line) if char == "\n"]
    assert candidate_starts(line, info) == [s for s, t in zip(text_starts, texts) if reference_gate(t, info)]
    # what matters: a summary the gate leaves out is one its parser drops (it adds nothing)
    full = "Nov 26 08:08:18 mail postfix/submission/smtpd[7]: " + texts[0]
    if not is_candidate(full, info):
        assert lines.parse_candidate(full, TS) is None


AUTH_HEADS = ["auth: passwd-file(", "auth: passwd(", "auth: pam(", "auth: sql(", "auth: nosuch(",
              "auth: ", "auth: Info: passwd-file(", "auth-worker(12): sql(", "auth: passwd-file",
              "auth: passwd-file: (", "auth: pam_unix(dovecot:auth): authentication failure; "]  # fmt: skip
AUTH_PIECES = ["pam_unix(dovecot:auth): authentication failure; ", " tty=dovecot ruser=", " rhost=", "(",
               ")", ",", ": ", "u", "passwd-file(", "): unknown user", "  user="]  # fmt: skip
AUTH_ENDS = ["", ",203.0.113.5", ",203.0.113.5,<abcDEF12>", ",203.0.113.5,", " rhost=203.0.113.5"]
AUTH_TAILS = ["): unknown user", "): Password mismatch", "): Password mismatch (given: x)", "", ")", "): "]


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(AUTH_HEADS), st.lists(st.sampled_from(AUTH_PIECES), max_size=4),
       st.sampled_from(AUTH_ENDS), st.sampled_from(AUTH_TAILS))  # fmt: skip
def test_auth_process_fast_path_agrees_with_the_regex(head: str, pieces: list, end: str, tail: str) -> None:
    """ "auth: DRIVER(" is decided without DC_AUTH_PROCESS_RE: the same Record as the regex path, and a fixed
    tail is found by the line's last "): " exactly when the line ends with it."""
    msg = head + "".join(pieces) + end + tail
    expected = None  # what _dovecot did before its fast path: pam_unix, then the regex
    i = msg.find(PAM_UNIX_FAILURE)
    if i >= 0 and DC_AUTH_PREFIX_RE.fullmatch(msg, 0, i):
        expected = lines._pam_unix(msg, i, 1.0, "h")
    elif (m := DC_AUTH_PROCESS_RE.match(msg)) is not None:
        expected = lines._auth_process(msg, m.end(), m.group(1), 1.0, "h")
    assert lines._dovecot(msg, 0, 1.0, "h") == expected
    head = "Nov 26 08:08:18 mx dovecot: "  # the parsers read a message in place, after its line's header
    assert lines._dovecot(head + msg, len(head), 1.0, "h") == expected
    found = msg[msg.rfind("): ") :] in set(DC_AUTH_TAIL_FIXED)
    assert found is any(msg.endswith(tail) for tail in DC_AUTH_TAIL_FIXED)


# The usual login failure summary, its fields' usual forms (each line of the property below is one of those,
# up to two fields taking an odd form: near misses of the fast pattern, or lines that only look like it)
USUAL = (
    "Disconnected (auth failed, 1 attempts in 2 secs): user=<u0@example.com>, method=PLAIN, rip=100.0.0.7,"
    " lip=10.0.0.2, TLS, session=<s0x0>"
)
FIELDS = {  # name -> (usual forms, odd forms)
    "prefix": (
        ["imap-login: ", "dovecot: pop3-login: ", "submission-login: ", "managesieve-login: "],
        ["lmtp-login: ", "dovecot: dovecot: imap-login: ", "", "imap-login:"],
    ),
    "level": (
        ["", "Info: ", "Error: ", "Info: Info: ", "Debug:"],
        ["Login: ", "Info: Login: ", "Login: Info: ", "Warning: Login: "],
    ),
    "words": (
        ["Disconnected ", "Disconnected: Inactivity ", "Aborted login ", "", "Login aborted: x "],
        ["(x) ", "Disconnected (auth failed, 1 attempts): ", "Disconnected\t", "Déconnecté ", "x" * 81],
    ),
    "failed": (
        [
            "(auth failed, 1 attempts in 2 secs)",
            "(auth failed, 3 attempts)",
            "(auth failed, 1 attempt in 1 sec)",
            "(auth failed, 100001 attempts)",
        ],
        [
            "(auth failed, 1234567 attempts)",
            "(auth failed, ٣ attempts)",
            "(auth failed)",
            "(auth failed, 2 attempts in 5 secs) (auth_failed)",
            "(no auth attempts in 0 secs)",
            "(proxy dest auth failed)",
            "(tried to use disabled plaintext auth)",
        ],
    ),
    "user": (
        ["u0@example.com", "", "(unavailable)", "a b", "~!#$%^&*()=?", "x" * 512],
        [
            "x>, rip=6.6.6.6",
            "a,b",
            "<a>",
            "a>",
            "é",
            "\udcff",
            "\t",
            "x" * 513,
            ", rip=192.0.2.7, lip=1.1.1.1, session=<x",
        ],
    ),
    "method": ([", method=PLAIN", ", method=DIGEST-MD5"], ["", ", method=a>", ", method=", ", method=A B"]),
    "rip": (
        ["100.0.0.7", "2001:db8::1", "::ffff:192.0.2.1", "1.2.3", "010.0.0.1", "::1:"],
        ["", "1.2.3.4:5", "fe80::1%eth0", "session=<x>", "100.0.0.7 "],
    ),
    "after": (
        [", lip=10.0.0.2, TLS", ", lip=10.0.0.2", ", lip=::1, secured"],
        [
            ", lip=10.0.0.2, mpid=3, TLS",
            ", lip=1.1.1.1, rip=9.9.9.9",
            ", lip=session=<z>",
            "",
            ", lip=10.0.0.2, TLS: Disconnected",
            ", lip=10.0.0.2, TLS, rip=8.8.8.8",
        ],
    ),
    "session": (
        [", session=<s0x0>", ", session=<" + "A" * 64 + ">", ", session=<a+/=>"],
        [
            ", session=<>",
            ", session=<" + "A" * 65 + ">",
            ", session=<a b>",
            ", session=<ok>x",
            ", session=<ok>, rip=7.7.7.7",
            "",
            ", session=<ok",
            "\r",
        ],
    ),
}


def test_the_usual_failure_summary_takes_the_fast_path() -> None:
    """The bench's line and genlog's are read by one match of the fast pattern (the property below
    compares the fast path with the general reading on lines that take it)."""
    assert lines.DC_LOGIN_FAILED_USUAL_RE.fullmatch("dovecot: imap-login: " + USUAL) is not None
    assert lines.DC_FAILED_USUAL_RE.fullmatch("Info: " + USUAL) is not None
    rec = lines._dovecot("imap-login: " + USUAL, 0, 1.0, "mx")
    assert rec == lines._dovecot("imap-login: " + USUAL, 0, 1.0, "mx", usual=False)
    assert rec == lines.Record(1.0, lines.LOGIN_FAILURE, "dovecot", "imap", "100.0.0.7", "u0@example.com", 1,
                               None, "mx", "s0x0", 2, "")  # fmt: skip


@st.composite
def usual_summaries(draw: st.DrawFn) -> dict:
    """The fields of a usual failure summary, up to two of them in an odd form."""
    odd = draw(st.sets(st.sampled_from(list(FIELDS)), max_size=2))
    return {name: draw(st.sampled_from(FIELDS[name][name in odd])) for name in FIELDS}


@settings(max_examples=3000, deadline=None)
@given(usual_summaries())
def test_the_usual_failure_fast_path_reads_as_the_general_reading(f: dict) -> None:
    """``_dovecot`` and ``_login`` (each with its fast path) give exactly the Record of their general
    reading (``usual=False``), alone or after a line's header."""
    fields = f"user=<{f['user']}>{f['method']}, rip={f['rip']}{f['after']}{f['session']}"
    body = f"{f['level']}{f['words']}{f['failed']}: {fields}"
    msg = f["prefix"] + body
    head = "Nov 26 08:08:18 mx dovecot: "
    for text, at in ((msg, 0), (head + msg, len(head))):
        assert lines._dovecot(text, at, 1.0, "h") == lines._dovecot(text, at, 1.0, "h", usual=False)
    for text, at in ((body, 0), (head + body, len(head))):
        assert lines._login("pop3", text, at, 1.0, "h") == lines._login("pop3", text, at, 1.0, "h", False)


# The parts of a whole line before a summary: the line fast path (``lines.locate_all``, DC_USUAL_LINE_RE)
# takes only a plain syslog header, every other header goes the general way
STAMPS = ["Nov 26 08:08:18 ", "2026-11-26T08:08:18+00:00 ", "2026-11-26T08:08:18.25Z ", "",
          "@4000000069273a3d0000000a ", "Nov 26 08:08:18"]  # fmt: skip
HOSTS = ["mx", "mx-1.example", "", "auth(x)", "auth-worker(1)", "authx", "é", "a:b", "a:", "x" * 255,
         "x" * 256, "a b", "\t"]  # fmt: skip
PROGRAMS = ["dovecot: ", "dovecot[123]: ", "dovecot[٣]: ", "dovecot(x): ", "dovecot[]: ",
            "dovecot[12345678901]: ", "imap-login: ", "pop3-login[7]: ", "imap-login[]: ", "dovecot-auth: ",
            "postfix/smtpd[1]: ", "dovecot:", "lmtp-login: "]  # fmt: skip


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(STAMPS), st.sampled_from(HOSTS), st.sampled_from([" ", "  ", ""]),
       st.sampled_from(PROGRAMS), usual_summaries())  # fmt: skip
def test_the_usual_line_fast_path_reads_as_the_header_path(
    stamp: str, host: str, sep: str, program: str, f: dict
) -> None:
    """A whole line read by ``locate_all``'s fast path (the usual summary and its header in one match) gives
    the Record that the header's parser gives it (``usual=False``), and ``claimed_daemon`` names the daemon
    that parser belongs to."""
    fields = f"user=<{f['user']}>{f['method']}, rip={f['rip']}{f['after']}{f['session']}"
    body = f"{f['level']}{f['words']}{f['failed']}: {fields}"
    prefix = "" if program.endswith(("-login: ", "-login[7]: ")) else f["prefix"]
    line = f"{stamp}{host}{sep}{program}{prefix}{body}"
    fast = parse_candidates([line], TimestampParser(1.8e9))
    assert fast == parse_candidates([line], TimestampParser(1.8e9), usual=False)
    _indexes, located = lines.locate_all([line], TimestampParser(1.8e9), usual=False)
    daemon = lines._DAEMON_OF[located[0][0][0]] if located else None
    assert lines.claimed_daemon(line) == daemon


def test_the_bench_line_takes_the_line_fast_path() -> None:
    """The line of make bench's attack (and genlog's) is read whole by ``locate_all``, header and all."""
    for line in (
        "2026-11-26T08:08:18+00:00 mx1 dovecot: imap-login: " + USUAL,
        "Nov 26 08:08:18 mx1 dovecot[7]: pop3-login: " + USUAL,
        "Nov 26 08:08:18 mx1 imap-login: " + USUAL,
    ):
        _indexes, located = lines.locate_all([line], TimestampParser(1.8e9))
        assert isinstance(located[0], lines.Record), line
        assert located[0].host == "mx1"
        assert parse_candidates([line], TimestampParser(1.8e9)) == parse_candidates(
            [line], TimestampParser(1.8e9), usual=False
        )


MIXED_STAMPS = ["Nov 26 08:08:18 ", "2026-11-26T08:08:18+00:00 ", "2026-11-26T08:08:19Z ", "Nov 26 08:08:19 ",
                "2026-11-26T08:08:18.5+00:00 "]  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(MIXED_STAMPS), min_size=1, max_size=12))
def test_stamps_of_both_forms_in_turn_read_as_alone(stamps: list) -> None:
    """``locate_all`` looks a stamp up in the previous line's form first: lines whose stamps change form from
    one line to the next get each the time a parser that never saw a line before gives it."""
    texts = [
        f"{stamp}mx dovecot: imap-login: Login: user=<a>, rip=192.0.2.{i}" for i, stamp in enumerate(stamps)
    ]
    ts = TimestampParser(1.8e9)
    _indexes, located = lines.locate_all(texts + texts, ts)
    assert [when for _h, _t, _at, when in located] == [
        TimestampParser(1.8e9).split_new(text)[0] for text in texts + texts
    ]
