"""The tracker's saved form (state.json's ``tracker`` section): ``to_state`` and ``load_state`` for
``Tracker``, with the read-only views that let ``StateDir.save`` write 100,000 records in pieces, and the
checks that keep what is sound of a damaged section. Each record's own row is ``record.AddressRecord``'s
(``SAVED_FIELDS``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .tracker import Tracker

HOUR = 3600  # seconds: one bucket of the failures timeline


def to_state(tracker: Tracker, lazy: bool = False) -> dict[str, Any]:
    """The tracker's JSON-ready state (``Tracker.to_state``). With ``lazy``, ``records`` is a read-only
    mapping that makes each saved record only as it is read (``StateDir.save`` writes it in pieces): a copy
    of 100,000 records is not held."""
    records: Mapping = _SavedRecords(tracker._stored, tracker.records)
    if not lazy:
        records = dict(records.items())
    return {
        "clock": tracker.clock,
        "pruned_at": tracker.pruned_at,
        "records": records,
        "accounts": _SavedAccounts(tracker.accounts) if lazy else _saved_accounts(tracker.accounts),
        "alerts": [[u, a, v[0], list(v[1])] for (u, a), v in tracker.alerts.items()],
        "hours": [[h, n] for h, n in sorted(tracker.hours.items())],
        **_save_clients(tracker),
    }


def load_state(tracker: Tracker, data: dict[str, Any]) -> None:
    """Restore into ``tracker`` what ``to_state`` produced (``Tracker.load_state``); raises
    ValueError/TypeError/KeyError on a damaged shape."""
    tracker.clock = data.get("clock")
    records = data.get("records", {})
    if not isinstance(records, dict):
        raise TypeError("records must be a mapping")
    tracker.records = {}
    tracker._stored = records  # materialised when touched: an incremental scan decodes only those
    tracker.pruned_at = data.get("pruned_at")
    tracker.accounts = {
        str(u): {str(ip): float(t) for ip, t in ips.items()} for u, ips in data.get("accounts", {}).items()
    }
    if tracker._pairs:
        for user, ips in tracker.accounts.items():
            if len(ips) == 1:
                tracker.accounts[user] = next(iter(ips.items()))
    tracker.alerts = {
        (str(u), str(a)): [float(t), dict.fromkeys(map(str, ips))] for u, a, t, ips in data.get("alerts", [])
    }
    tracker.hours, tracker._newest_hour = {}, None
    for hour, count in _hours(data.get("hours")):
        tracker._new_hour(hour, count)
    _load_clients(tracker, data)


def _save_clients(tracker: Tracker) -> dict[str, Any]:
    """The known-good memory, stale clients and pre-auth windows, for ``to_state``."""
    out: dict[str, Any] = {}
    if tracker.clients is not None:
        out["clients"] = tracker.clients.to_state()
    if tracker.preauth is not None:
        out["preauth"] = tracker.preauth.to_state()
    return out


def _load_clients(tracker: Tracker, data: dict[str, Any]) -> None:
    """Restore what ``_save_clients`` saved; each part drops its own damaged entries, never raises."""
    if tracker.clients is not None:
        tracker.clients.load(data.get("clients"))
    if tracker.preauth is not None:
        tracker.preauth.load(data.get("preauth"))


class _SavedRecords(Mapping):
    """The records of ``Tracker.to_state(lazy=True)``: those still in their saved form, then the others,
    each turned into its saved form when read."""

    def __init__(self, stored: dict, records: dict) -> None:
        self._stored = stored
        self._records = records

    def __getitem__(self, key: str) -> list:
        rec = self._records.get(key)
        return self._stored[key] if rec is None else rec.to_list()

    def __iter__(self) -> Iterator[str]:
        yield from self._stored
        yield from self._records

    def __len__(self) -> int:
        return len(self._stored) + len(self._records)

    def items(self) -> Iterator[tuple[str, list]]:  # type: ignore[override]
        yield from self._stored.items()
        for key, rec in self._records.items():
            yield key, rec.to_list()


def _saved_accounts(accounts: dict) -> dict[str, dict[str, float]]:
    """The saved form of ``Tracker.accounts``: every account as ``{address: time}``."""
    return dict(_SavedAccounts(accounts).items())


class _SavedAccounts(Mapping):
    """``Tracker.accounts`` in its saved form, each one-address pair made a mapping when read."""

    def __init__(self, accounts: dict) -> None:
        self._accounts = accounts

    def __getitem__(self, user: str) -> dict[str, float]:
        ips = self._accounts[user]
        return {ips[0]: ips[1]} if isinstance(ips, tuple) else ips

    def __iter__(self) -> Iterator[str]:
        return iter(self._accounts)

    def __len__(self) -> int:
        return len(self._accounts)

    def items(self) -> Iterator[tuple[str, dict[str, float]]]:  # type: ignore[override]
        for user, ips in self._accounts.items():
            yield user, ({ips[0]: ips[1]} if isinstance(ips, tuple) else ips)


def _hours(saved: Any) -> list:
    """Valid ``[hour, failures]`` pairs of a saved timeline (oldest first); malformed entries are dropped."""
    if isinstance(saved, dict):
        saved = list(saved.items())
    if not isinstance(saved, list):
        return []
    valid = {}
    for item in saved:
        try:
            hour, count = item
            hour = int(hour)
            count = int(count)
        except (TypeError, ValueError, OverflowError):
            continue
        if hour % HOUR == 0 and count > 0 and not isinstance(item[1], bool):
            valid[hour] = valid.get(hour, 0) + count
    return sorted(valid.items())
