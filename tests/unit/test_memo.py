"""remember(): the caches' one rule (a full cache is emptied whole, then holds the new entry)."""

from __future__ import annotations

from mail_bruteforce_guard.memo import remember


def test_stores_and_returns_the_value() -> None:
    cache: dict = {}
    assert remember(cache, "a", 1, 3) == 1 and cache == {"a": 1}
    assert remember(cache, "b", None, 3) is None and cache == {"a": 1, "b": None}  # None is a value too


def test_a_full_cache_is_emptied_before_the_new_entry() -> None:
    cache = {"a": 1, "b": 2, "c": 3}
    assert remember(cache, "d", 4, 3) == 4
    assert cache == {"d": 4}
