"""Syslog header timestamps -> POSIX seconds (UTC), with RFC 3164 year inference and per-minute caching."""

from __future__ import annotations

import calendar
import math
import time
from datetime import datetime, tzinfo

from .patterns import ISO_TIME_RE, RFC3164_LOOSE_RE

MONTHS = {
    "Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6,
    "Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12,
}  # fmt: skip

# TAI64 labels are 2**62 + TAI seconds; daemontools (multilog, tai64nlocal) puts TAI 10 s ahead of UTC.
TAI64_EPOCH = (1 << 62) + 10
# A RFC 3164 date more than this far in the future of "now" belongs to the previous year.
FUTURE_SLACK = 32 * 86400
# A line of a repeated local minute (DST end) this much earlier than the last line of one is the second pass.
FOLD_BACK = 600
_CACHE_MAX = 4096
# A RFC 3339 stamp to the second with a numeric offset, and the space after it: "2026-11-26T17:29:09+00:00 "
# (rsyslog without fractions): ``seconds`` also holds it whole, so a hot loop finds it by ``line[:26]``
ISO_SECOND_LEN = 26


class TimestampParser:
    """Splits the timestamp off a log line; ``now`` anchors year inference, ``tz`` is the zone of zoneless
    stamps (None: the machine's local time zone)."""

    __slots__ = ("_cache", "_folds", "_last_fold", "_now_year", "now", "seconds", "tz")

    def __init__(self, now: float | None = None, tz: tzinfo | None = None) -> None:
        self.now = time.time() if now is None else float(now)
        self.tz = tz
        self._now_year = self._local_year(self.now)
        self._cache: dict[str, float] = {}
        # per-second cache: "Nov 26 08:08:18 " (the 16 characters of a RFC 3164 stamp) -> POSIX time, and
        # RFC 3339 second+offset -> POSIX time of that second (and the whole stamp, when it is one of
        # ISO_SECOND_LEN); a hot loop may look a line's [:16] and [:ISO_SECOND_LEN] up itself
        self.seconds: dict[str, float] = {}
        # local minutes that happen twice (DST end: 02:00-02:59 in Europe/Berlin): key -> (first, second)
        # epoch; never in the caches above, each line chooses (``_fold``)
        self._folds: dict[str, tuple[float, float]] = {}
        self._last_fold = -math.inf  # the time the last line of such a minute was given

    def _local_year(self, epoch: float) -> int:
        if self.tz is None:
            return time.localtime(epoch).tm_year
        return datetime.fromtimestamp(epoch, self.tz).year

    def _local_minute(self, year: int, month: int, day: int, hour: int, minute: int) -> float:
        if self.tz is None:
            return time.mktime((year, month, day, hour, minute, 0, 0, 0, -1))
        return datetime(year, month, day, hour, minute, tzinfo=self.tz).timestamp()

    def _later_fold(
        self, year: int, month: int, day: int, hour: int, minute: int, *, base: float
    ) -> tuple | None:
        """(first, second) epoch of a local minute that happens twice (the clock goes back at DST end), else
        None: ``base`` is one of them (time.mktime and zoneinfo both give the first)."""
        if self.tz is not None:
            try:
                other = datetime(year, month, day, hour, minute, tzinfo=self.tz, fold=1).timestamp()
            except (ValueError, OverflowError):
                return None
        else:
            other = base
            for isdst in (0, 1):
                try:
                    cand = time.mktime((year, month, day, hour, minute, 0, 0, 0, isdst))
                except (ValueError, OverflowError):
                    continue
                lt = time.localtime(cand)
                if cand != base and (lt.tm_mday, lt.tm_hour, lt.tm_min) == (day, hour, minute):
                    other = cand
        if other == base:
            return None
        return (base, other) if other > base else (other, base)

    def _fold(self, key: str, sec: int) -> float:
        """The time of second ``sec`` of the repeated local minute ``key``: its first pass, unless a line of
        a repeated minute was already given a time more than ``FOLD_BACK`` s later (then the second pass:
        the hour after DST end is not read as an hour back in time)."""
        first, second = self._folds[key]
        when = first + sec
        if when < self._last_fold - FOLD_BACK:
            when = second + sec
        self._last_fold = when
        return when

    def _remember(self, key: str, value: float) -> float:
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[key] = value
        return value

    def _bsd_minute(self, key: str, month: int, day: int, hour: int, minute: int) -> float | None:
        """Epoch of a yearless local minute, cached under ``key``: of the years around "now", the latest that
        puts it at most ``FUTURE_SLACK`` after "now" (logs are read after they are written; a "Jan 1" line
        read on Dec 31 seconds before midnight belongs to the next year, a "Dec 31" line read in January to
        the previous one)."""
        base = None
        for year in (self._now_year + 1, self._now_year, self._now_year - 1):
            try:
                base = self._local_minute(year, month, day, hour, minute)
            except (ValueError, OverflowError):  # Feb 30, hour 25, Feb 29 of another year ...
                base = None
                continue
            if base <= self.now + FUTURE_SLACK:
                break
        else:
            return None
        fold = self._later_fold(year, month, day, hour, minute, base=base)
        if fold is not None:
            self._folds[key] = fold  # not cached: each line of it chooses its pass (``_fold``)
            return base
        return self._remember(key, base)

    def split(self, line: str) -> tuple[float | None, int]:
        """Return (POSIX time or None, index where the rest of the line starts after the timestamp)."""
        known = self.seconds.get(line[:16])  # RFC 3164 "Nov 26 08:08:18 " seen in this second already
        if known is not None:
            return known, 16
        known = self.seconds.get(line[:ISO_SECOND_LEN])  # a RFC 3339 stamp to the second, seen already
        if known is not None and len(line) >= ISO_SECOND_LEN:  # (a shorter line may be a second+offset key)
            return known, ISO_SECOND_LEN
        return self.split_new(line)

    def split_new(self, line: str) -> tuple[float | None, int]:  # noqa: PLR0911, PLR0912 - one return per timestamp format (hot path)
        """``split`` for a line whose first 16 and 26 characters are not in ``seconds`` (caller looked)."""
        if len(line) < 16:
            return None, 0
        first = line[0]
        # RFC 3164 "Nov 26 08:08:18 " (the common case: fixed columns, cached per minute and per second)
        if line[3] == " " and line[6] == " " and line[9] == ":" and line[12] == ":" and line[15] == " ":
            key = line[:12]
            base = self._cache.get(key)
            sec = line[13:15]
            if base is None and key in self._folds:
                return (self._fold(key, int(sec)), 16) if sec.isdecimal() else (None, 0)
            if base is None:
                month = MONTHS.get(line[:3])
                d, h, mi = line[4:6].lstrip(" "), line[7:9], line[10:12]  # " 6" or "26": a space pads
                if month is None or not (d.isdecimal() and h.isdecimal() and mi.isdecimal()):
                    return None, 0
                base = self._bsd_minute(key, month, int(d), int(h), int(mi))
                if key in self._folds:
                    return (self._fold(key, int(sec)), 16) if sec.isdecimal() else (None, 0)
            if base is None or not sec.isdecimal():
                return None, 0
            when = base + int(sec)
            if len(self.seconds) >= _CACHE_MAX:
                self.seconds.clear()
            self.seconds[line[:16]] = when
            return when, 16
        if first == "@" and len(line) > 25 and line[25] == " ":
            try:
                label = int(line[1:17], 16)
                nano = int(line[17:25], 16)
            except ValueError:
                return None, 0
            if label < TAI64_EPOCH:
                return None, 0
            return label - TAI64_EPOCH + nano / 1e9, 26
        if first.isdigit():
            # RFC 3339 (rsyslog's default on Debian 12): cached per second and offset, fraction added
            key, frac, end = _iso_parts(line)
            if key is not None:
                base = self.seconds.get(key)
                if base is not None:
                    if end == ISO_SECOND_LEN and not frac:  # first seen with a fraction: now whole too
                        self._iso_second(key, base, line[:end])
                    return base + frac, end
            m = ISO_TIME_RE.match(line)
            if m is None:
                return None, 0
            when = self._iso(m)
            if key is not None and when is not None and m.end() == end:
                self._iso_second(key, when - frac, line[:end] if end == ISO_SECOND_LEN and not frac else None)
            return when, m.end()
        if first.isupper():
            m = RFC3164_LOOSE_RE.match(line)  # "Aug 3 15:30:49", "Aug  3 15:30:49.123"
            if m is None:
                return None, 0
            month = MONTHS.get(m.group(1))
            if month is None:
                return None, 0
            day, hour, minute = int(m.group(2)), int(m.group(3)), int(m.group(4))
            key = f"{m.group(1)} {day:2d} {m.group(3)}:{m.group(4)}"
            base = self._cache.get(key)
            if base is None:
                base = self._bsd_minute(key, month, day, hour, minute)
            if base is None:
                return None, 0
            if key in self._folds:
                return self._fold(key, int(m.group(5))) + _fraction(m.group(6)), m.end()
            return base + int(m.group(5)) + _fraction(m.group(6)), m.end()
        return None, 0

    def _iso_second(self, key: str, base: float, stamp: str | None) -> None:
        """Cache a RFC 3339 second under its second+offset ``key``, and the whole ``stamp`` when it is one of
        ``ISO_SECOND_LEN`` without a fraction ("2026-11-26T17:29:09+00:00 ": a hot loop finds it by [:26])."""
        seconds = self.seconds
        if len(seconds) >= _CACHE_MAX:
            seconds.clear()
        seconds[key] = base
        if stamp is not None:
            seconds[stamp] = base

    def _iso(self, m) -> float | None:
        """RFC 3339 (with its offset) or zoneless ``YYYY-MM-DD HH:MM:SS`` (local time)."""
        year, month, day, hour, minute, sec, frac, offset = m.groups()
        key = f"{year}{month}{day}{hour}{minute}{offset or ''}"
        base = self._cache.get(key)
        if base is None:
            try:
                if offset is None:
                    base = self._local_minute(int(year), int(month), int(day), int(hour), int(minute))
                else:
                    base = calendar.timegm((int(year), int(month), int(day), int(hour), int(minute), 0))
                    base -= _offset_seconds(offset)
                    # timegm does not validate: reject impossible dates like the local path does
                    datetime(int(year), int(month), int(day), int(hour), int(minute))
            except (ValueError, OverflowError):
                return None
            self._remember(key, base)
        if int(sec) > 60:
            return None
        return base + int(sec) + _fraction(frac)


