"""The Gate: which lines can be an event (the candidate lines), one definition in the three forms the readers
need: a single line (``passes``), a block of text and a block of raw bytes (``spans``).

Most lines of a mail log are no event; the gate lets every reader skip them with C-speed searches before any
parsing. A line is a candidate when it holds one of the gate words of ``patterns`` (``GATE_AUTH``,
``GATE_SASL_LOGIN``, ``GATE_LOGIN``, ``GATE_LOGGED_IN`` and, with informational kinds, ``GATE_AFTER_AUTH``),
where an "auth" counts only when it matches ``patterns.GATE_AUTH_PATTERNS`` (not the counters of a done smtpd
summary, and without pre-auth kinds not the "auth" of Dovecot's ``(no auth attempts``).
A gate only saves work: the parsers apply the same rules themselves, so a line let through needlessly
changes nothing.

The gate words are ASCII, and UTF-8 decoding (``errors="replace"``) neither creates nor removes ASCII
characters, so a line's raw bytes hold a gate exactly when its decoded text does: the byte form and the text
forms keep the same lines (tests/unit/parser/test_parser_fastpaths.py checks all three against a reference).
"""

from __future__ import annotations

import re
from typing import AnyStr, NamedTuple

from .patterns import (
    GATE_AFTER_AUTH,
    GATE_AUTH,
    GATE_AUTH_PATTERNS,
    GATE_LOGGED_IN,
    GATE_LOGIN,
    GATE_SASL_LOGIN,
)


class _BlockForm(NamedTuple):
    """The gate compiled for blocks of one type (str or bytes)."""

    line_re: re.Pattern  # a gate and the rest of its line: a finditer pass yields each line once, with end
    words: tuple  # gates searched for with find (plain words: the search skips ahead by their length)
    newline: str | bytes


class Gate:
    """The candidate-line test for one reader: ``info`` (informational kinds wanted: ``after AUTH`` lines, and
    the "auth" of ``(no auth attempts``) and ``preauth`` (the policy counts pre-auth kinds: the latter only).
    ``Gate.of(info, preauth)`` gives the shared instance."""

    __slots__ = ("_auth", "_bytes", "_text", "_words", "info", "preauth")

    # Every candidate line of every gate holds one of these words: the inline form, for per-line loops, that
    # spell the ``in`` tests out before calling ``passes`` (most lines stop there, without a call)
    WORDS = (GATE_AUTH, GATE_SASL_LOGIN, GATE_LOGIN, GATE_LOGGED_IN, GATE_AFTER_AUTH)

    def __init__(self, info: bool = True, preauth: bool = False) -> None:
        self.info = info
        self.preauth = preauth
        auth = GATE_AUTH_PATTERNS[info or preauth]  # "(no auth attempts" lines: for info and pre-auth kinds
        words = (GATE_AFTER_AUTH,) if info else ()  # informational only (the attempts were counted already)
        self._auth = re.compile(auth)
        self._words = (GATE_SASL_LOGIN, GATE_LOGIN, GATE_LOGGED_IN, *words)
        # block forms: "auth" by a regex pass (its rare first letter found at C speed and its look-arounds
        # checked in C, see patterns.GATE_AUTH_PATTERNS), the plain words by find (CPython's substring search
        # skips ahead by the word's length: a pass costs less than the regex's, make bench)
        found = (GATE_SASL_LOGIN, GATE_LOGIN, GATE_LOGGED_IN, *words)
        self._text = _BlockForm(re.compile(auth + "[^\n]*"), found, "\n")
        self._bytes = _BlockForm(
            re.compile(auth.encode("ascii") + rb"[^\n]*"),
            tuple(w.encode("ascii") for w in found),
            b"\n",
        )

    @staticmethod
    def of(info: bool = True, preauth: bool = False) -> Gate:
        """The shared gate of these options."""
        return _GATES[bool(info), bool(preauth) and not info]

    def passes(self, text: str) -> bool:
        """Whether one line (str) is a candidate."""
        if GATE_AUTH in text and self._auth.search(text) is not None:
            return True
        for word in self._words:  # noqa: SIM110 - any() of a generator costs a frame per line (hot path)
            if word in text:
                return True
        return False

    def spans(self, data: AnyStr, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
        """(start, end) offsets, in order, of the candidate lines of ``data[start:end]`` (str or bytes of
        complete lines; ``start`` is 0 or follows a newline); a line's end is the offset of its newline (or
        ``end``)."""
        form = self._bytes if isinstance(data, bytes) else self._text
        if end is None:
            end = len(data)
        newline = form.newline
        rfind = data.rfind
        find = data.find
        low = start - 1 if start else 0  # rfind from the newline before the block: it starts the first line
        spans: dict[int, int] = {}
        for word in form.words:
            i = find(word, start, end)
            while i >= 0:
                stop = find(newline, i, end)
                spans[rfind(newline, low, i) + 1] = end if stop < 0 else stop
                if stop < 0:
                    break
                i = find(word, stop, end)
        lines = form.line_re.finditer(data, start, end)
        if not spans:  # the regex pass alone (an attack's block): it yields each line once, in order
            return [(rfind(newline, low, m.start()) + 1, m.end()) for m in lines]
        for m in lines:  # a line may hold a word too: merged by its start
            at, stop = m.span()
            spans[rfind(newline, low, at) + 1] = stop
        return sorted(spans.items())


# info kinds wanted, pre-auth kinds wanted without them -> the gate (info implies the pre-auth kinds)
_GATES = {options: Gate(*options) for options in ((True, False), (False, False), (False, True))}
