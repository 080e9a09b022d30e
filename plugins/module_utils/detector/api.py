"""The detector's operations as functions returning JSON-ready dicts; cli.py and the Ansible modules are thin
layers over these. Every failure the user can act on is an MbgError with a one-line message.

``warn`` (every function takes one) receives one-line warnings; the default writes them to stderr.
"""

from __future__ import annotations

import contextlib
import math
import sys
import syslog
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..addresses import is_canonical_ipv4, match_canonical_ipv4
from ..errors import ConfigError, MbgError
from ..firewall.base import Ban, PartialApplyError, normalize_target, unique_targets
from ..firewall.contest import CONTESTED, FAMILIES
from ..firewall.contest import from_state as contests_from_state
from ..firewall.contest import to_state as contests_to_state
from ..gcpause import paused_gc
from ..limits import MAX_DURATION, MAX_TIME
from ..memo import forget_all
from ..notify.events import Alerts, account_alert, ban_alert, failure_alert, unban_alert
from ..notify.outbox import queue_alerts
from ..parser.events import Event, iso_utc
from ..printable import printable
from .banentry import BanEntry
from .config import Config, load_config
from .journaltrust import JournalTrust
from .logsource import FileSource, JournalSource
from .metrics import ActiveBans, RunRecord, active_bans, count_unban, record, write_textfile
from .pipeline import Pipeline
from .session import Session, load_tracker
from .state import StateDir

if TYPE_CHECKING:
    from ..firewall.enforce import Enforcer

__all__ = [
    "ban",
    "ban_each",
    "firewall_remove",
    "load_config",
    "notify",
    "parse_files",
    "report",
    "restore",
    "scan",
    "status",
    "unban",
]

Warn = Callable[[str], None]
_new_ban = tuple.__new__  # a Ban from its three fields, without the NamedTuple's Python-level __new__
MUTATION_WAIT = 30.0  # seconds ban/unban/restore wait for a running scan to finish


def stderr_warn(message: str) -> None:
    """Default warning sink: ``mail-bruteforce-guard: warning: ...`` on stderr."""
    sys.stderr.write(f"mail-bruteforce-guard: warning: {printable(message)}\n")
    sys.stderr.flush()


def _now(now: float | None) -> float:
    return time.time() if now is None else float(now)


# ---- parse -----------------------------------------------------------------------------------------


def parse_files(
    paths: Iterable[str], *, now: float | None = None, warn: Warn = stderr_warn
) -> Iterator[tuple[str, Event]]:
    """Every recognised event of whole files, in order, as ``(path, Event)``; unreadable files are warned
    about and skipped (MbgError when none could be read)."""
    pipeline = Pipeline(None, now=_now(now), info=True)
    read_any = False
    for path in paths:
        source = FileSource(path, None, warn=warn)
        for first, batch in source.batches():  # the scan's block path, numbering the lines
            for event in pipeline.feed_batch(first, batch):
                yield path, event
        for event in pipeline.flush():  # each file on its own: events belong to the file they came from
            yield path, event
        read_any = read_any or source.ok
    if not read_any:
        raise MbgError("no log file could be read")


# ---- scan and report --------------------------------------------------------------------------------


def _sources(config: Config, state: dict, from_start: bool, warn: Warn, journal_command) -> list:
    logs = state["logs"]
    sources: list = [
        FileSource(path, logs.get(path), from_start=from_start, rotated=config.read_rotated, warn=warn)
        for path in config.logs
    ]
    if config.journal:
        sources.append(
            JournalSource(
                state["journal"],
                from_start=from_start,
                command=journal_command,
                warn=warn,
                trust=JournalTrust(config.journal_trusted),
            )
        )
    return sources


def _result(decisions, stats: dict, timeline: dict) -> dict[str, Any]:
    return {**decisions.as_result(), "stats": stats, "timeline": timeline}


def stale_message(row: Any) -> str:
    """The syslog line of one ``stale_client`` alert: a stable ``key=value`` tail (no spaces in values)."""
    from ..firewall.enforce import clean_reason  # noqa: PLC0415 - the firewall layer only when alerting

    user = clean_reason(row.username).replace(" ", "?").replace("=", "?") or "?"
    return (
        f"stale client (old password?), not banned: alert=stale_client user={user} address={row.ip} "
        f"failures={row.failures} since={row.since} shared={'yes' if row.shared else 'no'}"
    )


