"""The parser's entry points: text or lines in, counted Events out.

``parse_text`` is the fast one: it finds the few candidate lines of a whole block with C-speed searches (the
gate's regex and ``str.find``) and never touches the other lines one by one; ``parse_lines`` takes any
iterable of lines. ``candidate_lines`` is the same gate on raw bytes (the detector's read buffers).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import tzinfo
from itertools import compress, starmap

from .correlate import Correlator
from .events import Event
from .lines import Record, is_candidate, locate_all, parse_candidate, parse_message
from .patterns import (
    GATE_AFTER_AUTH,
    GATE_AUTH,
    GATE_AUTH_PATTERNS,
    GATE_LOGIN,
    GATE_SASL_LOGIN,
    GATE_SASL_LOGIN_PATTERN,
)
from .timestamps import TimestampParser

_GATES = (GATE_AUTH, GATE_SASL_LOGIN, GATE_LOGIN, GATE_AFTER_AUTH)
# The same gates for raw bytes: they are ASCII, and UTF-8 decoding (errors="replace") neither creates nor
# removes ASCII characters, so a line's bytes contain a gate exactly when its decoded text does.
# A gate and the rest of its line: one finditer pass yields each line once, with its end (the fastest search
# over a read buffer; patterns.GATE_AUTH_PATTERNS says which "auth" is a gate, with or without info kinds).
_OTHER_LINE_RES = tuple(
    re.compile(pattern.encode("ascii") + rb"[^\n]*")
    for pattern in (re.escape(GATE_LOGIN), GATE_SASL_LOGIN_PATTERN)
)
_GATE_LINE_RES = {
    info: (re.compile(pattern.encode("ascii") + rb"[^\n]*"), *_OTHER_LINE_RES)
    for info, pattern in GATE_AUTH_PATTERNS.items()
}
_GATE_LINE_TEXT_RES = {info: re.compile(pattern + "[^\n]*") for info, pattern in GATE_AUTH_PATTERNS.items()}
# "too many errors after AUTH" is informational only (the attempts were counted already): without info
# kinds its search pass over the block is skipped
_GATES_FIND = {True: (GATE_AFTER_AUTH.encode("ascii"),), False: ()}


def candidate_starts(text: str, info: bool = True) -> list[int]:
    """Sorted start offsets of the lines of ``text`` that pass the gate of ``lines.is_candidate``."""
    starts = set()
    add = starts.add
    find = text.find
    rfind = text.rfind
    for m in _GATE_LINE_TEXT_RES[info].finditer(text):
        add(rfind("\n", 0, m.start()) + 1)
    for gate in _GATES[1:]:
        i = find(gate)
        while i >= 0:
            add(rfind("\n", 0, i) + 1)
            nl = find("\n", i)
            if nl < 0:
                break
            i = find(gate, nl)
    return sorted(starts)


def candidate_lines(
    data: bytes, info: bool = True, start: int = 0, end: int | None = None, preauth: bool = False
) -> list[tuple[int, int]]:
    """(start, end) offsets, in order, of the lines of ``data[start:end]`` (raw bytes of complete lines;
    ``start`` is 0 or follows a newline) that pass the gate of ``lines.is_candidate``; a line's end is the
    offset of its newline (or ``end``). ``info=False`` also leaves out the lines only informational kinds
    come from (``too many errors after AUTH``); ``preauth`` keeps Dovecot's ``(no auth attempts`` lines then
    (the policy counts that pre-auth kind)."""
    if end is None:
        end = len(data)
    spans: dict[int, int] = {}
    rfind = data.rfind
    find = data.find
    low = start - 1 if start else 0  # rfind from the newline before the block: it starts the first line
    for gate_line in _GATE_LINE_RES[info or preauth]:
        for m in gate_line.finditer(data, start, end):
            at, stop = m.span()
            spans[rfind(b"\n", low, at) + 1] = stop
    for gate in _GATES_FIND[info]:
        i = find(gate, start, end)
        while i >= 0:
            stop = find(b"\n", i, end)
            spans[rfind(b"\n", low, i) + 1] = end if stop < 0 else stop
            if stop < 0:
                break
            i = find(gate, stop, end)
    return sorted(spans.items())


def parse_candidates(texts: list[str], ts: TimestampParser) -> tuple[list[int], list[Record]]:
    """The Records of candidate lines (each holds a gate substring), in stages over the whole list (see
    ``lines.locate_all``): ``(indexes, records)``, ``indexes[k]`` the position in ``texts`` of
    ``records[k]``."""
    indexes, located = locate_all(texts, ts)
    records = list(starmap(parse_message, located))
    # Records are non-empty tuples: the lines that gave one are selected in C
    return list(compress(indexes, records)), list(filter(None, records))


def parse_text(
    text: str,
    *,
    now: float | None = None,
    start_line: int = 1,
    correlator: Correlator | None = None,
    flush: bool | None = None,
    info: bool = True,
    tz: tzinfo | None = None,
    timestamps: TimestampParser | None = None,
) -> list[Event]:
    """Events of a block of complete lines (``start_line`` is the number of its first line).

    Same options as ``parse_lines``; ``timestamps`` reuses a TimestampParser across blocks.
    """
    ts = timestamps or TimestampParser(now, tz)
    corr = Correlator(info=info) if correlator is None else correlator
    info = corr.info or corr.preauth  # the gate: pre-auth kinds need Dovecot's "(no auth attempts" lines
    out: list[Event] = []
    count = text.count
    find = text.find
    numbers = []
    texts = []
    line = start_line
    prev = 0
    for start in candidate_starts(text, info):
        line += count("\n", prev, start)
        prev = start
        numbers.append(line)
        end = find("\n", start)
        texts.append(text[start:] if end < 0 else text[start:end])
    indexes, records = parse_candidates(texts, ts)
    corr.feed_all(records, map(numbers.__getitem__, indexes), out)
    if flush if flush is not None else correlator is None:
        out.extend(corr.flush())
    return out


def parse_lines(
    lines: Iterable[str],
    *,
    now: float | None = None,
    start_line: int = 1,
    correlator: Correlator | None = None,
    flush: bool | None = None,
    info: bool = True,
    tz: tzinfo | None = None,
) -> Iterator[Event]:
    """Yield the Events of ``lines`` (str, trailing newline optional) in line order.

    ``now`` anchors the year of RFC 3164 dates (default: the current time); ``start_line`` numbers the first
    line; ``correlator`` carries state across calls (incremental scans); ``flush`` releases the events still
    held for correlation at the end (default: True when no correlator is given, False otherwise, so a
    scan keeps them in ``correlator.to_dict()`` for the next run); ``info=False`` drops informational kinds
    (only when the correlator is created here); ``tz`` is the zone of zoneless stamps (default: local).
    """
    ts = TimestampParser(now, tz)
    corr = Correlator(info=info) if correlator is None else correlator
    yield from iter_events(lines, start_line, ts, corr)
    if flush if flush is not None else correlator is None:
        yield from corr.flush()


def iter_events(
    lines: Iterable[str], start_line: int, ts: TimestampParser, corr: Correlator
) -> Iterator[Event]:
    """The events ``corr`` releases for ``lines`` numbered from ``start_line`` (the per-line loop that
    ``parse_lines`` and the detector's pipeline share)."""
    feed = corr.feed
    info = corr.info or corr.preauth  # the gate: pre-auth kinds need Dovecot's "(no auth attempts" lines
    for number, text in enumerate(lines, start_line):
        # the substring tests of lines.is_candidate first, inlined: most lines of a mail log stop here
        if not (
            GATE_AUTH in text or GATE_SASL_LOGIN in text or GATE_LOGIN in text or GATE_AFTER_AUTH in text
        ) or not is_candidate(text, info):
            continue
        rec = parse_candidate(text, ts)
        if rec is not None:
            events = feed(rec, number)
            if events:
                yield from events
