# Copyright: mail_bruteforce_guard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side fleet filters: merge per-host detector reports and render the fleet report.

``fleet_merge`` turns ``{host: report}`` (the results of ``guard_info`` or ``scan --json``) into one entry per
address; ``fleet_report`` renders the whole fleet (hosts, offenders, account alerts, attacks over time)
as JSON, CSV or Markdown. Documentation: fleet_merge.yml and fleet_report.yml next to this file.
"""

from __future__ import annotations

import csv
import gc
import io
import json
import math
import re
import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Iterator, Mapping
from itertools import chain, compress, repeat
from operator import add, eq, itemgetter, ne, not_
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.limits import (
    MAX_DURATION,
    MAX_TIME,
)
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.times import (
    iso_seconds,
    parse_time,
)

# Keys of an Ansible task result that mark a host without a usable report.
_FAILED_KEYS = ("failed", "unreachable", "skipped")
REPORT_FORMATS = ("json", "csv", "markdown")
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
_MAX_COUNT = 1 << 53  # failures a report may claim: exact in a float, so every sum and share stays finite
CSV_FIELDS = (
    "ip",
    "host_count",
    "hosts",
    "failures",
    "services",
    "usernames",
    "first_seen",
    "last_seen",
    "banned_on",
    "ban_until",
    "active_on",
)


# ---- input checking ---------------------------------------------------------------------------------


def _host_entries(reports: Any, where: str) -> list[tuple[str, Mapping | None, str | None]]:
    """(host, report, error) for each host; error is set for failed/unreachable/skipped task results."""
    if not isinstance(reports, Mapping):
        raise AnsibleFilterError(
            f"{where}: expects a mapping of host name -> report, got {type(reports).__name__}"
        )
    entries = []
    for host, report in reports.items():
        if not isinstance(host, str) or not host:
            raise AnsibleFilterError(f"{where}: host names must be non-empty strings, got {host!r}")
        if report is None or isinstance(report, str):  # no report: why, as text
            entries.append((host, None, report or "no report"))
            continue
        if isinstance(report, list):  # a bare offenders list
            report = {"offenders": report}  # noqa: PLW2901
        if not isinstance(report, Mapping):
            raise AnsibleFilterError(
                f"{where}: the report of host {host!r} must be a mapping, got {type(report).__name__}"
            )
        failed = next((key for key in _FAILED_KEYS if report.get(key)), None)
        if failed:
            msg = report.get("msg") or failed
            entries.append((host, None, f"{failed}: {msg}" if msg != failed else failed))
            continue
        offenders = report.get("offenders")
        if not isinstance(offenders, list):
            raise AnsibleFilterError(
                f"{where}: the report of host {host!r} has no 'offenders' list"
                " (expected guard_info or scan --json output)"
            )
        entries.append((host, report, None))
    return entries


def _min_hosts(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value), 10)
        except ValueError:
            raise AnsibleFilterError(f"{where}: min_hosts must be an integer >= 1, got {value!r}") from None
    if value < 1:
        raise AnsibleFilterError(f"{where}: min_hosts must be an integer >= 1, got {value!r}")
    return value


def _check_offender(host: str, index: int, off: Any, where: str) -> None:
    """Raise a clear AnsibleFilterError for the first problem of one offender record."""
    at = f"{where}: host {host!r} offender #{index + 1}"
    if not isinstance(off, Mapping):
        raise AnsibleFilterError(f"{at} must be a mapping, got {type(off).__name__}")
    ip = off.get("ip")
    if not isinstance(ip, str) or not ip:
        raise AnsibleFilterError(f"{at} has no 'ip' string")
    failures = off.get("failures")
    if isinstance(failures, bool) or not isinstance(failures, int) or not 0 <= failures < _MAX_COUNT:
        raise AnsibleFilterError(
            f"{at} ({ip}): 'failures' must be an integer from 0 to 2**53, got {failures!r}"
        )
    for key in ("services", "usernames"):
        value = off.get(key, [])
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            raise AnsibleFilterError(f"{at} ({ip}): {key!r} must be a list of strings, got {value!r}")
    for key in ("first_seen", "last_seen", "ban_until"):
        value = off.get(key)
        if value is not None and not isinstance(value, str):
            raise AnsibleFilterError(
                f"{at} ({ip}): {key!r} must be an ISO 8601 string or null, got {value!r}"
            )


# ---- merging ----------------------------------------------------------------------------------------


_get_ip = itemgetter("ip")
_get_rank = itemgetter("host_count", "failures")
# The keys of one record's values, read in a single C call (itemgetter with several keys). A record without
# one of them raises KeyError: such input takes the slow path (_plain_entries), which fills in defaults.
_KEYS = ("failures", "services", "usernames", "first_seen", "last_seen", "decision", "ban_until")
_get_values = itemgetter(*_KEYS)
# Each address's records are stored flat in one list, _STRIDE items per record: (host, *values).
_STRIDE = 1 + len(_KEYS)
# Each value's place in its record (the host is at 0), derived from _KEYS: reordering _KEYS moves them too.
_FAILURES = 1 + _KEYS.index("failures")
_SERVICES = 1 + _KEYS.index("services")
_USERNAMES = 1 + _KEYS.index("usernames")
_FIRST_SEEN = 1 + _KEYS.index("first_seen")
_LAST_SEEN = 1 + _KEYS.index("last_seen")
_DECISION = 1 + _KEYS.index("decision")
_BAN_UNTIL = 1 + _KEYS.index("ban_until")
# records whose leaving-out pass costs about what merging one address only to drop it costs (an estimate
# from timing the two phases of bench_merge.py apart; the rule only decides which way is cheaper)
_LEAVE_OUT_RATIO = 16
_STR = frozenset((str,))
_INT = frozenset((int,))
_LIST = frozenset((list,))
_TIME = frozenset((str, type(None)))


def _types_ok(column: Any, allowed: frozenset) -> bool:
    """Whole-column exact-type check in C; subclasses (Ansible's tagged values) fail it: slow path.

    A set of the (one or two) types seen is quicker than ``allowed.issuperset(map(...))`` per element.
    """
    return set(map(type, column)) <= allowed


def _drain(iterator: Any) -> None:
    """Run a lazy map() to its end in C (its calls are the work)."""
    deque(iterator, 0)


class _BadInputError(Exception):
    """A record failed a fast column check: rerun the per-record check to name it."""


def _validate_all(entries: list, where: str) -> None:
    """Slow path: check every record and raise the AnsibleFilterError naming the first bad one."""
    for host, report, error in entries:
        if error is None:
            for index, off in enumerate(report["offenders"]):
                _check_offender(host, index, off, where)


def _getters(offenders: list) -> tuple[Any, Any]:
    """(_get_ip, _get_values) for one report, holding the key objects of its first record when it has them.

    JSON decoding gives every record of a report the same key objects: a lookup with the very object the
    dict holds is an identity hit, one with an equal string compares the characters. Lookups by equal keys
    still work for records with other key objects (or none of these keys: KeyError, slow path).
    """
    first = offenders[0] if offenders else None
    # Exact types on purpose: a dict or str subclass may hash or compare differently.
    if type(first) is not dict:  # pylint: disable=unidiomatic-typecheck
        return _get_ip, _get_values
    same = {key: key for key in first if type(key) is str}  # pylint: disable=unidiomatic-typecheck
    return itemgetter(same.get("ip", "ip")), itemgetter(*[same.get(key, key) for key in _KEYS])


def _check_columns(failures: Any, service_lists: Any, user_lists: Any, times: Any) -> tuple[list, list]:
    """The checks of _check_offender over whole columns, in C; returns every service and every username.

    Raises _BadInputError if any record would fail _check_offender (the addresses are checked in _group).
    Lists are flattened (``list.extend``, no iterator per list) before their strings are checked: each pass
    then reads objects that do not depend on each other, which lets the CPU fetch many at once.
    """
    if not (
        _types_ok(failures, _INT)
        and min(failures, default=0) >= 0
        and max(failures, default=0) < _MAX_COUNT
        and _types_ok(chain(service_lists, user_lists), _LIST)
        and _types_ok(times, _TIME)
    ):
        raise _BadInputError
    every_service: list = []
    _drain(map(every_service.extend, service_lists))
    every_username: list = []
    _drain(map(every_username.extend, user_lists))
    if not _types_ok(chain(every_service, every_username), _STR):
        raise _BadInputError
    return every_service, every_username


def _check_records(offenders: list, get_values: Any) -> None:
    """Check records that are not grouped (their address is on too few hosts) as _merge_address would."""
    if offenders:
        failures, service_lists, user_lists, firsts, lasts, _decisions, untils = zip(
            *map(get_values, offenders)
        )
        _check_columns(failures, service_lists, user_lists, chain(firsts, lasts, untils))


def _host_columns(entries: list) -> Iterator[tuple[str, list, Any, list]]:
    """(host, offenders, get_values, addresses) of each reporting host, hosts in sorted order.

    The addresses are read here, once, and checked (non-empty plain strings).
    """
    for host, report, error in sorted(entries, key=itemgetter(0)):
        if error is None:
            offenders = report["offenders"]
            get_ip, get_values = _getters(offenders)
            ips = list(map(get_ip, offenders))
            if not (_types_ok(ips, _STR) and all(ips)):
                raise _BadInputError
            yield str(host), offenders, get_values, ips


def _group(entries: list, min_hosts: int = 1) -> dict:
    """Address -> its records as one flat list ``[host, *values, host, *values, ...]``, hosts in sorted order.

    With a million records the merge is bound by memory traffic more than by Python: the records and the
    strings and lists they hold do not fit in the CPU caches, so what counts is how often each is touched
    once it has left them. Here each record is read once, in the order JSON decoding laid it out, by C code
    only: ``get_values`` copies its seven values into one tuple, ``add`` puts the host in front (both tuples
    come from the free list and go back to it at once) and ``list.extend`` appends the eight items to its
    address's list. No object is kept per record: a kept tuple per record would be a million objects for
    the garbage collector's lists (unlinking each one writes to its neighbours, all over memory) and one
    more place to read per record in the merge. The values are checked per address in _merge_address,
    where they are read anyway.

    With min_hosts > 1 the addresses listed by fewer than min_hosts records (a C-level count over the
    addresses already read) are left out of the grouping, their records only checked: in a real fleet
    most addresses are seen by one host. When only a few would be, all are grouped and _merge_address drops
    them (the leaving-out pass over every record would cost more).
    """
    hosts: Iterable = _host_columns(entries)
    keep = None
    if min_hosts > 1:
        hosts = list(hosts)
        counts: Counter = Counter()
        for _host, _offenders, _get_values, ips in hosts:
            counts.update(ips)
        keep = frozenset(ip for ip, count in counts.items() if count >= min_hosts)
        # leaving records out costs a pass over every record; merging an address only to drop it costs
        # about as much as that pass over _LEAVE_OUT_RATIO records: filter only when it saves more
        if (len(counts) - len(keep)) * _LEAVE_OUT_RATIO < sum(counts.values()):
            keep = None
    rows: dict = defaultdict(list)
    grouped = rows.__getitem__
    for host, offenders, get_values, ips in hosts:
        if keep is not None:
            wanted = list(map(keep.__contains__, ips))
            _check_records(list(compress(offenders, map(not_, wanted))), get_values)
            offenders = list(compress(offenders, wanted))  # noqa: PLW2901
            ips = list(compress(ips, wanted))  # noqa: PLW2901
        records = map(add, repeat((host,)), map(get_values, offenders))
        _drain(map(list.extend, map(grouped, ips), records))
    return rows


def _merge_address(ip: str, rows: list, min_hosts: int) -> dict | None:
    """The fleet offender of one address (None when ignored on every host or below min_hosts).

    ``rows`` is the address's flat list from _group: each column is one slice of it (no per-record object
    to read or free). The address's ~50 records are read from all over memory: the slices touch each value
    once, the column checks come next (every record, before any is dropped as ignored or for min_hosts) and
    the folds that follow, each a C call over a column, find them in the cache.
    """
    owners = rows[0::_STRIDE]
    failures = rows[_FAILURES::_STRIDE]
    service_lists = rows[_SERVICES::_STRIDE]
    user_lists = rows[_USERNAMES::_STRIDE]
    firsts = rows[_FIRST_SEEN::_STRIDE]
    lasts = rows[_LAST_SEEN::_STRIDE]
    decisions = rows[_DECISION::_STRIDE]
    untils = rows[_BAN_UNTIL::_STRIDE]
    rows.clear()  # its items are all in the columns
    every_service, every_username = _check_columns(
        failures, service_lists, user_lists, chain(firsts, lasts, untils)
    )
    services = set(every_service)
    usernames = set(every_username)
    ignored_on: list = []
    if "ignored" in decisions:  # counted nowhere but in ignored_on
        counted = list(map(ne, decisions, repeat("ignored")))
        ignored_on = sorted(set(compress(owners, map(not_, counted))))
        owners, failures, firsts, lasts, decisions, untils = (
            list(compress(column, counted)) for column in (owners, failures, firsts, lasts, decisions, untils)
        )
        services = set(chain.from_iterable(compress(service_lists, counted)))
        usernames = set(chain.from_iterable(compress(user_lists, counted)))
    per_host = dict(zip(owners, failures))
    if len(per_host) != len(owners):  # the same address twice in one host's report: add up
        per_host = dict.fromkeys(owners, 0)
        for host, failed in zip(owners, failures):
            per_host[host] += failed
    if not per_host or len(per_host) < min_hosts:
        return None
    banned_on: list = []
    ban_until = None  # ISO 8601 times in one format compare as strings
    if "ban" in decisions:
        banned = list(map(eq, decisions, repeat("ban")))
        banned_on = list(dict.fromkeys(compress(owners, banned)))  # owners are in sorted order
        ban_until = max(filter(None, compress(untils, banned)), default=None)
    # sorted, and per_host in that order: _group reads the hosts in order
    hosts = owners if len(per_host) == len(owners) else list(per_host)
    total = sum(failures)
    return {
        "ip": ip,
        "hosts": hosts,
        "host_count": len(hosts),
        "failures": total,
        "per_host": per_host,
        "services": sorted(services),
        "usernames": sorted(usernames),
        "first_seen": min(filter(None, firsts), default=None),
        "last_seen": max(filter(None, lasts), default=None),
        "banned_on": banned_on,
        "ban_until": ban_until,
        "ignored_on": ignored_on,
        "summary": _summary(hosts, total),
    }


def _summary(hosts: list, failures: int) -> str:
    return f"seen on {', '.join(hosts)}: {failures} failure{'' if failures == 1 else 's'}"


def _plain_entries(entries: list) -> list:
    """Copies of already validated reports with plain built-in types only."""
    plain = []
    for host, report, error in entries:
        if error is None:
            offenders = [
                {
                    "ip": str(o["ip"]),
                    "failures": int(o["failures"]),
                    "services": [str(x) for x in o.get("services") or ()],
                    "usernames": [str(x) for x in o.get("usernames") or ()],
                    # (missing optional keys are filled in here)
                    "first_seen": None if o.get("first_seen") is None else str(o["first_seen"]),
                    "last_seen": None if o.get("last_seen") is None else str(o["last_seen"]),
                    "decision": None if o.get("decision") is None else str(o["decision"]),
                    "ban_until": None if o.get("ban_until") is None else str(o["ban_until"]),
                }
                for o in report["offenders"]
            ]
            report = {"offenders": offenders}  # noqa: PLW2901
        plain.append((str(host), report, error))
    return plain


def _fold(entries: list, min_hosts: int) -> list:
    """The sorted fleet offenders (each address's record tuples are freed as soon as it is merged)."""
    rows = _group(entries, min_hosts)
    results = map(_merge_address, rows, rows.values(), repeat(min_hosts))
    merged = list(filter(None, results))  # (entries are non-empty dicts)
    # by host count, then failures, both descending, then by address: two sorts with C-level keys (the
    # second keeps the order of the first among equal keys, reverse=True included)
    merged.sort(key=_get_ip)
    merged.sort(key=_get_rank, reverse=True)
    return merged


def _merge_entries(entries: list, min_hosts: int, where: str, plain: bool = False) -> tuple[list, list]:
    gc_was_on = gc.isenabled()
    # A million short-lived containers would trigger full collections for nothing; they are freed before
    # the collector is switched back on (or its first run would walk all of them).
    gc.disable()
    try:
        merged = _fold(entries, min_hosts)
    except (_BadInputError, KeyError, TypeError, AttributeError, ValueError):
        if plain:
            raise AnsibleFilterError(f"{where}: malformed offender records in the reports") from None
        _validate_all(entries, where)
        # valid but of subclassed types (e.g. Ansible's tagged values): merge plain copies
        return _merge_entries(_plain_entries(entries), min_hosts, where, plain=True)
    finally:
        if gc_was_on:
            gc.enable()
    return merged, entries


def _bantime(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value), 10)
        except ValueError:
            raise AnsibleFilterError(
                f"{where}: bantime must be a number of seconds >= 0, got {value!r}"
            ) from None
    if not 0 <= value <= MAX_DURATION:
        raise AnsibleFilterError(
            f"{where}: bantime must be a number of seconds from 0 to {MAX_DURATION} (10 years), got {value!r}"
        )
    return value


