"""remember(): the caches' one rule (a full cache is emptied whole, then holds the new entry)."""

from __future__ import annotations

from mail_bruteforce_guard.memo import forget_all, remember


def test_stores_and_returns_the_value() -> None:
    cache: dict = {}
    assert remember(cache, "a", 1, 3) == 1 and cache == {"a": 1}
    assert remember(cache, "b", None, 3) is None and cache == {"a": 1, "b": None}  # None is a value too


def test_a_full_cache_is_emptied_before_the_new_entry() -> None:
    cache = {"a": 1, "b": 2, "c": 3}
    assert remember(cache, "d", 4, 3) == 4
    assert cache == {"d": 4}


def test_forget_all_empties_every_cache_remember_filled() -> None:
    """A scan empties the reading's lookup caches once it has read everything (memory for its bans)."""
    first: dict = {}
    second: dict = {}
    remember(first, "a", 1, 3)
    remember(second, "b", 2, 3)
    forget_all()
    assert first == {} and second == {}
    assert remember(first, "c", 3, 3) == 3 and first == {"c": 3}  # filled again on use
    forget_all()
    assert first == {}