def _log_stale(rows: list, config: Config, dry_run: bool) -> None:
    """One syslog line (AUTHPRIV, warning) per new ``stale_client`` alert; none in a dry run."""
    if not rows or dry_run or not config.syslog:
        return
    import syslog  # noqa: PLC0415

    syslog.openlog("mail-bruteforce-guard", syslog.LOG_PID, syslog.LOG_AUTHPRIV)
    for row in rows:
        syslog.syslog(syslog.LOG_WARNING, stale_message(row))


def scan(
    config: Config,
    *,
    from_start: bool = False,
    dry_run: bool = False,
    now: float | None = None,
    warn: Warn = stderr_warn,
    journal_command: list | None = None,
) -> dict[str, Any]:
    """Read new log lines, update the state, decide, and apply the new bans in one batch (unless ``dry_run``
    or mode ``monitor``). Returns ``{"offenders", "accounts", "stats", "timeline"}``; ``timeline`` holds the
    failures per UTC hour the state remembers (the newest 168 hours of log time, not only this run's).

    ``from_start`` re-reads every log from its beginning with a fresh tracker (a replay: windows and
    escalation come from the logs again); bans already in the state are kept (the later expiry wins).
    Timestamps come from the lines; ``now`` (default: the clock) decides which bans are still running
    and anchors the year of year-less timestamps.
    """
    started = time.monotonic()
    if not config.logs and not config.journal:
        raise ConfigError("nothing to read: give log files ('logs', --log) or enable the journal")
    now = _now(now)
    with _telling(config, now, started, warn, dry_run) as told:
        store = StateDir(config.state_dir, warn)
        with store.lock(), paused_gc():  # the whole run: see gcpause
            state = store.load()
            session = Session(config, state, store, now=now, warn=warn, from_start=from_start)
            tracker, tally = session.tracker, session.tally
            for source in _sources(config, state, from_start, warn, journal_command):
                session.read(source, now)
            # the reading's lookup caches and spare table room go before 100,000 bans are recorded and applied
            forget_all()
            tracker.compact()
            # the new bans' rows are dropped once recorded (the state and the alerts hold what they say):
            # 100,000 of them are not held during the firewall batch
            stale_alerts = session.take(now)[1]
            # chosen before pruning forgets what they say; their rows are made once the state is saved and
            # freed (the offenders of a large attack take the room of its bans and records). The round is
            # over then: its tables of touched addresses go before the firewall batch
            decided = tracker.decide_later(now)
            tracker.start_round()
            session.end_reading()
            failure = session.apply(now, dry_run=dry_run)
            told.failures, told.unreadable, told.bans = tally.failures, tally.unreadable, tally.bans
            told.alerts = tally.alerts
            tracker.maybe_prune(tracker.clock)
            timeline = tracker.timeline()
            session.finish()  # written in pieces by save()
            store.save(state)
            if config.metrics_file:  # what the metrics need of the bans, counted before they go
                told.active_bans = active_bans(state["bans"], now)
            _log_stale(stale_alerts, config, dry_run)
            told.lines, told.events = tally.lines, tally.events
            told.cut = tally.cut
            told.alerts += [account_alert(a.alert, a.username, a.ips, now) for a in decided.accounts]
            state = tracker = session = None  # type: ignore[assignment]
            if failure is not None:
                raise failure
            if not tally.read_any:
                raise MbgError("no log source could be read")
            decisions = decided.decisions()
            decided = None  # type: ignore[assignment]
        stats = {
            "lines": tally.lines,
            "events": tally.events,
            "bytes": tally.bytes,
            "seconds": round(time.monotonic() - started, 3),
            "lines_too_long": tally.cut,  # skipped: longer than logsource.MAX_LINE
            # journal entries whose writer does not fit the daemon they claim
            "journal_rejected": tally.rejected,
        }
        return _result(decisions, stats, timeline)


@contextlib.contextmanager
def _telling(config: Config, now: float, started: float, warn: Warn, dry_run: bool) -> Iterator[_Told]:
    """The scan's ``_Told``; whatever way the scan ends (but a dry run), its alerts and metrics go out
    after it (``_after_scan``), a failure's error with them."""
    told = _Told()
    try:
        yield told
    except MbgError as err:
        told.error = err
        raise
    finally:
        if not dry_run:
            _after_scan(config, told, now, started, warn)


