"""What the tracker reports, and its wording: the result rows (``Offender``, ``AccountAlert``, ``Decisions``),
the reason text of a ban or a watch, and the hourly timeline. Nothing here decides: the tracker passes the
figures it decided on, this module says them."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..memo import remember
from ..parser.events import iso_utc
from .record import IGNORED_FLAG, PROTECTED_FLAG, AddressRecord

BAN = "ban"
WATCH = "watch"
IGNORED = "ignored"


class Offender(NamedTuple):
    """One address (or IPv6 prefix) in a report; times are ISO 8601 strings."""

    ip: str
    failures: int
    services: list
    usernames: list
    first_seen: str | None
    last_seen: str | None
    decision: str
    reason: str
    ban_until: str | None
    bans: int


class AccountAlert(NamedTuple):
    """A username under a distributed attack (``targeted``) or logged into after failures
    (``compromised``)."""

    username: str
    alert: str
    ips: list


class Decisions(NamedTuple):
    """What ``Tracker.decide`` returns (``stale_clients``: StaleClient rows, ``shared``: SharedAddress rows,
    both from ``clients.py``)."""

    offenders: list
    accounts: list
    stale_clients: list = ()
    shared: list = ()

    def as_result(self) -> dict[str, list]:
        """The JSON shape the scan and the maillog_offenders filter return (without their stats). The
        offender rows become dicts in place, each tuple freed as its dict is made (a scan may hold many)."""
        offenders = self.offenders
        fields = Offender._fields
        for i, offender in enumerate(offenders):
            offenders[i] = dict(zip(fields, offender))  # its _asdict(), without the Python-level call
        return {
            "offenders": offenders,
            "accounts": [a._asdict() for a in self.accounts],
            "stale_clients": [c._asdict() for c in self.stale_clients],
            "shared_addresses": [c._asdict() for c in self.shared],
        }


_new = tuple.__new__  # a NamedTuple from a tuple of all its fields, without its Python-level __new__


def span(seconds: float) -> str:
    """A duration as a report says it: ``45s``, ``4m``, ``2h05m``."""
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def thresholds(config: Any) -> str:
    """The ban thresholds every "watch" reason quotes: ``5 in 10m`` (``, 20 in 12h`` with the slow window)."""
    slow = f", {config.slow_maxretry} in {span(config.slow_findtime)}" if config.slow_maxretry else ""
    return f"{config.maxretry} in {span(config.findtime)}{slow}"


_SPANS: dict[float, str] = {}  # seconds -> span(seconds): the windows of a burst of bans take few values
_SERVICES: dict[frozenset, str] = {}  # a record's services (one of a few shared sets) -> their text


def ban_reason(
    failures: int, what: str, seconds: float, kind: str, rec: AddressRecord, *, shared: int
) -> str:
    """The reason of a ban just decided (``rec`` holds its services, usernames and ban count already). Made
    for every ban as it is decided (100,000 in a big attack): the texts of its span and services are
    remembered."""
    users = sorted(rec.users)
    shown = ", ".join(users[:5]) + (f" and {len(users) - 5} more" if len(users) > 5 else "")
    took = _SPANS.get(seconds) or remember(_SPANS, seconds, span(seconds), 4096)
    services = _SERVICES.get(rec.services)
    if services is None:
        services = remember(_SERVICES, rec.services, ", ".join(sorted(rec.services)), 4096)
    return (
        f"{failures} {what} in {took} ({kind}{services})"
        + (f"; users {shown}" if users else "")
        + (f"; shared address ({shared} users log in from it)" if shared else "")
        + (f"; repeat offender, ban #{rec.bans}" if rec.bans > 1 else "")
    )


def _banned(rec: AddressRecord, banned_now: bool) -> bool:
    return rec.ban_until is not None and (banned_now or rec.ban_until > rec.last)


def plain_watch(rec: AddressRecord, banned_now: bool) -> bool:
    """True when ``offender`` words the record's row as a watch below the thresholds: the one row the
    known-good memory's note may word instead."""
    return not rec.flags & (IGNORED_FLAG | PROTECTED_FLAG) and not _banned(rec, banned_now)


