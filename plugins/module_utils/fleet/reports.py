# Copyright: mail_bruteforce_guard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet's input: per-host reports (``guard_info`` or ``scan --json`` results keyed by host) checked
field by field, with one clear error naming the host and the record. Controller side; stdlib only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from ..limits import MAX_DURATION, MAX_TIME
from ..times import parse_time

# Keys of an Ansible task result that mark a host without a usable report.
_FAILED_KEYS = ("failed", "unreachable", "skipped")
MAX_COUNT = 1 << 53  # failures a report may claim: exact in a float, so every sum and share stays finite


class FleetInputError(Exception):
    """A report no fleet merge can use; the message names the host and the record (the filters re-raise it as
    AnsibleFilterError)."""


class HostEntry(NamedTuple):
    """One host of the input: its report (None when it has none) or why it has none."""

    host: str
    report: Mapping | None
    error: str | None


def host_entries(reports: Any, where: str) -> list[HostEntry]:
    """(host, report, error) for each host; error is set for failed/unreachable/skipped task results."""
    if not isinstance(reports, Mapping):
        raise FleetInputError(
            f"{where}: expects a mapping of host name -> report, got {type(reports).__name__}"
        )
    entries = []
    for host, report in reports.items():
        if not isinstance(host, str) or not host:
            raise FleetInputError(f"{where}: host names must be non-empty strings, got {host!r}")
        if report is None or isinstance(report, str):  # no report: why, as text
            entries.append(HostEntry(host, None, report or "no report"))
            continue
        if isinstance(report, list):  # a bare offenders list
            report = {"offenders": report}  # noqa: PLW2901
        if not isinstance(report, Mapping):
            raise FleetInputError(
                f"{where}: the report of host {host!r} must be a mapping, got {type(report).__name__}"
            )
        failed = next((key for key in _FAILED_KEYS if report.get(key)), None)
        if failed:
            msg = report.get("msg") or failed
            entries.append(HostEntry(host, None, f"{failed}: {msg}" if msg != failed else failed))
            continue
        offenders = report.get("offenders")
        if not isinstance(offenders, list):
            raise FleetInputError(
                f"{where}: the report of host {host!r} has no 'offenders' list"
                " (expected guard_info or scan --json output)"
            )
        entries.append(HostEntry(host, report, None))
    return entries


def min_hosts_count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value), 10)
        except ValueError:
            raise FleetInputError(f"{where}: min_hosts must be an integer >= 1, got {value!r}") from None
    if value < 1:
        raise FleetInputError(f"{where}: min_hosts must be an integer >= 1, got {value!r}")
    return value


def bantime_seconds(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value), 10)
        except ValueError:
            raise FleetInputError(
                f"{where}: bantime must be a number of seconds >= 0, got {value!r}"
            ) from None
    if not 0 <= value <= MAX_DURATION:
        raise FleetInputError(
            f"{where}: bantime must be a number of seconds from 0 to {MAX_DURATION} (10 years), got {value!r}"
        )
    return value


def check_offender(host: str, index: int, off: Any, where: str) -> None:
    """Raise a clear FleetInputError for the first problem of one offender record."""
    at = f"{where}: host {host!r} offender #{index + 1}"
    if not isinstance(off, Mapping):
        raise FleetInputError(f"{at} must be a mapping, got {type(off).__name__}")
    ip = off.get("ip")
    if not isinstance(ip, str) or not ip:
        raise FleetInputError(f"{at} has no 'ip' string")
    failures = off.get("failures")
    if isinstance(failures, bool) or not isinstance(failures, int) or not 0 <= failures < MAX_COUNT:
        raise FleetInputError(f"{at} ({ip}): 'failures' must be an integer from 0 to 2**53, got {failures!r}")
    for key in ("services", "usernames"):
        value = off.get(key, [])
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            raise FleetInputError(f"{at} ({ip}): {key!r} must be a list of strings, got {value!r}")
    for key in ("first_seen", "last_seen", "ban_until"):
        value = off.get(key)
        if value is not None and not isinstance(value, str):
            raise FleetInputError(f"{at} ({ip}): {key!r} must be an ISO 8601 string or null, got {value!r}")


def validate_all(entries: list, where: str) -> None:
    """Slow path: check every record and raise the FleetInputError naming the first bad one."""
    for host, report, error in entries:
        if error is None:
            for index, off in enumerate(report["offenders"]):
                check_offender(host, index, off, where)


def host_list(report: Mapping, key: str, host: str, where: str) -> list:
    """A host report's list under ``key`` (absent: empty; reports from before that key had none)."""
    rows = report.get(key) or []
    if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
        raise FleetInputError(f"{where}: the {key!r} of host {host!r} must be a list of mappings")
    return rows


def epoch(value: Any) -> float | None:
    """ISO 8601 string (naive means UTC) or POSIX number -> POSIX seconds; None when absent, unreadable or
    outside 1970 to 9999 (no later computation can overflow)."""
    ts = parse_time(value)
    return ts if ts is not None and 0 <= ts <= MAX_TIME else None
