"""The parser's caches and raw-bytes gate give exactly what the plain regex / per-line gate give."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from mail_bruteforce_guard.parser import lines
from mail_bruteforce_guard.parser.lines import is_candidate, no_auth_only, useless_summary
from mail_bruteforce_guard.parser.patterns import HEADER_RE
from mail_bruteforce_guard.parser.stream import _GATES, candidate_lines, candidate_starts

PIECES = ["mail", "mx-1.example", " ", ":", ": ", "[", "]", "(", ")", "postfix/smtpd", "dovecot",
          "imap-login", "plesk_saslauthd", "auth", "12345", "0", "٣", "\t", "é", "x" * 70, "a:b"]  # fmt: skip


def regex_header(head: str) -> tuple | None:
    """What parse_candidate did before the cache: HEADER_RE at the header position, then the dispatch."""
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


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([b"auth", b"AUTH", b"after AUTH", b"sasl_username=", b"Login: ", b"Login:",
                                 b"disconnect from ", b"x", b" ", b"\n", b"\xe2\x82", b"\xff", b"au", b"th"]),
                max_size=30))  # fmt: skip
def test_bytes_gate_finds_the_candidate_lines(parts: list) -> None:
    data = b"".join(parts)
    texts = data.decode("utf-8", "replace").split("\n")
    starts = [0]
    for i, byte in enumerate(data):
        if byte == 10:
            starts.append(i + 1)
    gated = [start for start, text in zip(starts, texts) if any(g in text for g in _GATES)]
    spans = candidate_lines(data)
    assert [s for s, _ in spans] == gated
    for start, end in spans:
        assert data[start:end] == data[start:].split(b"\n", 1)[0]
    # every line the per-line gate keeps is among them
    kept = {start for start, text in zip(starts, texts) if is_candidate(text)}
    assert kept <= set(gated)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([b"auth", b"after AUTH", b"sasl_username=", b"Login: ", b"x", b" ", b"\n",
                                 b"\xff"]), max_size=30), st.integers(0, 40), st.integers(0, 40))  # fmt: skip
def test_bytes_gate_within_bounds_matches_the_gate_of_the_slice(parts: list, cut: int, keep: int) -> None:
    data = b"".join(parts)
    # a block starts at 0 or after a newline and ends before one (or at the end): as logsource builds it
    newlines = [i for i, byte in enumerate(data) if byte == 10]
    start = newlines[cut % len(newlines)] + 1 if newlines and cut else 0
    ends = [i for i in newlines if i >= start] + [len(data)]
    end = ends[keep % len(ends)]
    inside = candidate_lines(data[start:end])
    assert candidate_lines(data, True, start, end) == [(s + start, e + start) for s, e in inside]
    no_info = candidate_lines(data, False, start, end)
    assert [(s - start, e - start) for s, e in no_info] == [
        (s, e)
        for s, e in inside
        if any(g in data[start + s : start + e] for g in (b"auth", b"sasl_username=", b"Login: "))
    ]


NO_AUTH_PIECES = [b"(no auth attempts", b"(no auth", b"(no ", b"auth", b" attempts", b"au", b"th", b"Login: ",
                  b"sasl_username=", b"after AUTH", b"x", b" ", b"\n", b"\xff"]  # fmt: skip


@settings(max_examples=800, deadline=None)
@given(st.lists(st.sampled_from(NO_AUTH_PIECES), max_size=30))
def test_without_info_an_auth_of_no_auth_attempts_is_no_gate(parts: list) -> None:
    """Without informational kinds a line whose every "auth" is Dovecot's "(no auth attempts" is no
    candidate unless another gate holds: the same lines for the byte gate, the text gate and the line gate."""
    data = b"".join(parts)
    texts = data.decode("utf-8", "replace").split("\n")
    starts = [0]
    starts += [i + 1 for i, byte in enumerate(data) if byte == 10]

    def counted_gate(text: str) -> bool:
        return ("auth" in text and not no_auth_only(text)) or "sasl_username=" in text or "Login: " in text

    expected = [start for start, text in zip(starts, texts) if counted_gate(text)]
    assert [s for s, _ in candidate_lines(data, False)] == expected
    text = "\n".join(texts)
    kept = {
        start for start, line in zip(_text_starts(text), texts) if counted_gate(line) or "after AUTH" in line
    }
    assert candidate_starts(text, info=False) == sorted(kept)
    for line in texts:
        if no_auth_only(line) and not any(g in line for g in ("sasl_username=", "Login: ", "after AUTH")):
            assert not is_candidate(line, info=False)
            assert is_candidate(line) is ("disconnect from " not in line or not useless_summary(line))


def _text_starts(text: str) -> list[int]:
    return [0] + [i + 1 for i, char in enumerate(text) if char == "\n"]


def test_no_auth_attempts_lines_are_left_out_of_counted_scans_only() -> None:
    line = ("Nov 26 08:08:18 mx dovecot: imap-login: Disconnected: Inactivity (no auth attempts in 180 secs):"
            " user=<>, rip=203.0.113.5, lip=192.0.2.1, session=<abc>")  # fmt: skip
    assert is_candidate(line) and not is_candidate(line, info=False)
    assert candidate_lines(line.encode(), False) == []
    assert candidate_lines(line.encode(), True) == [(0, len(line))]
    # a username that repeats the words never hides a failure (its own "auth failed" is a gate)
    hostile = line.replace(
        "Inactivity (no auth attempts in 180 secs)", "Inactivity (auth failed, 2 attempts)"
    )
    hostile = hostile.replace("user=<>", "user=<(no auth attempts>")
    assert is_candidate(hostile, info=False)
    assert candidate_lines(hostile.encode(), False) == [(0, len(hostile))]