class _Told:
    """What a scan leaves for the alerts and the metrics, whatever way it ends."""

    def __init__(self) -> None:
        self.alerts: Alerts | list = []
        self.lines = self.events = self.bans = self.cut = 0
        self.failures: dict[str, int] = {}
        self.active_bans: ActiveBans | None = None  # counted after the scan saved its state
        self.error: MbgError | None = None
        self.unreadable: list[str] = []


def _error_kind(err: MbgError | None) -> str:
    if err is None:
        return ""
    if isinstance(err, ConfigError):
        return "config"
    text = str(err)
    for kind, word in (
        ("lock", "another scan"),
        ("log", "log source"),
        ("backend", "firewall"),
        ("backend", "ipset"),
        ("backend", "nft"),
        ("backend", "iptables"),
        ("state", "state"),
    ):
        if word in text:
            return kind
    return "scan"


def _after_scan(config: Config, told: _Told, now: float, started: float, warn: Warn) -> None:
    """After the bans are applied and the state saved (and the lock released): the alerts go to syslog and
    the outbox, the counters and the metrics file are written. A failure here never fails the scan."""
    from ..errors import LockedError  # noqa: PLC0415

    if isinstance(told.error, LockedError):
        return  # another scan is running: it reports
    alerts = told.alerts
    kind = _error_kind(told.error)
    if told.error is not None:
        alerts.append(failure_alert(kind, str(told.error), now))
    for path in told.unreadable:
        alerts.append(failure_alert("log", f"cannot read {path}", now))
    _tell(config, alerts, now, warn)
    run = RunRecord(
        told.error is None,
        round(time.monotonic() - started, 3),
        told.lines,
        told.events,
        told.bans,
        told.failures,
        kind,
        told.cut,
    )
    try:
        data = record(config.state_dir, run, now)
        if config.metrics_file:
            bans: Any = told.active_bans
            if bans is None:
                bans = StateDir(config.state_dir, warn).load(quarantine=False)["bans"]
            write_textfile(config.metrics_file, data, bans, state_dir=config.state_dir, now=now, warn=warn)
    except OSError as err:
        warn(f"run counters not written: {err.strerror or err}")


def _tell(config: Config, alerts: list, now: float, warn: Warn) -> None:
    """Syslog and queue alerts after the firewall change is done; never fails the operation."""
    try:
        queue_alerts(config, alerts, now=now, warn=warn)
    except (MbgError, OSError) as err:
        warn(f"alerts not queued: {err}")


def _enforcer(config: Config, dry_run: bool = False) -> Enforcer:
    # imported here: a scan that applies no ban (most of them) never loads the firewall layer and subprocess
    from ..firewall.enforce import Enforcer, make_backend  # noqa: PLC0415

    return Enforcer(
        make_backend(config),
        ignore=config.ignore,
        protected=config.protected,
        use_syslog=config.syslog,
        dry_run=dry_run,
    )


def enforce_pending(
    config: Config, state: dict, now: float, warn: Warn, *, check_hook: bool = True
) -> list[str]:
    """Apply every unexpired ban of the state not yet in the firewall, in one batch (a ban the never-ban
    rules refuse is dropped from the state with a warning); once the hook has been attached (by ``restore``
    or by a scan that banned), check it first and re-attach it if another tool's reload removed it. A scan
    that has neither to do loads no firewall code at all.

    The state is the source of truth: when the hook needed repair (whatever removed it may have taken our
    sets or table and their entries too: ``nft flush ruleset``, an ipset clean-up) or when the backend
    changed since it was attached (``auto`` resolving differently, e.g. firewalld started; the old one is
    taken down first, so that it drops nothing ``unban`` could no longer lift), every unexpired ban is
    passed again (those still in place are left alone). ``check_hook=False`` (the follow daemon between its
    bounded-rate checks) applies pending bans without checking the hook. Returns the error line of each
    contest over INPUT position 1 that this check began (firewall/contest.py; logged already, said once per
    contest)."""
    bans = state["bans"]
    pending = _unexpired(bans, now, pending=True)
    if not pending and not (check_hook and config.ban_hook and state.get("hook")):
        return []
    enforcer = _enforcer(config)
    previous = state.get("hook")
    begun: list[str] = []
    if previous and previous != enforcer.backend.name:
        _retire(config, previous, warn)
        _forget_hook(state)
        pending = _unexpired(bans, now)
    elif check_hook and config.ban_hook and previous:
        lines = _attach(enforcer, state)
        begun = [line for line in lines if line.startswith(CONTESTED)]
        if len(lines) > len(begun):  # repaired: whatever removed the hook may have taken the sets too
            pending = _unexpired(bans, now)
    if pending:
        keys = _state_keys(pending)
        try:
            result = enforcer.ban(pending, now, ban_lines=False)
        except PartialApplyError as err:  # what went in is saved as enforced; the rest stays pending
            _mark_enforced(bans, keys, err.result.added + err.result.unchanged)
            raise partial_failure(err, len(pending)) from None
        _mark_enforced(bans, keys, result.added + result.unchanged)
        for refusal in result.refused:
            bans.pop(keys.get(_canonical(refusal.address), refusal.address), None)
            warn(f"refused to ban {refusal.address}: {refusal.reason}")
    if config.ban_hook and not state.get("hook"):
        begun += [line for line in _attach(enforcer, state) if line.startswith(CONTESTED)]
    return begun