def _share_until(entry: dict, bantime: int) -> str | None:
    """The later of the fleet's ban end and last_seen + bantime (ISO 8601 UTC), None when neither exists."""
    ends = [_epoch(entry["ban_until"])]
    last = _epoch(entry["last_seen"])
    if bantime and last is not None:
        ends.append(last + bantime)
    ends = [e for e in ends if e is not None]
    return iso_seconds(min(math.ceil(max(ends)), MAX_TIME)) if ends else None


def _without_stale(entries: list, where: str) -> list:
    """The host entries less the failures each host counts as a stale client's (issue 19: a known user's old
    password retried from the address it logs in from), which its own policy never bans for.

    An address left with no other failure on a host, and not banned there, is not an attack that host saw:
    it neither counts toward ``min_hosts`` nor adds failures. Without this, a phone with an old password on
    one server that also mistyped once on a second one was banned on every server, the office NAT with it.
    Stale rows count failures since the client went stale, possibly more than the record still holds: what
    is left never goes below 0 (the doubt favours the user). Hosts without stale clients pass unchanged."""
    stale: dict[tuple[str, str], int] = {}
    for row in _merge_stale(entries, where):
        key = (row["host"], row["ip"])
        stale[key] = stale.get(key, 0) + row["failures"]
    if not stale:
        return entries
    hosts = {host for host, _ip in stale}
    out = []
    for host, report, error in entries:
        if error is None and host in hosts:
            _validate_all([(host, report, error)], where)
            offenders = []
            for off in report["offenders"]:
                minus = stale.get((host, off["ip"]))
                if minus:
                    left = off["failures"] - minus
                    if left <= 0 and off.get("decision") != "ban":
                        continue  # only stale failures here: not an attack on this host
                    off = {**off, "failures": max(left, 0)}  # noqa: PLW2901
                offenders.append(off)
            report = {**report, "offenders": offenders}  # noqa: PLW2901
        out.append((host, report, error))
    return out


