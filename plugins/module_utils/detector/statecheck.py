"""Validation of a loaded state file, entry by entry: what is sound is kept, what is damaged is set aside.

One bad value (a ban whose ``until`` is "abc", a log offset that is negative, a tracker record that is a
dict) must never stop every later scan. Each section of the state has a validator in ``SECTIONS`` and the
tracker's parts one in ``TRACKER_PARTS``; a validator takes the saved value and returns ``(sound, damaged)``:
the value to use and what was dropped (None when nothing was). A new section (or tracker part) is one
validator and one line in its table.
"""

from __future__ import annotations

from typing import Any, Callable

from ..firewall.contest import entry_ok as contest_ok
from ..limits import MAX_TIME

_NUMBER = (int, float)  # exact types: a bool is no number here
_INT = (int,)
Checked = tuple[Any, Any]  # (sound value, damaged part or None)
Validator = Callable[[Any], Checked]


def is_time(value: Any) -> bool:
    """A finite POSIX time from 1970 to the year 9999 (bools are not numbers here). A chained comparison,
    not ``math.isfinite``: an integer too large for a float (JSON has no bound) made that raise, and NaN and
    the infinities fail the comparison as well."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= MAX_TIME


def is_count(value: Any) -> bool:
    """A non-negative integer that fits JSON readers (bools are not counts)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 53


def _mapping(value: Any, entry_ok: Callable[[str, Any], bool]) -> Checked:
    """A dict checked entry by entry (a value that is no dict at all is damaged whole)."""
    if value is None:
        return {}, None
    if not isinstance(value, dict):
        return {}, value
    sound = {}
    damaged = {}
    for key, entry in value.items():
        if isinstance(key, str) and entry_ok(key, entry):
            sound[key] = entry
        else:
            damaged[key] = entry
    return sound, damaged or None


# ---- sections of state.json ----------------------------------------------------------------------------


def copy_ok(saved: Any) -> bool:
    """A log position's ``copy``: [] (no rotated sibling then) or [length, sha1] of the newest rotated
    sibling's first line (logsource.FileSource._new_copy)."""
    return isinstance(saved, list) and (
        saved == [] or (len(saved) == 2 and is_count(saved[0]) and isinstance(saved[1], str))
    )


def _position_ok(_path: str, pos: Any) -> bool:
    if not isinstance(pos, dict):
        return False
    if not all(is_count(pos.get(key, 0)) for key in ("dev", "ino", "offset", "line", "head_len")):
        return False
    if not isinstance(pos.get("skip", False), bool) or ("copy" in pos and not copy_ok(pos["copy"])):
        return False
    return isinstance(pos.get("head", ""), str)


def check_logs(value: Any) -> Checked:
    """``{path: {dev, ino, offset, line[, head_len, head, skip, copy]}}``."""
    return _mapping(value, _position_ok)


def check_journal(value: Any) -> Checked:
    """``{"cursor": str, "line": int}`` (or empty)."""
    if value is None or value == {}:
        return {}, None
    if (
        isinstance(value, dict)
        and isinstance(value.get("cursor", ""), (str, type(None)))
        and is_count(value.get("line", 0))
    ):
        return value, None
    return {}, value


def _ban_ok(_address: str, entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and is_time(entry.get("until"))
        and is_time(entry.get("since", 0))
        and is_count(entry.get("count", 1))
        and isinstance(entry.get("reason", ""), str)
        and isinstance(entry.get("enforced", False), bool)
    )


def check_bans(value: Any) -> Checked:
    """``{address: {until, reason, count, since, enforced}}``; ``until`` a time up to the year 9999."""
    return _mapping(value, _ban_ok)


def check_correlator(value: Any) -> Checked:
    """The correlator's own ``from_dict`` copes with any dict (it starts afresh, with a warning)."""
    if value is None or isinstance(value, dict):
        return value, None
    return None, value


def check_tracker(value: Any) -> Checked:
    """The tracker's state, part by part (``TRACKER_PARTS``)."""
    if value is None:
        return None, None
    if not isinstance(value, dict):
        return None, value
    sound = dict(value)
    damaged = {}
    for part, check in TRACKER_PARTS.items():
        if part in value:
            sound[part], bad = check(value[part])
            if bad is not None:
                damaged[part] = bad
    return sound, damaged or None


