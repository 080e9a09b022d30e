"""Counts of one host's report (``scan --json``, ``report --json``, the guard_info module): the
``summary`` guard_info returns and each host's row of the fleet report. Stdlib only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _count(value: Any) -> int:
    return len(value) if isinstance(value, list) else 0


def host_counts(report: Mapping) -> dict[str, int]:
    """``{"offenders", "ban", "watch", "ignored", "active_bans", "alerts"}`` of one host's report:
    offenders (all, ``ignored`` included) and how many of them each decision holds, the bans the host
    holds now and its account alerts. Entries that are not mappings (a damaged report) are not counted."""
    offenders = report.get("offenders")
    if not isinstance(offenders, list):
        offenders = []
    decisions = [o.get("decision") for o in offenders if isinstance(o, Mapping)]
    return {
        "offenders": len(decisions),
        "ban": decisions.count("ban"),
        "watch": decisions.count("watch"),
        "ignored": decisions.count("ignored"),
        "active_bans": _count(report.get("bans")),
        "alerts": _count(report.get("accounts")),
    }
