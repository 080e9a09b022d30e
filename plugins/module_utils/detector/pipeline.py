"""Pipeline: log lines -> counted Events (parser gate, parse_line, Correlator), resumable from saved state."""

from __future__ import annotations

from itertools import repeat
from typing import Any, Callable

from ..parser.correlate import HOLD, Correlator
from ..parser.events import Event
from ..parser.gate import Gate
from ..parser.stream import block_candidates, iter_events, parse_candidates
from ..parser.timestamps import TimestampParser
from .logsource import Block


class Pipeline:
    """``feed_batch(first, lines)`` returns the events that became final; ``state()`` is JSON-ready.

    ``now`` anchors the year of year-less timestamps; ``info`` keeps informational kinds (``parse``);
    ``numbered=False`` gives the events of raw blocks line number 0 (a scan never shows them, and it saves
    counting the newlines before each candidate line): ``Block.count`` is still exact. ``success_policy``
    is the policy's hook for successful logins (a scan passes ``Tracker.wants_success`` and feeds each
    batch's events to that tracker before the next batch): the pipeline's success filter keeps a login
    from an address that failed lately (``Correlator.failed_lately``, a fact of the log) and asks the hook
    about the others, which are most logins: the users' own, which then cost no correlation.
    ``preauth`` keeps the pre-auth kinds (``events.PREAUTH_KINDS``) without ``info``.
    ``prompt`` releases each event as its line is read (the correlator's ``prompt``: a failure counts at
    once); ``needs_user`` is the policy's ``Tracker.needs_user`` (which failures wait for their username).
    """

    def __init__(
        self,
        state: Any = None,
        *,
        now: float | None = None,
        info: bool = False,
        numbered: bool = True,
        warn: Callable[[str], None] | None = None,
        success_policy: Callable[[str, str | None, float], bool] | None = None,
        preauth: bool = False,
        prompt: bool = False,
        needs_user: Callable[[str], bool] | None = None,
    ) -> None:
        self.timestamps = TimestampParser(now)
        self.info = info
        self.preauth = preauth
        self.numbered = numbered
        self.correlator = (
            Correlator.from_dict(state, info=info, preauth=preauth, prompt=prompt)
            if state
            else Correlator(info=info, preauth=preauth, prompt=prompt)
        )
        self.correlator.admit_success = (
            None if success_policy is None else success_filter(self.correlator.failed_lately, success_policy)
        )
        self.correlator.needs_user = needs_user
        if warn is not None and state and not _restored(state, self.correlator):
            warn("correlator state in the state file is damaged or outdated: starting it afresh")

    def feed_batch(self, first: int, lines: list | Block) -> list[Event]:
        """Events released by consecutive lines numbered from ``first`` (the hot loop of a scan): a list of
        lines, or a ``Block`` of raw bytes, of which only the lines that pass the gate are decoded."""
        self.correlator.settled()  # the caller has counted the previous batches' events
        # (many small allocations, no reference cycles: the entry points pause the collector, see gcpause)
        if isinstance(lines, Block):
            return self._feed_block(first, lines)
        return self._feed_lines(first, lines)

    def _feed_lines(self, first: int, lines: list) -> list[Event]:
        """``feed_batch`` on a list of decoded lines."""
        return list(iter_events(lines, first, self.timestamps, self.correlator))

    def _feed_block(self, first: int, block: Block) -> list[Event]:
        """``feed_batch`` on raw bytes: C-speed gate search, then decode the candidates only (and count the
        block's lines on the way, for ``len(block)``).

        Each stage runs over the whole block before the next one starts (decode, parse, correlate; the
        policy then takes the block's events): a loop that runs one stage's code stays in the CPU's caches
        and branch predictors; interleaving the stages per line was measurably slower (``make bench``).
        """
        found = block_candidates(
            block.data,
            block.start,
            block.end,
            Gate.of(self.info, self.preauth),
            first=first if self.numbered else None,
            count=block.count is None,
        )
        if found.lines is not None:
            block.count = found.lines
        indexes, records = parse_candidates(found.texts, self.timestamps)
        out: list[Event] = []
        numbers = found.numbers
        lines = repeat(0) if numbers is None else map(numbers.__getitem__, indexes)
        self.correlator.feed_all(records, lines, out)
        return out

    def flush(self, until: float | None = None) -> list[Event]:
        """Release held events: all of them, or those whose line time is older than ``until`` (end of a scan:
        ``now - HOLD``)."""
        return self.correlator.flush(until)

    def holding(self) -> bool:
        """The correlator still holds events for later lines (a daemon flushes them again soon)."""
        return bool(getattr(self.correlator, "_held", True))

    def state(self) -> dict:
        """The correlator's state (held events included)."""
        return self.correlator.to_dict()


def success_filter(
    failed_lately: Callable[[str], bool], policy: Callable[[str, str | None, float], bool]
) -> Callable[[str, str | None, float], bool]:
    """The correlator's ``admit_success``: a login from an address that failed lately always goes on (a
    ``compromised`` alert may follow); the policy's hook judges the others (it also notes the logins it
    turns away in the known-good memory)."""

    def admit(ip: str, user: str | None, t: float) -> bool:
        return failed_lately(ip) or policy(ip, user, t)

    return admit


def _restored(state: Any, correlator: Correlator) -> bool:
    """False when saved correlator state was thrown away (``from_dict`` never raises: it starts afresh)."""
    if not isinstance(state, dict):
        return False
    saved = state.get("last_time")
    return not saved or correlator.last_time == saved


__all__ = ["HOLD", "Pipeline"]
