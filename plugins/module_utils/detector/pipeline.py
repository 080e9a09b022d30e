"""Pipeline: log lines -> counted Events (parser gate, parse_line, Correlator), resumable from saved state."""

from __future__ import annotations

from typing import Any, Callable

from ..parser.correlate import HOLD, Correlator
from ..parser.events import Event
from ..parser.lines import is_candidate, parse_candidate
from ..parser.timestamps import TimestampParser


class Pipeline:
    """``feed(line_number, text)`` returns the events that became final; ``state()`` is JSON-ready.

    ``now`` anchors the year of year-less timestamps; ``info`` keeps informational kinds (``parse``).
    """

    def __init__(
        self,
        state: Any = None,
        *,
        now: float | None = None,
        info: bool = False,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.timestamps = TimestampParser(now)
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

    def feed_batch(self, first: int, lines: list) -> list[Event]:
        """Events released by consecutive lines numbered from ``first`` (the hot loop of a scan)."""
        out: list[Event] = []
        gate = is_candidate
        parse = parse_candidate
        ts = self.timestamps
        feed = self.correlator.feed
        for number, text in enumerate(lines, first):
            if gate(text):
                record = parse(text, ts)
                if record is not None:
                    released = feed(record, number)
                    if released:
                        out.extend(released)
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