def _unexpired(bans: dict, now: float, pending: bool = False) -> list[Ban]:
    """The state's bans that have not ended, as Bans in the state's order (``pending``: only those not yet
    in the firewall). A scan's new bans are BanEntries with every field: read as attributes (the mapping's
    methods are Python calls, four per ban), with the same answers (tests/unit/detector/test_banentry.py)."""
    out = []
    for address, entry in bans.items():
        if isinstance(entry, BanEntry) and entry.extra is None:  # every field, no other key
            until, reason, enforced = float(entry.until), entry.reason, entry.enforced
        else:
            until = float(entry.get("until", 0))
            reason, enforced = entry.get("reason", ""), entry.get("enforced")
        if until > now and not (pending and enforced):
            out.append(_new_ban(Ban, (address, until, str(reason))))
    return out


def _state_keys(bans: list[Ban]) -> dict[str, str]:
    """Canonical address -> the state's key, where the two differ (``keys.get(a, a)`` reads it; the
    canonical IPv4 addresses of nearly every ban need no entry: 100,000 of them took 5 MB)."""
    keys: dict[str, str] = {}
    for ban in bans:
        address = ban.address  # (a canonical IPv4 address, nearly every one, without _canonical's calls)
        key = address if isinstance(address, str) and match_canonical_ipv4(address) else _canonical(address)
        if key != ban.address:
            keys[key] = ban.address
        elif keys:
            keys.pop(key, None)  # the state's own canonical key comes later: it wins, as it did
    return keys


def _attach(enforcer: Enforcer, state: dict, thorough: bool = False) -> list[str]:
    """Make the hook current; remember it in the state so that later scans keep it attached, with the
    count of moves of our jump above another tool's rule (``hook_contest``: a contest that has begun adds
    its error line, see ``Enforcer.attach``)."""
    name = enforcer.backend.name
    contests = contests_from_state(state.get("hook_contest"))
    lines = enforcer.attach(again=state.get("hook") == name, thorough=thorough, contests=contests)
    state["hook"] = name
    state["hook_contest"] = contests_to_state(contests)
    return lines


def _forget_hook(state: dict) -> None:
    """The hook is gone (detached, removed, or a backend before): nothing to keep attached or contest."""
    state["hook"] = None
    state["hook_contest"] = {}


def _mark_enforced(bans: dict, keys: dict, applied: Iterable[Ban]) -> None:
    for ban in applied:  # the enforcer's bans hold canonical addresses already
        entry = bans.get(keys.get(ban.address, ban.address))
        if isinstance(entry, BanEntry):
            entry.enforced = True  # (its mapping's __setitem__, without the call)
        elif entry is not None:
            entry["enforced"] = True


def partial_failure(err: PartialApplyError, wanted: int) -> MbgError:
    """The one-line error of a batch the firewall took only part of (a full set)."""
    shown = ", ".join(b.address for b in err.failed[:5]) + (" ..." if len(err.failed) > 5 else "")
    return MbgError(
        f"{err} ({wanted - len(err.failed)} of {wanted} bans applied and saved;"
        f" not applied, kept pending: {shown})"
    )