def _iso_parts(line: str) -> tuple[str | None, float, int]:
    """(second+offset cache key, fraction, end of stamp) of "2026-11-26T17:29:09.818109+00:00 ", else None."""
    if line[10:11] != "T":
        return None, 0.0, 0
    sp = line.find(" ", 19, 50)
    if sp < 0:
        return None, 0.0, 0
    tail = line[19:sp]
    if tail.endswith(("Z", "z")):
        frac, offset = tail[:-1], "Z"
    elif len(tail) >= 6 and tail[-6] in "+-" and tail[-3] == ":":
        frac, offset = tail[:-6], tail[-6:]
    else:
        return None, 0.0, 0
    if not frac:
        return line[:19] + offset, 0.0, sp + 1
    digits = frac[1:]
    if frac[0] != "." or not digits.isdigit() or not digits.isascii() or len(digits) > 9:
        return None, 0.0, 0
    return line[:19] + offset, float(frac), sp + 1


def _fraction(text: str | None) -> float:
    return float(text) if text else 0.0


def _offset_seconds(offset: str) -> int:
    if offset in ("Z", "z"):
        return 0
    sign = -1 if offset[0] == "-" else 1
    digits = offset[1:].replace(":", "")
    return sign * (int(digits[:2]) * 3600 + int(digits[2:4]) * 60)
