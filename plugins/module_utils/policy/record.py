"""One address's memory in the tracker (``AddressRecord``), in bounded memory, and its saved row: state.json's
``records`` hold each record as a list of ``SAVED_FIELDS`` in that order, read back by their indexes.

A big attack keeps 100,000 of these: the record has slots, a banned address's window is the shared empty
tuple, its services one of a few shared frozensets (``with_service``) and its usernames a tuple.
"""

from __future__ import annotations

from collections.abc import Iterable

IGNORED_FLAG = 1  # the address is in an ignored network: counted in its record, never banned
PROTECTED_FLAG = 2  # protected, or a prefix holding a protected or ignored address: never banned


# A saved record (state.json "records") is a list of these fields in this order; read it by their indexes.
SAVED_FIELDS = (
    "first",
    "last",
    "failures",
    "window",
    "services",
    "users",
    "bans",
    "ban_until",
    "reason",
    "flags",
)
_FIRST, _LAST, _FAILURES, _WINDOW, _SERVICES, _USERS, _BANS, _BAN_UNTIL, _REASON, _FLAGS = range(
    len(SAVED_FIELDS)
)


class AddressRecord:
    """Per-address memory; ``window`` holds the latest failures as flat [time, count, ...] (the shared empty
    tuple while there are none: a banned address's window is empty, and a big attack bans 100,000).
    ``first <= last`` always (the tracker tests ``first`` only for a time before ``last``)."""

    __slots__ = (
        "ban_until",
        "bans",
        "failures",
        "first",
        "flags",
        "last",
        "reason",
        "services",
        "users",
        "window",
    )

    def __init__(self, now: float, flags: int) -> None:
        self.first = now
        self.last = now
        self.failures = 0
        self.window: list | tuple = NO_WINDOW
        # memory per record counts (a big attack is 100,000 of them): the services are one of a few shared
        # frozensets (with_service), the usernames a tuple (one or two, mostly; 48 bytes for one, where a
        # list grown by append takes 88 and an empty set 216)
        self.services: frozenset = NO_SERVICES
        self.users: tuple | list = ()
        self.bans = 0
        self.ban_until: float | None = None
        self.reason: str | None = None
        self.flags = flags

    def to_list(self) -> list:
        """The saved form, in SAVED_FIELDS order."""
        return [
            self.first,
            self.last,
            self.failures,
            self.window or [],  # the shared empty tuple is saved as the empty list it stands for
            sorted(self.services),
            sorted(self.users),
            self.bans,
            self.ban_until,
            self.reason,
            self.flags,
        ]

    @classmethod
    def from_list(cls, data: list) -> AddressRecord:
        first, last = float(data[_FIRST]), float(data[_LAST])
        rec = cls(min(first, last), int(data[_FLAGS]))  # first <= last, whatever the file says (see _failure)
        rec.last = last
        rec.failures = int(data[_FAILURES])
        window = data[_WINDOW]  # [time, count, ...]: counts stay integers ("5 failures", never "5.0")
        # each entry weighs >= 1 (the tracker's _keep and _least rely on it): a damaged count is no failure
        pairs = [(float(t), int(c)) for t, c in zip(window[0::2], window[1::2])]
        rec.window = [v for t, c in pairs if c >= 1 for v in (t, c)]
        rec.services = services_of(data[_SERVICES])
        rec.users = tuple(dict.fromkeys(data[_USERS]))
        rec.bans = int(data[_BANS])
        until = data[_BAN_UNTIL]
        rec.ban_until = None if until is None else float(until)
        rec.reason = data[_REASON]
        return rec


NO_SERVICES: frozenset = frozenset()
NO_WINDOW: tuple = ()  # the window of every record without failures in it (never appended to: replaced)
_SERVICE_SETS: dict[tuple, frozenset] = {}  # (services, one more) -> the shared frozenset of both


def with_service(services: frozenset, service: str) -> frozenset:
    """``services | {service}``, shared by every record with the same services (a handful of sets)."""
    key = (services, service)
    known = _SERVICE_SETS.get(key)
    if known is None:
        known = services | {service}
        if len(_SERVICE_SETS) < 4096:
            _SERVICE_SETS[key] = known
    return known


def services_of(names: Iterable[str]) -> frozenset:
    services = NO_SERVICES
    for name in names:
        services = with_service(services, name)
    return services


def saved_times(raw: list) -> tuple[float, float | None]:
    """(last seen, ban end or None) of a saved row not read yet; TypeError/ValueError/IndexError when
    damaged."""
    until = raw[_BAN_UNTIL]
    return float(raw[_LAST]), None if until is None else float(until)