def _canonical(address: str) -> str:
    if isinstance(address, str) and is_canonical_ipv4(address):  # nearly every ban: nothing to parse
        return address
    try:
        return normalize_target(address)
    except ValueError:
        return address


def report(config: Config, *, now: float | None = None, warn: Warn = stderr_warn) -> dict[str, Any]:
    """The scan result shape for everything the saved state remembers; reads no log, changes nothing."""
    started = time.monotonic()
    store = StateDir(config.state_dir, warn)
    state = store.load(quarantine=False)
    tracker = load_tracker(config, state["tracker"], store)
    decisions = tracker.decide(_now(now), everything=True)
    stats = {
        "lines": 0,
        "events": 0,
        "bytes": 0,
        "seconds": round(time.monotonic() - started, 3),
        "lines_too_long": 0,
        "journal_rejected": 0,
    }
    return _result(decisions, stats, tracker.timeline())


# ---- ban lifecycle --------------------------------------------------------------------------------------


def status(
    config: Config, *, now: float | None = None, warn: Warn = stderr_warn, firewall: bool = True
) -> dict[str, Any]:
    """Active bans from the state file (the source of truth), with what is read and tracked, and (unless
    ``firewall`` is false) the firewall's side: see :func:`firewall_status`."""
    now = _now(now)
    store = StateDir(config.state_dir, warn)
    state = store.load(quarantine=False)
    bans = []
    for address, entry in sorted(state["bans"].items()):
        try:
            until = float(entry["until"])
        except (KeyError, TypeError, ValueError):
            continue
        if until <= now:
            continue
        bans.append(
            {
                "address": address,
                "until": iso_utc(until),
                "remaining": int(until - now),
                "reason": entry.get("reason", ""),
                "count": entry.get("count", 1),
                "enforced": bool(entry.get("enforced")),
            }
        )
    logs = {path: pos.get("offset", 0) for path, pos in state["logs"].items() if isinstance(pos, dict)}
    stale, shared = load_tracker(config, state["tracker"], store).known_clients(now)
    tracker = state["tracker"] or {}
    return {
        "bans": bans,
        "mode": config.mode,
        "state_dir": config.state_dir,
        "saved_at": iso_utc(state.get("saved_at"))
        if isinstance(state.get("saved_at"), (int, float))
        else None,
        "logs": logs,
        "tracked_addresses": len(tracker.get("records", {})) if isinstance(tracker, dict) else 0,
        "stale_clients": [row._asdict() for row in stale],
        "shared_addresses": [row._asdict() for row in shared],
        "firewall": firewall_status(config, state.get("hook_contest")) if firewall else None,
    }


def _targets(addresses: Iterable[str]) -> list[str]:
    try:
        out = unique_targets(addresses)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if not out:
        raise ConfigError("no address given")
    return out


def _ban_end(duration: Any, until: Any, now: float, bantime: int) -> float:
    """The end of a manual ban: ``until`` (POSIX seconds) or ``now + duration`` (default ``bantime``)."""
    if until is not None:
        if duration is not None:
            raise ConfigError("give a ban duration or an end time (until), not both")
        # "-inf < until < inf", not math.isfinite: that raises for an integer too large for a float
        if isinstance(until, bool) or not isinstance(until, (int, float)) or not -math.inf < until < math.inf:
            raise ConfigError(f"ban end (until) must be POSIX seconds, got {until!r}")
        if until > now + MAX_DURATION or until > MAX_TIME:
            raise ConfigError(
                f"ban end (until) {until!r} is more than {MAX_DURATION} seconds (ten years) away"
            )
        if until <= now:
            raise ConfigError(f"ban end (until) {iso_utc(until)} is not in the future")
        return float(until)
    duration = bantime if duration is None else duration
    if isinstance(duration, bool) or not isinstance(duration, int) or duration <= 0:
        raise ConfigError(f"ban duration must be a positive number of seconds, got {duration!r}")
    if duration > MAX_DURATION or now + duration > MAX_TIME:
        raise ConfigError(
            f"ban duration must be at most {MAX_DURATION} seconds (ten years), got {duration!r}"
        )
    return now + duration


