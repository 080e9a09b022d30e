"""``BanEntry``: one ban of the state's ``bans`` section as a scan or the follow daemon records it.

It reads and writes as the mapping ``{"until", "reason", "count", "since", "enforced"}`` (those keys, in
that order) that state.json holds, in 80 bytes where that dict takes 184: a scan that decides 100,000 bans
holds them all while it applies them (10 MB saved). Entries loaded from the file stay the plain dicts
``json`` makes; code that reads the section sees mappings either way, and ``state.json_pieces`` writes a
BanEntry as the very text of its dict.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

FIELDS = ("until", "reason", "count", "since", "enforced")
_MISSING: Any = object()  # the slot of a field deleted from the mapping


class BanEntry(MutableMapping):
    """A state ban in slots; any other key (none is written today) goes to ``extra``, a dict made on first
    use (or when a field is deleted), so that the mapping behaves as the dict it stands for."""

    __slots__ = (*FIELDS, "extra")

    def __init__(self, until: float, reason: str, count: int, since: float, enforced: bool) -> None:
        self.until = until
        self.reason = reason
        self.count = count
        self.since = since
        self.enforced = enforced
        self.extra: dict | None = None

    def __getitem__(self, key: Any) -> Any:
        if key in FIELDS:
            value = getattr(self, key)
            if value is not _MISSING:
                return value
        elif self.extra is not None and key in self.extra:
            return self.extra[key]
        raise KeyError(key)

    def get(self, key: Any, default: Any = None) -> Any:  # (Mapping's goes through a KeyError)
        if key in FIELDS:
            value = getattr(self, key)
            return default if value is _MISSING else value
        return default if self.extra is None else self.extra.get(key, default)

    def __setitem__(self, key: Any, value: Any) -> None:
        if key in FIELDS:
            setattr(self, key, value)
        else:
            if self.extra is None:
                self.extra = {}
            self.extra[key] = value

    def __delitem__(self, key: Any) -> None:
        if key in FIELDS and getattr(self, key) is not _MISSING:
            setattr(self, key, _MISSING)
            if self.extra is None:  # (as_dict's quick way is for entries with every field and no other)
                self.extra = {}
        elif key not in FIELDS and self.extra is not None and key in self.extra:
            del self.extra[key]
        else:
            raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        for key in FIELDS:
            if getattr(self, key) is not _MISSING:
                yield key
        if self.extra:
            yield from self.extra

    def __len__(self) -> int:
        return sum(1 for _key in self)

    def __repr__(self) -> str:
        return f"BanEntry({self.as_dict()!r})"

    def as_dict(self) -> dict[str, Any]:
        """The plain dict it stands for (what state.json holds)."""
        if self.extra is None:  # every field, no other key (what a scan writes 100,000 times)
            return {
                "until": self.until,
                "reason": self.reason,
                "count": self.count,
                "since": self.since,
                "enforced": self.enforced,
            }
        return dict(self.items())


def json_default(value: Any) -> Any:
    """``json``'s ``default`` for a state that holds BanEntries: each is written as its dict."""
    if isinstance(value, BanEntry):
        return value.as_dict()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
