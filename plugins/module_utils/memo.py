"""``remember(cache, key, value, limit)``: the one rule of the library's lookup caches (addresses, timestamps,
syslog headers, ISO dates).

Each cache is a plain dict that its hot path reads with ``dict.get`` (no wrapper call, no LRU bookkeeping on a
hit); a miss computes the value and stores it here. A full cache is emptied whole: logs repeat few values
(addresses of an attack, one host's headers, a day's stamps), so a cache that fills means input that does not
repeat, and keeping any of it would buy nothing while an eviction order would cost every hit.

``forget_all()`` empties every cache ``remember`` has filled (the caches are module-level dicts): a scan calls
it once its reading is done (100,000 addresses' entries take 5 MB that its bans and its firewall batch need);
the follow daemon keeps them.
"""

from __future__ import annotations

from typing import Any, TypeVar

V = TypeVar("V")


def remember(cache: dict[Any, V], key: Any, value: V, limit: int) -> V:
    """Store ``value`` under ``key`` (emptying ``cache`` first when it holds ``limit`` entries); return it."""
    if len(cache) >= limit:
        cache.clear()
    elif not cache:  # (its first entry, or the first since it was emptied)
        _FILLED[id(cache)] = cache
    cache[key] = value
    return value


_FILLED: dict[int, dict] = {}  # id -> every cache remember() has stored into


def forget_all() -> None:
    """Empty every cache ``remember`` has stored into (pure lookups: they fill again on use)."""
    for cache in _FILLED.values():
        cache.clear()