def fleet_merge(reports: Any, min_hosts: Any = 1, bantime: Any = None) -> list[dict[str, Any]]:
    """Merge ``{host: report}`` into one record per address seen on at least ``min_hosts`` hosts, for the
    shared bans: a host's stale-client failures (see ``_without_stale``) are not counted.

    With ``bantime`` (seconds) each record also gets ``share_until``: when a shared ban should end.
    """
    where = "fleet_merge"
    seconds = _bantime(bantime, where)
    least = _min_hosts(min_hosts, where)
    merged, _entries = _merge_entries(_without_stale(_host_entries(reports, where), where), least, where)
    if seconds is not None:
        for entry in merged:
            entry["share_until"] = _share_until(entry, seconds)
    return merged


def _merge_accounts(entries: list, where: str) -> list[dict[str, Any]]:
    """Per (username, alert): the hosts that raised it and the union of the addresses involved."""
    acc: dict[tuple, list] = {}
    for host, report, error in entries:
        if error is not None:
            continue
        accounts = report.get("accounts") or []
        if not isinstance(accounts, list):
            raise AnsibleFilterError(f"{where}: the 'accounts' of host {host!r} must be a list")
        for alert in accounts:
            if (
                not isinstance(alert, Mapping)
                or not isinstance(alert.get("username"), str)
                or not isinstance(alert.get("alert"), str)
                or not isinstance(alert.get("ips", []), list)
            ):
                raise AnsibleFilterError(f"{where}: host {host!r} has a malformed account alert: {alert!r}")
            if not all(isinstance(ip, str) for ip in alert.get("ips", [])):
                raise AnsibleFilterError(
                    f"{where}: host {host!r} has an account alert whose 'ips' are not strings"
                )
            entry = acc.setdefault((alert["username"], alert["alert"]), [set(), set()])
            entry[0].add(host)
            entry[1].update(alert.get("ips", []))
    rank = {"compromised": 0, "targeted": 1}
    out = [
        {"username": user, "alert": kind, "hosts": sorted(hosts), "ips": sorted(ips)}
        for (user, kind), (hosts, ips) in acc.items()
    ]
    out.sort(key=lambda a: (rank.get(a["alert"], 2), -len(a["hosts"]), a["username"]))
    return out