# ---- parts of the tracker's state ----------------------------------------------------------------------


def _optional_time(value: Any) -> Checked:
    return (value, None) if value is None or is_time(value) else (None, value)


def _weight_ok(count: Any) -> bool:
    """A window entry's weight: a whole number of failures (older states wrote it as a float)."""
    return type(count) in _NUMBER and 1 <= count < 1 << 53 and count % 1 == 0


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def record_ok(_key: str, rec: Any) -> bool:
    """A saved address record: ``[first, last, failures, window, services, users, bans, ban_until, reason,
    flags]`` (``policy.tracker._Record.to_list``). Checked inline with exact types and chained comparisons
    (NaN and infinities fail them): a state may hold 100,000 records, and a restore reads them all."""
    if type(rec) is not list or len(rec) != 10:
        return False
    first, last, failures, window, services, users, bans, until, reason, flags = rec
    return (
        type(first) in _NUMBER
        and 0 <= first <= MAX_TIME
        and type(last) in _NUMBER
        and 0 <= last <= MAX_TIME
        and type(failures) in _INT
        and 0 <= failures < 1 << 53
        and type(window) is list
        and not len(window) % 2
        and all(type(t) in _NUMBER and 0 <= t <= MAX_TIME for t in window[0::2])
        and all(map(_weight_ok, window[1::2]))
        and type(services) is list
        and all(type(s) is str for s in services)
        and type(users) is list
        and all(type(u) is str for u in users)
        and type(bans) in _INT
        and 0 <= bans < 1 << 53
        and (until is None or (type(until) in _NUMBER and 0 <= until <= MAX_TIME))
        and (reason is None or type(reason) is str)
        and type(flags) in _INT
        and 0 <= flags < 1 << 53
    )


def _records(value: Any) -> Checked:
    return _mapping(value, record_ok)


def _account_ok(_user: str, ips: Any) -> bool:
    return isinstance(ips, dict) and all(isinstance(ip, str) and is_time(t) for ip, t in ips.items())


def _accounts(value: Any) -> Checked:
    return _mapping(value, _account_ok)


def _alerts(value: Any) -> Checked:
    if value is None:
        return [], None
    if not isinstance(value, list):
        return [], value
    sound = []
    damaged = []
    for item in value:
        ok = (
            isinstance(item, list)
            and len(item) == 4
            and isinstance(item[0], str)
            and isinstance(item[1], str)
            and is_time(item[2])
            and _strings(item[3])
        )
        (sound if ok else damaged).append(item)
    return sound, damaged or None


def _hours(value: Any) -> Checked:
    # tracker_state._hours drops malformed pairs itself; only a value of the wrong kind is damaged here
    if value is None or isinstance(value, (list, dict)):
        return value, None
    return None, value


def _hook(value: Any) -> Checked:
    # the backend the ban hook was attached with, or None
    if value is None or isinstance(value, str):
        return value, None
    return None, value


def _hook_contest(value: Any) -> Checked:
    # {"4"|"6": {"rule", "moves", "held"}}: a forged count (beyond the limit, negative, a bool) is set aside
    return _mapping(value, contest_ok)


TRACKER_PARTS: dict[str, Validator] = {
    "clock": _optional_time,
    "pruned_at": _optional_time,
    "records": _records,
    "accounts": _accounts,
    "alerts": _alerts,
    "hours": _hours,
}

SECTIONS: dict[str, Validator] = {
    "logs": check_logs,
    "journal": check_journal,
    "bans": check_bans,
    "correlator": check_correlator,
    "tracker": check_tracker,
    "hook": _hook,
    "hook_contest": _hook_contest,
}
# what a state file of another version keeps (its other sections start afresh)
MIGRATED_SECTIONS = ("bans",)


def count_damaged(section: str, damaged: Any) -> int:
    """How many entries of a section were set aside (a value of the wrong kind counts as one)."""
    if section == "tracker" and isinstance(damaged, dict):
        return sum(map(_size, damaged.values()))
    return _size(damaged)


def _size(damaged: Any) -> int:
    return max(1, len(damaged)) if isinstance(damaged, (dict, list)) else 1
