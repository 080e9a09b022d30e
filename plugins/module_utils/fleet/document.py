# Copyright: mail_bruteforce_guard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report as one JSON-ready mapping (``fleet_document``): hosts, offenders, account alerts, stale
clients, shared addresses and the timeline; the filter renders it as JSON, CSV or Markdown. Controller
side."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ..summary import host_counts
from ..times import iso_seconds
from .merge import merge_accounts, merge_entries, merge_shared, merge_stale
from .reports import (
    MAX_COUNT,
    FleetInputError,
    HostEntry,
    check_offender,
    epoch,
    host_entries,
    min_hosts_count,
)
from .timeline import timeline


def _host_rows(entries: list) -> list[dict[str, Any]]:
    rows = []
    for host, report, error in entries:
        if error is not None:
            rows.append({"host": host, "status": error})
            continue
        offenders = report["offenders"]
        counts = host_counts(report)
        stats = report.get("stats")
        rows.append(
            {
                "host": host,
                "status": "ok",
                "mode": report.get("mode"),
                "offenders": counts["offenders"] - counts["ignored"],
                "ban_decisions": counts["ban"],
                "watch": counts["watch"],
                "ignored": counts["ignored"],
                "active_bans": counts["active_bans"],
                "failures": sum(
                    o["failures"]
                    for o in offenders
                    if isinstance(o, Mapping)
                    and isinstance(o.get("failures"), int)
                    and o.get("decision") != "ignored"
                ),
                "alerts": counts["alerts"],
                "stats": dict(stats) if isinstance(stats, Mapping) else {},
            }
        )
    rows.sort(key=lambda r: r["host"])
    return rows


def _add_active_bans(merged: list, entries: list) -> None:
    """Give each fleet offender ``active_on`` (hosts whose detector holds a ban on it now, from the reports'
    ``bans``, as guard_info returns them) and ``active_until`` (the latest end of those bans)."""
    active: dict = {}
    for host, report, error in entries:
        if error is not None or not isinstance(report.get("bans"), list):
            continue
        for ban in report["bans"]:
            if isinstance(ban, Mapping) and isinstance(ban.get("address"), str):
                until = ban.get("until")
                active.setdefault(ban["address"], {})[host] = until if isinstance(until, str) else None
    for offender in merged:
        holders = active.get(offender["ip"], {})
        offender["active_on"] = sorted(holders)
        offender["active_until"] = max(filter(None, holders.values()), default=None)


def fleet_document(
    reports: Any, min_hosts: Any = 1, generated: Any = None, where: str = "fleet_report"
) -> dict:
    """The fleet report as a JSON-ready mapping (what ``fleet_report(format='json')`` serialises)."""
    min_hosts = min_hosts_count(min_hosts, where)
    entries = _usable(host_entries(reports, where), where)
    try:
        merged, _plain = merge_entries(entries, min_hosts, where)
    except FleetInputError:  # a malformed offender record: skip its host's report, name it, go on
        entries = _usable(entries, where, offenders=True)
        merged, _plain = merge_entries(entries, min_hosts, where)
    if generated is None:
        generated = iso_seconds(time.time())
    elif not isinstance(generated, str):
        raise FleetInputError(f"{where}: generated must be a string (an ISO 8601 time), got {generated!r}")
    hosts = _host_rows(entries)
    accounts = merge_accounts(entries, where)
    stale = merge_stale(entries, where)
    shared = merge_shared(entries, where)
    _add_active_bans(merged, entries)
    ok_hosts = [h for h in hosts if h["status"] == "ok"]
    return {
        "generated": generated,
        "min_hosts": min_hosts_count(min_hosts, where),
        "summary": {
            "hosts": len(hosts),
            "hosts_ok": len(ok_hosts),
            "hosts_failed": len(hosts) - len(ok_hosts),
            "offenders": len(merged),
            "multi_host": sum(1 for o in merged if o["host_count"] >= 2),
            "banned": sum(1 for o in merged if o["banned_on"]),
            "failures": sum(o["failures"] for o in merged),
            "alerts": len(accounts),
            "compromised": sum(1 for a in accounts if a["alert"] == "compromised"),
            "active_bans": sum(h["active_bans"] for h in ok_hosts),
            "stale_clients": sum(1 for r in stale if r["resolved"] is None),
            "shared_addresses": len(shared),
        },
        "hosts": hosts,
        "offenders": merged,
        "accounts": accounts,
        "stale_clients": stale,
        "shared_addresses": shared,
        "timeline": timeline(entries),
    }


def _usable(entries: list, where: str, offenders: bool = False) -> list:
    """The host entries with each malformed report turned into a failed host (``skipped: <why>``), so one
    bad host is named in the report instead of stopping it. Checks a report's timeline and account alerts
    (and, with ``offenders``, every offender record: the merge checks those in bulk first)."""
    usable = []
    for host, report, error in entries:
        if error is None:
            try:
                _check_extras(host, report, where)
                if offenders:
                    for index, off in enumerate(report["offenders"]):
                        check_offender(host, index, off, where)
            except FleetInputError as err:
                usable.append(HostEntry(host, None, f"skipped: {err}"))
                continue
        usable.append(HostEntry(host, report, error))
    return usable


def _check_extras(host: str, report: Mapping, where: str) -> None:
    """FleetInputError naming the first timeline point or account alert of a report that no fleet
    report can use (an unreadable time or one outside 1970-9999, a count that is no finite number)."""
    timeline = report.get("timeline")
    items = list(timeline.items()) if isinstance(timeline, Mapping) else timeline
    for item in items if isinstance(items, list) else ():
        if isinstance(item, Mapping):
            item = (item.get("time", item.get("start")), item.get("failures"))  # noqa: PLW2901
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise FleetInputError(f"{where}: host {host!r} has a malformed timeline entry {item!r}")
        count = item[1]
        if epoch(item[0]) is None:
            raise FleetInputError(
                f"{where}: host {host!r} timeline time {item[0]!r} is not an ISO 8601 time from 1970 to 9999"
            )
        if isinstance(count, bool) or not isinstance(count, (int, float)) or not 0 <= count < MAX_COUNT:
            raise FleetInputError(
                f"{where}: host {host!r} timeline count at {item[0]!r} must be a number from 0 to 2**53,"
                f" got {count!r}"
            )
    merge_accounts([(host, report, None)], where)