def _host_list(report: Mapping, key: str, host: str, where: str) -> list:
    """A host report's list under ``key`` (absent: empty; reports from before that key had none)."""
    rows = report.get(key) or []
    if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
        raise AnsibleFilterError(f"{where}: the {key!r} of host {host!r} must be a list of mappings")
    return rows


def _merge_stale(entries: list, where: str) -> list[dict[str, Any]]:
    """Stale clients (a known user's old password retried from its own address), one row per host, username
    and address: not attacks, but the admin tells the user."""
    out = []
    for host, report, error in entries:
        if error is not None:
            continue
        for row in _host_list(report, "stale_clients", host, where):
            user, ip, failures = row.get("username"), row.get("ip"), row.get("failures")
            if not isinstance(user, str) or not isinstance(ip, str) or not isinstance(failures, int):
                raise AnsibleFilterError(f"{where}: host {host!r} has a malformed stale client: {row!r}")
            out.append({"host": host, "username": user, "ip": ip, "failures": failures,
                        "since": row.get("since"), "last_seen": row.get("last_seen"),
                        "shared": bool(row.get("shared")), "resolved": row.get("resolved")})  # fmt: skip
    out.sort(key=lambda r: (r["resolved"] is not None, -r["failures"], r["username"], r["ip"], r["host"]))
    return out