def ban(
    config: Config,
    addresses: Iterable[str],
    *,
    duration: int | None = None,
    until: float | None = None,
    reason: str = "manual",
    dry_run: bool = False,
    now: float | None = None,
    warn: Warn = stderr_warn,
) -> dict[str, Any]:
    """Ban addresses (or networks) by hand for ``duration`` seconds (default ``bantime``) or until the
    absolute end ``until`` (POSIX seconds; not both). Returns ``{"changed", "added", "refused", "until",
    "dry_run", "mode"}``; never-ban addresses are refused."""
    targets = _targets(addresses)
    now = _now(now)
    end = _ban_end(duration, until, now, config.bantime)
    return _ban(config, [Ban(t, end, reason or "manual") for t in targets], dry_run, now, warn)


def ban_each(
    config: Config,
    bans: Iterable[tuple[str, float, str]],
    *,
    dry_run: bool = False,
    now: float | None = None,
    warn: Warn = stderr_warn,
) -> dict[str, Any]:
    """Ban each ``(address, until, reason)`` (``until`` POSIX seconds) in ONE firewall batch and one state
    write; an address given twice keeps its later end. Same result as :func:`ban`, ``until`` being the
    latest end; every end must be in the future (ConfigError naming the address otherwise)."""
    now = _now(now)
    wanted: dict[str, Ban] = {}
    for item in bans:
        try:
            address, end, reason = item
        except (TypeError, ValueError):
            raise ConfigError(f"a ban must be (address, until, reason), got {item!r}") from None
        target = _targets([address])[0]
        try:
            end = _ban_end(None, end, now, config.bantime)
        except ConfigError as err:
            raise ConfigError(f"{target}: {err}") from None
        previous = wanted.get(target)
        if previous is None or end > previous.until:
            wanted[target] = Ban(target, end, str(reason or "manual"))
    if not wanted:
        raise ConfigError("no address given")
    return _ban(config, list(wanted.values()), dry_run, now, warn)


def _ban(config: Config, bans: list[Ban], dry_run: bool, now: float, warn: Warn) -> dict[str, Any]:
    """Apply manual bans (one enforcer batch) and record them in the state (a longer existing end wins)."""
    store = StateDir(config.state_dir, warn)
    with store.lock(wait=MUTATION_WAIT):
        state = store.load()
        monitor = config.mode == "monitor"
        failure = None
        try:
            result = _enforcer(config, dry_run=dry_run or monitor).ban(bans, now)
        except PartialApplyError as err:  # save what the firewall took; report the rest
            result, failure = err.result, partial_failure(err, len(bans))
            failed = {b.address for b in err.failed}
            bans = [b for b in bans if b.address not in failed]
        refused = {r.address for r in result.refused}
        kept = [b for b in bans if b.address not in refused]
        if not dry_run:
            entries = state["bans"]
            for wanted in kept:
                previous = entries.get(wanted.address, {})
                entries[wanted.address] = {
                    "until": max(wanted.until, float(previous.get("until", 0))),
                    "reason": wanted.reason,
                    "count": int(previous.get("count", 0)) + 1,
                    "since": now,
                    "enforced": not monitor,
                }
            store.save(state)
        if failure is not None:
            raise failure
    if not dry_run:
        _tell(config, [ban_alert(b.address, b.until, b.reason, now) for b in kept], now, warn)
    return {
        "changed": bool(kept) and not dry_run,
        "added": [b.address for b in kept],
        "refused": [r._asdict() for r in result.refused],
        "until": iso_utc(max(b.until for b in bans)),
        "dry_run": dry_run,
        "mode": config.mode,
    }


