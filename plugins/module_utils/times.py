"""Time as text: ISO 8601 <-> POSIX seconds, read and written the same way by the CLI, the modules and the
filters; and when two ban ends count as the same ban."""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone
from typing import Any

from .memo import remember

# Two ban ends this many seconds apart are the same ban: a ban already held that ends this close to the
# requested end is left alone. 2 s, not 1: the firewall reports whole seconds left, rounded up when the ban
# was written and counted down since (up to 1 s each way), and ISO text in reports and playbooks drops the
# fraction (up to 1 s); at 1 s every scan would re-add bans that are already right.
BAN_END_TOLERANCE = 2

_DAYS: dict[int, str] = {}  # day number since the epoch -> "2026-11-26T" (reports repeat few days)
_DAYS_MAX = 4096


_ISO: dict[float, str] = {}  # POSIX seconds -> iso_utc's text (reports repeat few stamps: one string each)
_ISO_MAX = 4096


def iso_utc(when: float | None) -> str | None:
    """POSIX seconds -> ``2026-11-26T08:08:18Z`` (``.123456`` kept when present), None stays None.

    A report of 100,000 offenders dates each three times from a few hundred distinct stamps: the text of a
    recent stamp is looked up (``format_utc`` makes it, and is the reference the tests compare with)."""
    known = _ISO.get(when)  # type: ignore[arg-type]
    if known is not None:
        return known
    if when is None:
        return None
    return remember(_ISO, when, format_utc(when), _ISO_MAX)


def format_utc(when: float) -> str:
    """``iso_utc`` without its cache."""
    whole = int(when // 1)
    day, second = divmod(whole, 86400)
    date = _DAYS.get(day)
    if date is None:
        date = remember(_DAYS, day, time.strftime("%Y-%m-%dT", time.gmtime(day * 86400)), _DAYS_MAX)
    hour, second = divmod(second, 3600)
    minute, second = divmod(second, 60)
    micro = round((when - whole) * 1e6)
    if micro:
        if micro >= 1000000:
            return format_utc(float(whole + 1))
        return f"{date}{hour:02d}:{minute:02d}:{second:02d}.{micro:06d}Z"
    return f"{date}{hour:02d}:{minute:02d}:{second:02d}Z"


def iso_seconds(when: float) -> str:
    """POSIX seconds -> ISO 8601 UTC in whole seconds (the fraction dropped): ``2026-11-26T08:08:18Z``."""
    return iso_utc(float(math.floor(when))) or ""


def parse_iso(text: str) -> float | None:
    """ISO 8601 (``Z`` or an offset; naive means UTC) -> POSIX seconds; None when it is not such a time."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"  # Python 3.9's fromisoformat does not read Z
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def parse_time(value: Any, numeric_text: bool = False) -> float | None:
    """A finite POSIX number or ISO 8601 text -> POSIX seconds; None when it is neither (a bool, NaN, an
    integer too large for a float). ``numeric_text``: text holding a number (``"1700000000"``) counts too,
    as on a command line."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond float range
            return None
        return number if math.isfinite(number) else None
    if not isinstance(value, str):
        return None
    if numeric_text:
        try:
            number = float(value.strip())
        except ValueError:
            pass
        else:
            return number if math.isfinite(number) else None
    return parse_iso(value)