def _merge_shared(entries: list, where: str) -> list[dict[str, Any]]:
    """Shared addresses (many users log in from them), with the hosts that see them so."""
    acc: dict[str, list] = {}
    for host, report, error in entries:
        if error is not None:
            continue
        for row in _host_list(report, "shared_addresses", host, where):
            ip, users = row.get("ip"), row.get("users")
            if not isinstance(ip, str) or not isinstance(users, int):
                raise AnsibleFilterError(f"{where}: host {host!r} has a malformed shared address: {row!r}")
            entry = acc.setdefault(ip, [set(), 0])
            entry[0].add(host)
            entry[1] = max(entry[1], users)
    out = [{"ip": ip, "hosts": sorted(hosts), "users": users} for ip, (hosts, users) in acc.items()]
    out.sort(key=lambda r: (-r["users"], r["ip"]))
    return out


# ---- time -------------------------------------------------------------------------------------------


def _epoch(value: Any) -> float | None:
    """ISO 8601 string (naive means UTC) or POSIX number -> POSIX seconds; None when absent, unreadable or
    outside 1970 to 9999 (no later computation can overflow)."""
    ts = parse_time(value)
    return ts if ts is not None and 0 <= ts <= MAX_TIME else None


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
            ts, count = _epoch(item[0]), item[1]
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
        first, last = _epoch(off.get("first_seen")), _epoch(off.get("last_seen"))
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
                when = _epoch(off.get("last_seen"))
                if when is not None:
                    marks.append((when, off["ip"], host))
    return sorted(marks)