def unban(
    config: Config,
    addresses: Iterable[str],
    *,
    reset: bool = False,
    dry_run: bool = False,
    now: float | None = None,
    warn: Warn = stderr_warn,
) -> dict[str, Any]:
    """Remove bans from the firewall and the state; ``reset`` also forgets the escalation history.
    Returns ``{"changed", "removed"}`` (``removed``: addresses that were banned in the firewall or state)."""
    targets = _targets(addresses)
    now = _now(now)
    store = StateDir(config.state_dir, warn)
    with store.lock(wait=MUTATION_WAIT):
        state = store.load()
        monitor = config.mode == "monitor"  # the firewall is left as it is; the state forgets the ban
        result = _enforcer(config, dry_run=dry_run or monitor).unban(targets)
        removed = list(result.removed)
        if monitor and not dry_run:
            for address in removed:  # put there in enforce mode: it keeps dropping until it expires
                warn(
                    f"monitor mode leaves the firewall unchanged: {address} is still banned there (an entry"
                    " from enforce mode); switch to enforce to lift it, or run firewall-remove"
                )
        bans = state["bans"]
        tracker = load_tracker(config, state["tracker"], store)
        for target in targets:
            entry = bans.get(target)
            if entry is not None and float(entry.get("until", 0)) > now and target not in removed:
                removed.append(target)
            if dry_run:
                continue
            bans.pop(target, None)
            tracker.lift(target)
            if reset:
                tracker.forget(target)
        if not dry_run:
            state["tracker"] = tracker.to_state()
            store.save(state)
    if not dry_run and removed:
        _tell(config, [unban_alert(a, now) for a in removed], now, warn)
        try:
            count_unban(config.state_dir, len(removed))
        except OSError as err:
            warn(f"run counters not written: {err.strerror or err}")
    return {"changed": bool(removed) and not dry_run, "removed": removed, "reset": reset, "dry_run": dry_run}


def restore(config: Config, *, now: float | None = None, warn: Warn = stderr_warn) -> dict[str, Any]:
    """Enforce mode: create the sets/table, attach the ban hook (unless ``ban_hook`` is off) and re-add
    every unexpired ban of the state (boot time; also the first run after a switch from monitor mode).
    Monitor mode touches no firewall state at all. Returns ``{"restored", "refused", "expired", "pending",
    "mode", "firewall": {"backend", "hook"}, "messages"}`` (``pending``: bans kept for enforce mode)."""
    now = _now(now)
    store = StateDir(config.state_dir, warn)
    with store.lock(wait=MUTATION_WAIT):
        state = store.load(only=("bans",))  # the rest is written back as it was
        bans = state["bans"]
        wanted = [
            Ban(address, float(entry["until"]), str(entry.get("reason", "")))
            for address, entry in bans.items()
            if float(entry.get("until", 0)) > now
        ]
        out: dict[str, Any] = {
            "restored": 0,
            "refused": [],
            "expired": len(bans) - len(wanted),
            "pending": 0,
            "mode": config.mode,
            "firewall": {"backend": None, "hook": "monitor"},
            "messages": [],
        }
        if config.mode == "monitor":
            out["pending"] = len(wanted)
            return out
        enforcer = _enforcer(config)
        failure = None
        try:
            result = enforcer.restore(wanted, now)
        except PartialApplyError as err:  # what went in is saved as enforced; the rest stays pending
            result, failure = err.result, partial_failure(err, len(wanted))
        changed = False
        for ban_ in result.added + result.unchanged:
            entry = bans.get(ban_.address)
            if entry is not None and entry.get("enforced") is not True:
                entry["enforced"] = changed = True
        messages = list(result.messages)
        hook_before = (state.get("hook"), state.get("hook_contest"))
        try:
            previous = state.get("hook")
            if failure is None and previous and previous != enforcer.backend.name:  # the backend changed
                messages += _retire(config, previous, warn)
                _forget_hook(state)
            if failure is None and config.ban_hook:
                messages += _attach(enforcer, state, thorough=True)
            elif failure is None:  # turned off: the admin matches the sets in their own rules
                messages += enforcer.detach()
                _forget_hook(state)
        finally:
            # after a reboot every ban is marked already and the hook known: 100,000 bans are not re-encoded
            hook_after = (state.get("hook"), state.get("hook_contest"))
            if changed or hook_after != hook_before or not store.loaded_as_is:
                store.save(state)
        if failure is not None:  # a full set: the hook is put right by the next restore
            raise failure
        out.update(
            restored=len(result.added) + len(result.unchanged),
            refused=[r._asdict() for r in result.refused],
            firewall={"backend": enforcer.backend.name, "hook": _hook_word(config, state)},
            messages=messages,
        )
    return out


def _hook_word(config: Config, state: dict) -> str:
    """What restore made of the hook: off, attached, or contested (a held contest over INPUT 1)."""
    if not config.ban_hook:
        return "off"
    held = any(c.held for c in contests_from_state(state.get("hook_contest")).values())
    return "contested" if held else "attached"


