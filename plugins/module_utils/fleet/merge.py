# Copyright: mail_bruteforce_guard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Merge the fleet's per-host reports into one record per address (``fleet_merge``, the shared bans), and the
account alerts, stale clients and shared addresses of every host. Controller side; stdlib only.

The offender merge is columnar and runs in C calls as far as it can (a million records in seconds: see
``_group``); records of any other shape (Ansible's tagged strings) take a checked slow path to the same
answer (tests/unit/plugins/test_filters.py pins both to a plain reference merge).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Iterator, Mapping
from itertools import chain, compress, repeat
from operator import add, eq, itemgetter, ne, not_
from typing import Any

from ..gcpause import paused_gc
from ..limits import MAX_TIME
from ..times import iso_seconds
from .reports import (
    MAX_COUNT,
    FleetInputError,
    HostEntry,
    bantime_seconds,
    epoch,
    host_entries,
    host_list,
    min_hosts_count,
    validate_all,
)

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
    """The checks of check_offender over whole columns, in C; returns every service and every username.

    Raises _BadInputError if any record would fail check_offender (the addresses are checked in _group).
    Lists are flattened (``list.extend``, no iterator per list) before their strings are checked: each pass
    then reads objects that do not depend on each other, which lets the CPU fetch many at once.
    """
    if not (
        _types_ok(failures, _INT)
        and min(failures, default=0) >= 0
        and max(failures, default=0) < MAX_COUNT
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
        plain.append(HostEntry(str(host), report, error))
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


def merge_entries(
    entries: list[HostEntry], min_hosts: int, where: str, plain: bool = False
) -> tuple[list, list[HostEntry]]:
    """(the sorted fleet offenders, the entries they came from: plain copies when the input needed them).

    The collector is paused: a million short-lived containers would trigger full collections for nothing,
    and they are freed before it runs again (or its first run would walk all of them).
    """
    with paused_gc():
        try:
            merged = _fold(entries, min_hosts)
        except (_BadInputError, KeyError, TypeError, AttributeError, ValueError):
            if plain:
                raise FleetInputError(f"{where}: malformed offender records in the reports") from None
            validate_all(entries, where)
            # valid but of subclassed types (e.g. Ansible's tagged values): merge plain copies
            return merge_entries(_plain_entries(entries), min_hosts, where, plain=True)
    return merged, entries


def share_until(entry: dict, bantime: int) -> str | None:
    """The later of the fleet's ban end and last_seen + bantime (ISO 8601 UTC), None when neither exists."""
    ends = [epoch(entry["ban_until"])]
    last = epoch(entry["last_seen"])
    if bantime and last is not None:
        ends.append(last + bantime)
    ends = [e for e in ends if e is not None]
    return iso_seconds(min(math.ceil(max(ends)), MAX_TIME)) if ends else None


def without_stale(entries: list, where: str) -> list:
    """The host entries less the failures each host counts as a stale client's (issue 19: a known user's old
    password retried from the address it logs in from), which its own policy never bans for.

    An address left with no other failure on a host, and not banned there, is not an attack that host saw:
    it neither counts toward ``min_hosts`` nor adds failures. Without this, a phone with an old password on
    one server that also mistyped once on a second one was banned on every server, the office NAT with it.
    Stale rows count failures since the client went stale, possibly more than the record still holds: what
    is left never goes below 0 (the doubt favours the user). Hosts without stale clients pass unchanged."""
    stale: dict[tuple[str, str], int] = {}
    for row in merge_stale(entries, where):
        key = (row["host"], row["ip"])
        stale[key] = stale.get(key, 0) + row["failures"]
    if not stale:
        return entries
    hosts = {host for host, _ip in stale}
    out = []
    for host, report, error in entries:
        if error is None and host in hosts:
            validate_all([(host, report, error)], where)
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
        out.append(HostEntry(host, report, error))
    return out


def fleet_merge(reports: Any, min_hosts: Any = 1, bantime: Any = None) -> list[dict[str, Any]]:
    """Merge ``{host: report}`` into one record per address seen on at least ``min_hosts`` hosts, for the
    shared bans: a host's stale-client failures (see ``without_stale``) are not counted.

    With ``bantime`` (seconds) each record also gets ``share_until``: when a shared ban should end.
    """
    where = "fleet_merge"
    seconds = bantime_seconds(bantime, where)
    least = min_hosts_count(min_hosts, where)
    merged, _entries = merge_entries(without_stale(host_entries(reports, where), where), least, where)
    if seconds is not None:
        for entry in merged:
            entry["share_until"] = share_until(entry, seconds)
    return merged


def merge_accounts(entries: list, where: str) -> list[dict[str, Any]]:
    """Per (username, alert): the hosts that raised it and the union of the addresses involved."""
    acc: dict[tuple, list] = {}
    for host, report, error in entries:
        if error is not None:
            continue
        accounts = report.get("accounts") or []
        if not isinstance(accounts, list):
            raise FleetInputError(f"{where}: the 'accounts' of host {host!r} must be a list")
        for alert in accounts:
            if (
                not isinstance(alert, Mapping)
                or not isinstance(alert.get("username"), str)
                or not isinstance(alert.get("alert"), str)
                or not isinstance(alert.get("ips", []), list)
            ):
                raise FleetInputError(f"{where}: host {host!r} has a malformed account alert: {alert!r}")
            if not all(isinstance(ip, str) for ip in alert.get("ips", [])):
                raise FleetInputError(
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


def merge_stale(entries: list, where: str) -> list[dict[str, Any]]:
    """Stale clients (a known user's old password retried from its own address), one row per host, username
    and address: not attacks, but the admin tells the user."""
    out = []
    for host, report, error in entries:
        if error is not None:
            continue
        for row in host_list(report, "stale_clients", host, where):
            user, ip, failures = row.get("username"), row.get("ip"), row.get("failures")
            if not isinstance(user, str) or not isinstance(ip, str) or not isinstance(failures, int):
                raise FleetInputError(f"{where}: host {host!r} has a malformed stale client: {row!r}")
            out.append({"host": host, "username": user, "ip": ip, "failures": failures,
                        "since": row.get("since"), "last_seen": row.get("last_seen"),
                        "shared": bool(row.get("shared")), "resolved": row.get("resolved")})  # fmt: skip
    out.sort(key=lambda r: (r["resolved"] is not None, -r["failures"], r["username"], r["ip"], r["host"]))
    return out


def merge_shared(entries: list, where: str) -> list[dict[str, Any]]:
    """Shared addresses (many users log in from them), with the hosts that see them so."""
    acc: dict[str, list] = {}
    for host, report, error in entries:
        if error is not None:
            continue
        for row in host_list(report, "shared_addresses", host, where):
            ip, users = row.get("ip"), row.get("users")
            if not isinstance(ip, str) or not isinstance(users, int):
                raise FleetInputError(f"{where}: host {host!r} has a malformed shared address: {row!r}")
            entry = acc.setdefault(ip, [set(), 0])
            entry[0].add(host)
            entry[1] = max(entry[1], users)
    out = [{"ip": ip, "hosts": sorted(hosts), "users": users} for ip, (hosts, users) in acc.items()]
    out.sort(key=lambda r: (-r["users"], r["ip"]))
    return out