def offender(
    key: str,
    rec: AddressRecord,
    *,
    banned_now: bool,
    watch: str,
    note: str | None = None,
    services: Any = None,
) -> Offender:
    """The report row of one record. ``watch``: the ``thresholds`` text; ``note``: the known-good memory's
    :func:`client_note` of a ``plain_watch`` row, replacing its reason when it says something; ``services``:
    the record's services sorted, when the caller has them (default: sorted here)."""
    if rec.flags & IGNORED_FLAG:
        decision, reason, until = IGNORED, "address in an ignored network: never banned", None
    elif rec.flags & PROTECTED_FLAG:
        decision, reason, until = WATCH, "protected address (or prefix holding one): never banned", None
    elif rec.ban_until is not None and (banned_now or rec.ban_until > rec.last):  # _banned, inlined
        decision, reason, until = BAN, rec.reason or "banned", rec.ban_until
    else:
        reason = note or f"{rec.failures} failures, below the thresholds ({watch})"
        decision, until = WATCH, None
    return _new(
        Offender,
        (
            key,
            rec.failures,
            sorted(rec.services) if services is None else services,
            sorted(rec.users),
            iso_utc(rec.first),
            iso_utc(rec.last),
            decision,
            reason,
            None if until is None else iso_utc(until),
            rec.bans,
        ),
    )


class LateDecisions:
    """``Decisions`` chosen now, their offender rows made later by ``decisions()``: the records to report,
    in the report's order, with everything else the tracker would change before then (whether each was
    banned this round, the known-good memory's notes, the account alerts and the known-good rows) read
    already. A row reads only its record, which nothing changes once no more events are fed: a scan makes
    100,000 rows (20 MB) after it has pruned, saved and freed its state."""

    def __init__(
        self,
        keys: list,
        recs: list,
        banned: bytearray,
        *,
        watch: str,
        notes: dict,
        accounts: list,
        stale_clients: list,
        shared: list,
    ) -> None:
        self._rows = (keys, recs, banned)
        self._watch = watch
        self._notes = notes
        self.accounts = accounts
        self.stale_clients = stale_clients
        self.shared = shared

    def decisions(self) -> Decisions:
        """The Decisions, each offender row made now (call it once)."""
        keys, recs, banned = self._rows
        self._rows = ((), (), b"")
        notes, watch = self._notes, self._watch
        # one sorted list per set of services, shared by the rows that have it (read-only, as every row is):
        # the records share a handful of frozensets, 100,000 rows would make 100,000 copies (7 MB)
        services: dict[frozenset, list] = {}
        offenders = []
        for key, rec, flag in zip(keys, recs, banned):
            banned_now = flag == 1
            shown = services.get(rec.services)
            if shown is None:
                shown = services[rec.services] = sorted(rec.services)
            note = notes.get(key) if notes else None
            row = offender(key, rec, banned_now=banned_now, watch=watch, note=note, services=shown)
            offenders.append(row)
        return Decisions(offenders, self.accounts, self.stale_clients, self.shared)


def client_note(clients: Any, config: Any, key: str, rec: AddressRecord, watch: str) -> str | None:
    """The "watch" reason of an address with a stale client or known users (``clients``: the tracker's
    known-good memory), else None."""
    shared = clients.shared(key, rec.last)
    users = clients.stale.get(key)
    if not shared and not users:
        return None
    stale = clients.totals.get(key, 0)
    parts = [f"shared address ({shared} users log in from it)"] if shared else []
    if users:
        named = sorted(users.items(), key=lambda kv: -kv[1][2])
        shown = ", ".join(f"{u} ({e[2]} since {iso_utc(e[0])})" for u, e in named[:3])
        more = f" and {len(named) - 3} more" if len(named) > 3 else ""
        parts.append(
            f"stale client: {shown}{more}, below the stale ceiling "
            f"({config.stale_maxretry} in {span(config.stale_findtime)})"
        )
    if rec.failures > stale:
        other = "other " if stale else ""
        parts.append(f"{rec.failures - stale} {other}failures, below the thresholds ({watch})")
    return "; ".join(parts)


def timeline(hours: dict[int, int]) -> dict[str, int]:
    """Failures per UTC hour, oldest first: ``{"2026-11-26T17:00:00Z": 12, ...}``."""
    return {iso_utc(h): hours[h] for h in sorted(hours)}