def _nice_axis(peak: float) -> dict[str, Any]:
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


def _timeline(entries: list) -> dict[str, Any]:
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
            "axis": _nice_axis(1),
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
        "axis": _nice_axis(max(b["failures"] for b in buckets)),
    }


# ---- the fleet document -----------------------------------------------------------------------------


def _count(value: Any) -> int:
    return len(value) if isinstance(value, list) else 0


def _host_rows(entries: list) -> list[dict[str, Any]]:
    rows = []
    for host, report, error in entries:
        if error is not None:
            rows.append({"host": host, "status": error})
            continue
        offenders = report["offenders"]
        decisions = [o.get("decision") for o in offenders if isinstance(o, Mapping)]
        stats = report.get("stats")
        rows.append(
            {
                "host": host,
                "status": "ok",
                "mode": report.get("mode"),
                "offenders": sum(1 for d in decisions if d != "ignored"),
                "ban_decisions": decisions.count("ban"),
                "watch": decisions.count("watch"),
                "ignored": decisions.count("ignored"),
                "active_bans": _count(report.get("bans")),
                "failures": sum(
                    o["failures"]
                    for o in offenders
                    if isinstance(o, Mapping)
                    and isinstance(o.get("failures"), int)
                    and o.get("decision") != "ignored"
                ),
                "alerts": _count(report.get("accounts")),
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
    min_hosts = _min_hosts(min_hosts, where)
    entries = _usable(_host_entries(reports, where), where)
    try:
        merged, _plain = _merge_entries(entries, min_hosts, where)
    except AnsibleFilterError:  # a malformed offender record: skip its host's report, name it, go on
        entries = _usable(entries, where, offenders=True)
        merged, _plain = _merge_entries(entries, min_hosts, where)
    if generated is None:
        generated = iso_seconds(time.time())
    elif not isinstance(generated, str):
        raise AnsibleFilterError(f"{where}: generated must be a string (an ISO 8601 time), got {generated!r}")
    hosts = _host_rows(entries)
    accounts = _merge_accounts(entries, where)
    stale = _merge_stale(entries, where)
    shared = _merge_shared(entries, where)
    _add_active_bans(merged, entries)
    ok_hosts = [h for h in hosts if h["status"] == "ok"]
    return {
        "generated": generated,
        "min_hosts": _min_hosts(min_hosts, where),
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
        "timeline": _timeline(entries),
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
                        _check_offender(host, index, off, where)
            except AnsibleFilterError as err:
                usable.append((host, None, f"skipped: {err}"))
                continue
        usable.append((host, report, error))
    return usable


def _check_extras(host: str, report: Mapping, where: str) -> None:
    """AnsibleFilterError naming the first timeline point or account alert of a report that no fleet
    report can use (an unreadable time or one outside 1970-9999, a count that is no finite number)."""
    timeline = report.get("timeline")
    items = list(timeline.items()) if isinstance(timeline, Mapping) else timeline
    for item in items if isinstance(items, list) else ():
        if isinstance(item, Mapping):
            item = (item.get("time", item.get("start")), item.get("failures"))  # noqa: PLW2901
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise AnsibleFilterError(f"{where}: host {host!r} has a malformed timeline entry {item!r}")
        count = item[1]
        if _epoch(item[0]) is None:
            raise AnsibleFilterError(
                f"{where}: host {host!r} timeline time {item[0]!r} is not an ISO 8601 time from 1970 to 9999"
            )
        if isinstance(count, bool) or not isinstance(count, (int, float)) or not 0 <= count < _MAX_COUNT:
            raise AnsibleFilterError(
                f"{where}: host {host!r} timeline count at {item[0]!r} must be a number from 0 to 2**53,"
                f" got {count!r}"
            )
    _merge_accounts([(host, report, None)], where)


# ---- rendering --------------------------------------------------------------------------------------


# a formula start at the start of a cell or after any character a spreadsheet may split a line on
# (",", ";", tab, "|", space; a line break too) when it ignores the CSV quoting
_FORMULA_START = re.compile(r"(?:^|(?<=[,;\t| \r\n]))(?=[=+\-@\t\r])")


def _csv_cell(value: Any) -> str:
    """Text for one CSV cell; lists joined by spaces; formula-looking text (=, +, -, @, tab, CR) neutralised
    with a "'" wherever a spreadsheet could start a cell (every cell is quoted too)."""
    if value is None:
        return ""
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    return _FORMULA_START.sub("'", str(value))


def _render_csv(doc: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(CSV_FIELDS)
    for off in doc["offenders"]:
        writer.writerow([_csv_cell(off[field]) for field in CSV_FIELDS])
    return out.getvalue()


def _md(value: Any) -> str:
    """Markdown table cell text: attacker-chosen strings are escaped, never interpreted."""
    if value is None:
        return "-"
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value) if value else "-"
    text = " ".join(str(value).split())
    for char in ("\\", "`", "*", "_", "[", "]", "<", ">", "|", "#", "!"):
        text = text.replace(char, "\\" + char)
    return text or "-"


def _md_list(values: list, limit: int = 10) -> str:
    shown = values[:limit]
    more = f" (+{len(values) - limit} more)" if len(values) > limit else ""
    return _md(shown) + more


def _render_markdown(doc: dict) -> str:
    s = doc["summary"]
    lines = [
        "# Mail brute-force guard: fleet report",
        "",
        f"Generated {_md(doc['generated'])}.",
        "",
        f"- Hosts: {s['hosts']} ({s['hosts_ok']} reporting, {s['hosts_failed']} failed)",
        f"- Offending addresses: {s['offenders']} (seen on at least {doc['min_hosts']} host(s)),"
        f" {s['multi_host']} on 2 or more hosts, {s['failures']} failures",
        f"- Addresses with a ban decision: {s['banned']}; active bans on the hosts: {s['active_bans']}",
        f"- Account alerts: {s['alerts']} ({s['compromised']} compromised)",
        f"- Stale clients (old passwords, not banned): {s['stale_clients']} open;"
        f" shared addresses: {s['shared_addresses']}",
        "",
        "## Hosts",
        "",
        "| Host | Status | Mode | Offenders | Ban | Watch | Active bans | Failures | Alerts |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for h in doc["hosts"]:
        if h["status"] != "ok":
            lines.append(f"| {_md(h['host'])} | {_md(h['status'])} | - | - | - | - | - | - | - |")
            continue
        lines.append(
            f"| {_md(h['host'])} | ok | {_md(h['mode'])} | {h['offenders']} | {h['ban_decisions']}"
            f" | {h['watch']}"
            f" | {h['active_bans']} | {h['failures']} | {h['alerts']} |"
        )
    lines += [
        "",
        "## Offenders",
        "",
        "| Address | Hosts | Failures | Services | Usernames | First seen | Last seen | Ban decided on"
        " | Banned now on |",
        "|---|---|---:|---|---|---|---|---|---|",
    ]
    for o in doc["offenders"]:
        lines.append(
            f"| {_md(o['ip'])} | {_md(o['hosts'])} | {o['failures']} | {_md(o['services'])}"
            f" | {_md_list(o['usernames'])} | {_md(o['first_seen'])} | {_md(o['last_seen'])}"
            f" | {_md(o['banned_on'])} | {_md(o['active_on'])} |"
        )
    if not doc["offenders"]:
        lines.append("| - | - | 0 | - | - | - | - | - | - |")
    lines += ["", "## Account alerts", ""]
    if doc["accounts"]:
        lines += ["| Username | Alert | Hosts | Addresses |", "|---|---|---|---|"]
        lines += [
            f"| {_md(a['username'])} | {_md(a['alert'])} | {_md(a['hosts'])} | {_md_list(a['ips'])} |"
            for a in doc["accounts"]
        ]
    else:
        lines.append("None.")
    lines += ["", "## Stale clients", ""]
    if doc["stale_clients"]:
        lines += ["| Username | Address | Host | Failures | Since | Last seen | Shared | Resolved |",
                  "|---|---|---|---:|---|---|---|---|"]  # fmt: skip
        lines += [
            f"| {_md(r['username'])} | {_md(r['ip'])} | {_md(r['host'])} | {r['failures']}"
            f" | {_md(r['since'])} | {_md(r['last_seen'])} | {'yes' if r['shared'] else 'no'}"
            f" | {_md(r['resolved'])} |"
            for r in doc["stale_clients"]
        ]
    else:
        lines.append("None.")
    if doc["shared_addresses"]:
        lines += ["", "## Shared addresses", "", "| Address | Users | Hosts |", "|---|---:|---|"]
        lines += [f"| {_md(r['ip'])} | {r['users']} | {_md(r['hosts'])} |" for r in doc["shared_addresses"]]
    return "\n".join(lines) + "\n"


def fleet_report(reports: Any, format: str = "json", min_hosts: Any = 1, generated: Any = None) -> str:
    """Render the fleet report of ``{host: report}`` as ``json``, ``csv`` or ``markdown`` text."""
    if format not in REPORT_FORMATS:
        raise AnsibleFilterError(
            f"fleet_report: format must be one of {', '.join(REPORT_FORMATS)}, got {format!r}"
        )
    doc = fleet_document(reports, min_hosts=min_hosts, generated=generated)
    if format == "json":
        return json.dumps(doc, indent=2, sort_keys=False) + "\n"
    if format == "csv":
        return _render_csv(doc)
    return _render_markdown(doc)


class FilterModule:
    """Fleet filters of mailsec.mail_bruteforce_guard."""

    def filters(self) -> dict[str, Any]:
        return {"fleet_merge": fleet_merge, "fleet_report": fleet_report}
