"""One loaded state with its tracker and pipeline, and the per-batch step that ``scan`` and ``follow`` share:
read -> pipeline -> tracker, then release -> new bans into the state -> enforce -> alerts.

A scan makes one Session, reads every source once and settles once; the follow daemon keeps one Session for as
long as the state file is its own (it reloads it when another command wrote the file) and settles after each
burst of lines. Both go through exactly the same code, so a ban decided by the daemon is the scan's ban.
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import MbgError
from ..notify.events import Alerts, failure_alert
from ..parser.events import AUTH_FAILURE
from ..policy.tracker import Tracker, new_bans
from .banentry import BanEntry
from .config import Config
from .logsource import FileSource, JournalSource
from .pipeline import HOLD, Pipeline
from .state import StateDir

Warn = Callable[[str], None]


def load_tracker(config: Config, saved: Any, store: StateDir) -> Tracker:
    """The tracker of a saved state (a damaged one starts afresh, with a warning)."""
    tracker = Tracker(config.policy)
    if saved:
        try:
            tracker.load_state(saved)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            store.warn("tracker state in the state file is damaged: starting it afresh")
            tracker = Tracker(config.policy)
    return tracker


class Tally:
    """What the reading and settling added up to (a scan's stats and the metrics' counters)."""

    def __init__(self) -> None:
        self.lines = self.events = self.bytes = self.cut = self.rejected = self.bans = 0
        self.failures: dict[str, int] = {}
        self.alerts = Alerts()  # each new ban's alert is made only as it is read (outbox.queue_alerts)
        self.unreadable: list[str] = []
        self.read_any = False

    def count_failures(self, events: list) -> None:
        """Add the failures of ``events`` to ``failures`` (service -> weighted count): each run of failures of
        one service (a batch's are mostly one run) is added up first, then added to the table once."""
        table = self.failures
        service, total = None, 0
        for event in events:
            if event.kind == AUTH_FAILURE:
                if event.service != service:
                    if service is not None:
                        table[service] = table.get(service, 0) + total
                    service, total = event.service, 0
                total += event.count
        if service is not None:
            table[service] = table.get(service, 0) + total


class Session:
    """``state`` (as ``StateDir.load`` gave it) with the tracker and the pipeline built over it.

    ``read(source)`` feeds a source's new lines and records its position in the state; ``settle(now)``
    releases what the correlator holds for ``HOLD`` seconds of log time, records the new bans in
    ``state["bans"]`` (their alerts in ``tally.alerts``) and, unless ``dry_run`` or monitor mode, applies
    every pending ban in one firewall batch; ``finish()`` puts the tracker and correlator into the state for
    ``StateDir.save``.
    """

    def __init__(
        self,
        config: Config,
        state: dict,
        store: StateDir,
        *,
        now: float,
        warn: Warn,
        from_start: bool = False,
    ) -> None:
        self.config = config
        self.state = state
        self.store = store
        self.warn = warn
        if from_start:  # a replay re-derives windows and escalation from the logs themselves
            state["logs"], state["journal"], state["correlator"] = {}, {}, None
            self.tracker = Tracker(config.policy)
        else:
            self.tracker = load_tracker(config, state["tracker"], store)
        self.tracker.start_round()
        # logins from addresses without recent failures are dropped early unless the policy wants them (the
        # known-good memory notes them first): only the policy's alert could use them
        self.pipeline = Pipeline(
            state["correlator"],
            now=now,
            numbered=False,
            warn=warn,
            success_policy=self.tracker.wants_success,
            preauth=bool(config.policy.preauth_maxretry),
            prompt=True,  # a failure counts as its line is read (issue 14)
            needs_user=self.tracker.needs_user,
        )
        self.tally = Tally()

    def feed(self, first: int, batch: Any, now: float) -> None:
        """One batch of lines through the pipeline into the tracker."""
        released = self.pipeline.feed_batch(first, batch)
        self.tally.events += len(released)
        self.tally.count_failures(released)
        self.tracker.feed(released, now)

    def read(self, source: Any, now: float, between: Callable[[], None] | None = None) -> None:
        """Every new line of ``source``; its position (and counters) into the state and the tally.
        ``between`` is called after each batch (the daemon's watchdog during a long catch-up)."""
        tally = self.tally
        for first, batch in source.batches():
            self.feed(first, batch, now)
            if between is not None:
                between()
        tally.lines += source.lines
        tally.bytes += source.bytes
        tally.cut += source.cut
        tally.rejected += getattr(source, "rejected", 0)
        tally.read_any = tally.read_any or source.ok
        self.record_position(source)

    def record_position(self, source: Any) -> None:
        """The source's position into the state (a file that vanished: forgotten)."""
        if not source.ok and isinstance(source, FileSource):
            self.tally.unreadable.append(source.path)
        if isinstance(source, JournalSource) or getattr(source, "is_journal", False):
            self.state["journal"] = source.position
        elif source.position is not None:
            self.state["logs"][source.path] = source.position
        else:
            self.state["logs"].pop(source.path, None)

    def settle(self, now: float, *, dry_run: bool = False, check_hook: bool = True) -> tuple:
        """Release held events, record new bans and apply what is pending. Returns ``(new bans, stale
        alerts, failure)``: ``failure`` is the MbgError of the firewall batch, or None (the caller raises it
        after saving what was applied)."""
        banned, stale_alerts = self.take(now)
        rows = new_bans(banned)
        return rows, stale_alerts, self.apply(now, dry_run=dry_run, check_hook=check_hook)

    def take(self, now: float) -> tuple[dict, list]:
        """``settle``'s first half: release held events and record the new bans in ``state["bans"]`` (their
        alerts in ``tally.alerts``). Returns ``(new bans as address -> record, stale alerts)``
        (``Tracker.take_banned``: no row per ban is made, a scan's 100,000 took 9 MB)."""
        batch = self.pipeline.flush(now - HOLD)  # released once the log has been quiet for HOLD s
        self.tally.events += len(batch)
        self.tally.count_failures(batch)
        self.tracker.feed(batch, now)
        stale_alerts = self.tracker.take_stale_alerts()
        banned = self.tracker.take_banned()
        bans = self.state["bans"]
        addresses, untils, reasons, counts = [], [], [], []  # the alerts' columns
        for address, rec in banned.items():
            until, reason, count = rec.ban_until, rec.reason, rec.bans
            entry = bans.get(address)
            if entry is None or float(entry.get("until", 0)) < until:
                bans[address] = BanEntry(until, reason, count, now, False)
            addresses.append(address)
            untils.append(until)
            reasons.append(reason)
            counts.append(count)
        self.tally.bans += len(banned)
        self.tally.alerts.add_ban_columns(addresses, untils, reasons, counts, now=now)
        drop_expired(bans, now, self.config)
        return banned, stale_alerts

    def apply(self, now: float, *, dry_run: bool = False, check_hook: bool = True) -> MbgError | None:
        """``settle``'s second half: unless ``dry_run`` or monitor mode, every pending ban in one firewall
        batch. Returns the batch's MbgError, or None."""
        if dry_run or self.config.mode != "enforce":
            return None
        from .api import enforce_pending  # noqa: PLC0415 - api imports this module

        try:
            for line in enforce_pending(self.config, self.state, now, self.warn, check_hook=check_hook):
                self.warn(line)  # a contest over INPUT 1 began: said once, and told
                self.tally.alerts.append(failure_alert("backend", line, now))
        except MbgError as err:
            return err
        return None

    def end_reading(self) -> None:
        """For a scan that reads nothing more after ``take``: the correlator's state goes into the state now,
        each of its tables copied to its size (a live table keeps the room of the most entries it ever held:
        4 MB where 50,000 of 100,000 addresses remain), and the pipeline is dropped."""
        saved = self.pipeline.state()
        self.state["correlator"] = {key: dict(v) if isinstance(v, dict) else v for key, v in saved.items()}
        self.pipeline = None  # type: ignore[assignment]

    def finish(self) -> None:
        """The tracker (written in pieces by ``save``) and the correlator (unless ``end_reading`` put it there
        already) into the state."""
        self.state["tracker"] = self.tracker.to_state(lazy=True)
        if self.pipeline is not None:
            self.state["correlator"] = self.pipeline.state()


def drop_expired(bans: dict, now: float, config: Config) -> None:
    """Forget bans that ended more than ``bantime_max`` ago (the tracker keeps escalation counts)."""
    horizon = now - config.bantime_max
    ended = [
        a
        for a, b in bans.items()  # (a BanEntry with every field read by its attribute: get is a Python call)
        if float(b.until if isinstance(b, BanEntry) and b.extra is None else b.get("until", 0)) < horizon
    ]
    for address in ended:
        del bans[address]
