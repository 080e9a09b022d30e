"""The parser's entry points: text or lines in, counted Events out.

``parse_text`` is the fast one: it finds the few candidate lines of a whole block with C-speed searches
(``gate.Gate.spans``) and never touches the other lines one by one; ``parse_lines`` takes any iterable of
lines. The detector's pipeline runs the same stages on raw bytes (``block_candidates``, then
``parse_candidates``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import tzinfo
from itertools import compress
from typing import NamedTuple

from .correlate import Correlator
from .events import Event
from .gate import Gate
from .lines import Record, locate_all, parse_candidate, parse_message
from .timestamps import TimestampParser


def count_newlines(data: bytes, start: int = 0, end: int | None = None) -> int:
    """``data.count(b"\\n", start, end)``, faster on a large span: CPython deletes one byte value with
    ``memchr`` (``replace``) faster than it counts it byte by byte. ``replace`` takes the whole object, so
    the newlines outside the span are counted and taken off instead of copying the span."""
    if end is None:
        end = len(data)
    # exactly bytes: a memoryview or bytearray has no cheap replace()
    if end - start < 1 << 16 or type(data) is not bytes or start < 0 or end > len(data):  # pylint: disable=unidiomatic-typecheck
        return data.count(b"\n", start, end)
    deleted = len(data) - len(data.replace(b"\n", b""))
    return deleted - data.count(b"\n", 0, start) - data.count(b"\n", end)


class Candidates(NamedTuple):
    """The candidate lines of a block of raw bytes (``block_candidates``), decoded."""

    texts: list[str]
    numbers: list[int] | None  # the line number of each text (None: not numbered)
    lines: int | None  # how many lines the block holds (None: not counted)


def block_candidates(
    data: bytes, start: int, end: int, gate: Gate, *, first: int | None = None, count: bool = False
) -> Candidates:
    """The lines of ``data[start:end]`` (complete lines; ``start`` is 0 or follows a newline) that pass
    ``gate``, decoded (``errors="replace"``; only those lines are), numbered from ``first`` when it is given;
    with ``count``, the block's lines are counted too (on the way, when numbering)."""
    spans = gate.spans(data, start, end)
    texts = [data[at:stop].decode("utf-8", "replace") for at, stop in spans]
    numbers: list[int] | None = None
    lines = None
    if first is not None:
        numbers = []
        newlines = data.count
        number, prev = first, start
        for at, _stop in spans:
            number += newlines(b"\n", prev, at)
            prev = at
            numbers.append(number)
        if count:
            lines = number - first + newlines(b"\n", prev, end) + 1
    elif count:
        lines = count_newlines(data, start, end) + 1
    return Candidates(texts, numbers, lines)


def parse_candidates(
    texts: list[str], ts: TimestampParser, *, usual: bool = True
) -> tuple[list[int], list[Record]]:
    """The Records of candidate lines (each holds a gate substring), in stages over the whole list (see
    ``lines.locate_all``; ``usual``: its fast path): ``(indexes, records)``, ``indexes[k]`` the position in
    ``texts`` of ``records[k]``."""
    indexes, located = locate_all(texts, ts, usual=usual)
    records = [one if one.__class__ is Record else parse_message(*one) for one in located]  # parse_located
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
    corr = _correlator(correlator, info)
    out: list[Event] = []
    count = text.count
    numbers = []
    texts = []
    line = start_line
    prev = 0
    for start, end in Gate.of(corr.info, corr.preauth).spans(text):
        line += count("\n", prev, start)
        prev = start
        numbers.append(line)
        texts.append(text[start:end])
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
    corr = _correlator(correlator, info)
    yield from iter_events(lines, start_line, ts, corr)
    if flush if flush is not None else correlator is None:
        yield from corr.flush()


def iter_events(
    lines: Iterable[str], start_line: int, ts: TimestampParser, corr: Correlator
) -> Iterator[Event]:
    """The events ``corr`` releases for ``lines`` numbered from ``start_line`` (the per-line loop that
    ``parse_lines`` and the detector's pipeline share)."""
    feed = corr.feed
    passes = Gate.of(corr.info, corr.preauth).passes
    auth, sasl, login, logged_in, after = Gate.WORDS
    for number, text in enumerate(lines, start_line):
        # the gate's inline form first: most lines of a mail log stop here, without a call
        if not (
            auth in text or sasl in text or login in text or logged_in in text or after in text
        ) or not passes(text):
            continue
        rec = parse_candidate(text, ts)
        if rec is not None:
            events = feed(rec, number)
            if events:
                yield from events


def _correlator(correlator: Correlator | None, info: bool) -> Correlator:
    """The caller's correlator, or a new one (``info``: keep informational kinds)."""
    return Correlator(info=info) if correlator is None else correlator
