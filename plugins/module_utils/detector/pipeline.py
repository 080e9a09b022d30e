"""Pipeline: log lines -> counted Events (parser gate, parse_line, Correlator), resumable from saved state."""

from __future__ import annotations

import gc
from typing import Any, Callable

from ..parser.correlate import HOLD, Correlator
from ..parser.events import Event
from ..parser.lines import is_candidate, parse_candidate, useless_summary
from ..parser.patterns import GATE_DISCONNECT
from ..parser.stream import candidate_lines, iter_events
from ..parser.timestamps import TimestampParser
from .logsource import Block


class Pipeline:
    """``feed(line_number, text)`` returns the events that became final; ``state()`` is JSON-ready.

    ``now`` anchors the year of year-less timestamps; ``info`` keeps informational kinds (``parse``);
    ``numbered=False`` gives the events of raw blocks line number 0 (a scan never shows them, and counting
    the newlines before each candidate line is a tenth of its time): ``Block.count`` is still exact.
    """

    def __init__(
        self,
        state: Any = None,
        *,
        now: float | None = None,
        info: bool = False,
        numbered: bool = True,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.timestamps = TimestampParser(now)
        self.info = info
        self.numbered = numbered
        self.correlator = Correlator.from_dict(state, info=info) if state else Correlator(info=info)
        if warn is not None and state and not _restored(state, self.correlator):
            warn("correlator state in the state file is damaged or outdated: starting it afresh")

    def feed(self, line: int, text: str) -> list[Event]:
        """Events released by one line (most lines release none)."""
        if not is_candidate(text):
            return []
        record = parse_candidate(text, self.timestamps)
        if record is None:
            return []
        return self.correlator.feed(record, line)

    def feed_batch(self, first: int, lines: list | Block) -> list[Event]:
        """Events released by consecutive lines numbered from ``first`` (the hot loop of a scan): a list of
        lines, or a ``Block`` of raw bytes, of which only the lines that pass the gate are decoded."""
        # the loop allocates many small objects and frees them without cycles: the cyclic collector's
        # passes over the growing state would find nothing, so it pauses for the batch (~3% of a scan)
        paused = gc.isenabled()
        if paused:
            gc.disable()
        try:
            if isinstance(lines, Block):
                return self._feed_block(first, lines)
            return self._feed_lines(first, lines)
        finally:
            if paused:
                gc.enable()

    def _feed_lines(self, first: int, lines: list) -> list[Event]:
        """``feed_batch`` on a list of decoded lines."""
        return list(iter_events(lines, first, self.timestamps, self.correlator))

    def _feed_block(self, first: int, block: Block) -> list[Event]:
        """``feed_batch`` on raw bytes: C-speed gate search, then decode the candidates only (and count the
        block's lines on the way, for ``len(block)``)."""
        data = block.data
        out: list[Event] = []
        parse = parse_candidate
        ts = self.timestamps
        feed = self.correlator.feed_into
        count = data.count
        numbered = self.numbered
        number = first if numbered else 0
        prev = block.start
        for start, end in candidate_lines(data, self.info, block.start, block.end):
            if numbered:
                number += count(b"\n", prev, start)
                prev = start
            text = data[start:end].decode("utf-8", "replace")
            # the rest of is_candidate (the line holds a gate): a summary must be useful
            if GATE_DISCONNECT in text and useless_summary(text):
                continue
            record = parse(text, ts)
            if record is not None:
                feed(record, number, out)
        if block.count is None:
            if numbered:
                block.count = number - first + count(b"\n", prev, block.end) + 1
            else:
                block.count = count(b"\n", block.start, block.end) + 1
        return out

    def flush(self, until: float | None = None) -> list[Event]:
        """Release held events: all of them, or those older than ``until`` (end of a scan: ``now - HOLD``)."""
        return self.correlator.flush(until)

    def state(self) -> dict:
        """The correlator's state (held events included)."""
        return self.correlator.to_dict()


def _restored(state: Any, correlator: Correlator) -> bool:
    """False when saved correlator state was thrown away (``from_dict`` never raises: it starts afresh)."""
    if not isinstance(state, dict):
        return False
    saved = state.get("last_time")
    return not saved or correlator.last_time == saved


__all__ = ["HOLD", "Pipeline"]
