# Copyright: mail_bruteforce_guard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet's attacks over time: failures per bucket (a width picked from the span), an integer y axis and
the ban decisions as marks. Controller side; stdlib only."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..times import iso_seconds
from .reports import epoch

# Bucket widths tried for the attacks-over-time series, smallest first; the first giving <= MAX_BUCKETS wins
# (minutes for an attack of minutes, hours for days). The detectors count per hour: finer widths come from the
# offenders' first/last seen, used when the measured counts span at most SHORT_SPAN.
BUCKET_WIDTHS = (
    60,
    5 * 60,
    10 * 60,
    15 * 60,
    30 * 60,
    3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86400,
    7 * 86400,
    30 * 86400,
)
BUCKET_NAMES = {60: "minute", 3600: "hour", 86400: "day"}
MAX_BUCKETS = 72
MIN_BUCKETS = 12  # a short attack is drawn among quiet buckets, never as one bar filling the chart
SHORT_SPAN = 2 * 3600  # measured (hourly) counts spanning at most this are too coarse: use minutes


def _host_series(report: Mapping) -> tuple[list, bool]:
    """[(epoch, failures)] for one host and whether they are measured (True) or estimated (False).

    Measured: the report's ``timeline`` (mapping or list of [time, failures]) of failures per period.
    Estimated: each offender's failures spread evenly over its first..last seen span (marked with a
    negative-free (start, end, failures) triple, spread later once the bucket width is known).
    """
    timeline = report.get("timeline")
    if isinstance(timeline, Mapping):
        timeline = list(timeline.items())
    if isinstance(timeline, list) and timeline:
        points = []
        for item in timeline:
            if isinstance(item, Mapping):
                item = (item.get("time", item.get("start")), item.get("failures"))  # noqa: PLW2901
            if not isinstance(item, (list, tuple)) or len(item) != 2:
                continue
            ts, count = epoch(item[0]), item[1]
            if (
                ts is not None
                and isinstance(count, (int, float))
                and not isinstance(count, bool)
                and count > 0
            ):
                points.append((ts, ts, count))
        if points:
            return points, True
    return _offender_spans(report), False


def _offender_spans(report: Mapping) -> list:
    """(first, last, failures) per non-ignored offender with times: the estimate's raw material."""
    spans = []
    for off in report.get("offenders", []):
        if not isinstance(off, Mapping) or off.get("decision") == "ignored":
            continue
        first, last = epoch(off.get("first_seen")), epoch(off.get("last_seen"))
        count = off.get("failures")
        if first is None or not isinstance(count, int) or isinstance(count, bool) or count <= 0:
            continue
        spans.append((first, first if last is None or last < first else last, count))
    return spans


def _ban_marks(entries: list) -> list:
    """(time, ip, host) of each ban decision, at the offender's last failure (when the ban was decided)."""
    marks = []
    for host, report, error in entries:
        if error is not None:
            continue
        for off in report.get("offenders", []):
            if isinstance(off, Mapping) and off.get("decision") == "ban" and isinstance(off.get("ip"), str):
                when = epoch(off.get("last_seen"))
                if when is not None:
                    marks.append((when, off["ip"], host))
    return sorted(marks)


def nice_axis(peak: float) -> dict[str, Any]:
    """Integer y axis: the smallest 1/2/5 x 10^k step that reaches ``peak`` in at most 4 steps."""
    peak = max(1, math.ceil(peak))
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            if math.ceil(peak / step) <= 4:
                top = math.ceil(peak / step) * step
                return {"max": top, "ticks": list(range(0, top + 1, step))}
        magnitude *= 10


def _width_name(width: int) -> str:
    for unit in (86400, 3600, 60):
        if width % unit == 0:
            n = width // unit
            return BUCKET_NAMES[unit] if n == 1 else f"{n} {BUCKET_NAMES[unit]}s"
    return f"{width} s"


def _whole(counts: list) -> list:
    """Whole numbers with the same (rounded) total: spread estimates of a few failures over many minutes must
    not round away (largest remainders get the units left)."""
    floors = [math.floor(c) for c in counts]
    left = round(sum(counts)) - sum(floors)
    for i in sorted(range(len(counts)), key=lambda i: floors[i] - counts[i])[: max(0, left)]:
        floors[i] += 1
    return floors


def timeline(entries: list) -> dict[str, Any]:
    """Failures per time bucket over the whole fleet, in MIN_BUCKETS to MAX_BUCKETS buckets of a width picked
    from the span, an integer y axis, and the ban decisions as marks (position 0..1 along the time axis)."""
    series = []
    measured_all = True
    estimate = []
    for _host, report, error in entries:
        if error is not None:
            continue
        spans, measured = _host_series(report)
        if spans:
            series.append(spans)
            measured_all = measured_all and measured
        estimate += _offender_spans(report)
    spans = [span for host_spans in series for span in host_spans]
    if not spans:
        return {
            "bucket_seconds": 3600,
            "bucket_name": "hour",
            "source": "none",
            "buckets": [],
            "bans": [],
            "axis": nice_axis(1),
        }
    widths = BUCKET_WIDTHS
    source = "measured" if measured_all else "estimated from first/last seen"
    if measured_all:
        start, end = min(s[0] for s in spans), max(s[1] for s in spans)
        if end - start <= SHORT_SPAN and estimate:  # hourly counts would draw a few full-width bars
            spans, source = (
                estimate,
                "estimated from first/last seen (per-hour counts too coarse for this span)",
            )
        else:
            widths = tuple(w for w in BUCKET_WIDTHS if w >= 3600)
    start = min(s[0] for s in spans)
    end = max(s[1] for s in spans)
    # beyond the widest named width (a timeline over decades): whole days, as few as keep <= MAX_BUCKETS
    widest = math.ceil((end - start) / (MAX_BUCKETS - 1) / 86400) * 86400
    width = next(
        (w for w in widths if (end // w) - (start // w) + 1 <= MAX_BUCKETS),
        max(widest, BUCKET_WIDTHS[-1]),
    )
    first_bucket = int(start // width)
    n = int(end // width) - first_bucket + 1
    before = max(0, MIN_BUCKETS - n) // 2
    first_bucket -= min(before, first_bucket)
    counts = [0.0] * max(n + before, MIN_BUCKETS)
    for lo, hi, count in spans:
        b0, b1 = int(lo // width) - first_bucket, int(hi // width) - first_bucket
        share = count / (b1 - b0 + 1)
        for b in range(b0, b1 + 1):
            counts[b] += share
    buckets = [
        {"start": iso_seconds((first_bucket + i) * width), "failures": c}
        for i, c in enumerate(_whole(counts))
    ]
    origin, total = first_bucket * width, len(counts) * width
    bans = [
        {"time": iso_seconds(t), "ip": ip, "host": host, "position": round((t - origin) / total, 4)}
        for t, ip, host in _ban_marks(entries)
        if origin <= t < origin + total
    ]
    return {
        "bucket_seconds": width,
        "bucket_name": _width_name(width),
        "source": source,
        "buckets": buckets,
        "bans": bans,
        "axis": nice_axis(max(b["failures"] for b in buckets)),
    }