def _retire(config: Config, name: str, warn: Warn) -> list[str]:
    """Take down the hook and sets of the backend used before (its bans are re-added to the new one)."""
    from ..firewall.base import FirewallError  # noqa: PLC0415
    from ..firewall.enforce import BACKENDS  # noqa: PLC0415

    factory = BACKENDS.get(name)
    if factory is None:
        return []
    old = factory(config)
    try:
        lines = [f"hook detached: {line}" for line in old.detach()] + old.purge()
    except FirewallError as err:
        warn(f"could not take down the {name} hook used before: {err}")
        return []
    if lines and config.syslog:
        from ..firewall.enforce import SYSLOG_FACILITY, SYSLOG_IDENT  # noqa: PLC0415

        syslog.openlog(SYSLOG_IDENT, syslog.LOG_PID, SYSLOG_FACILITY)
        for line in lines:
            syslog.syslog(syslog.LOG_NOTICE, f"backend {name} -> {config.firewall_backend}: {line}")
    return lines


def notify(
    config: Config, *, failure: str | None = None, now: float | None = None, warn: Warn = stderr_warn
) -> dict[str, Any]:
    """Deliver the outbox's due alerts (``failure``: first raise a detector-failure alert naming that unit,
    as the units' ``OnFailure=`` do). Returns the outcome: delivered, messages, failed, dropped, queued,
    errors."""
    from ..notify.outbox import deliver  # noqa: PLC0415

    now = _now(now)
    if failure:
        queue_alerts(config, [failure_alert(failure, f"{failure} failed", now)], now=now, warn=warn)
    return deliver(config, now=now, warn=warn)._asdict()


def firewall_remove(config: Config, *, warn: Warn = stderr_warn) -> dict[str, Any]:
    """Remove everything of ours from the firewall (both backends); the state keeps the bans, marked as
    not enforced, so that a later ``restore`` in enforce mode puts them back. Returns ``{"changed",
    "removed"}`` (``removed``: one line per thing taken out)."""
    from ..firewall.remove import remove_all  # noqa: PLC0415

    if not Path(config.state_dir).is_dir():  # uninstalled already: never recreate the state directory
        removed = remove_all(config)
        _log_removed(config, removed)
        return {"changed": bool(removed), "removed": removed}
    store = StateDir(config.state_dir, warn)
    with store.lock(wait=MUTATION_WAIT):
        state = store.load()
        removed = remove_all(config)
        for entry in state["bans"].values():
            entry["enforced"] = False
        _forget_hook(state)
        store.save(state)
    _log_removed(config, removed)
    return {"changed": bool(removed), "removed": removed}


def _log_removed(config: Config, removed: list[str]) -> None:
    if removed and config.syslog:
        from ..firewall.enforce import SYSLOG_FACILITY, SYSLOG_IDENT  # noqa: PLC0415

        syslog.openlog(SYSLOG_IDENT, syslog.LOG_PID, SYSLOG_FACILITY)
        for line in removed:
            syslog.syslog(syslog.LOG_NOTICE, line)


def firewall_status(config: Config, contest_state: Any = None) -> dict[str, Any]:
    """The resolved backend, the hook's state (attached, missing, contested, off, monitor) and the other
    firewall tools found on the host (read-only). ``contest_state``: the state's ``hook_contest`` section;
    a held contest the firewall still shows makes the hook ``contested``, listed under ``contested``
    (``[{"family", "rule", "moves"}]``)."""
    from ..firewall import coexist  # noqa: PLC0415
    from ..firewall.base import FirewallError  # noqa: PLC0415

    enforcer = _enforcer(config, dry_run=True)
    out: dict[str, Any] = {"backend": enforcer.backend.name}
    if config.mode == "monitor":
        out["hook"] = "monitor"
    elif not config.ban_hook:
        out["hook"] = "off"
    else:
        contests = contests_from_state(contest_state)
        try:
            out["hook"] = enforcer.backend.hook_state(contests)
            if out["hook"] == "contested":
                out["contested"] = [
                    {"family": FAMILIES[v], "rule": c.rule, "moves": c.moves}
                    for v, c in sorted(enforcer.backend.hook_contested(contests).items())
                ]
        except FirewallError as err:
            out["hook"] = "missing"
            out["error"] = str(err)
    out["tools"] = [found.as_dict() for found in coexist.detect()]
    return out
