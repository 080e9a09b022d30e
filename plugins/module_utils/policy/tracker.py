"""Tracker: per-address failure windows, ban escalation and per-account alerts, in bounded memory.

Events are fed in log order and judged at their own timestamps, so a replay of an old log decides
exactly as a live run would have. ``decide(now)`` reports; ``now`` only matters for pruning.

Time may go backwards (a clock step, DST end in local-time stamps, interleaved files: issue 14). The windows
follow the order events arrive in: an event's window holds the failures that arrived before it with times
within the window before its own, and up to ``LATE`` seconds after it (lines of one attempt, released late by
the correlator), never those far "ahead" of it. After a step back the new failures are windowed among
themselves and an attacker is banned at once, whatever was counted before the step.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable
from itertools import islice
from typing import Any, NamedTuple

from ..addresses import aggregate, is_canonical_ipv4, is_ignored, parse_networks
from ..errors import ConfigError
from ..limits import MAX_TIME
from ..parser.correlate import LATE
from ..parser.events import AUTH_DETAIL, AUTH_FAILURE, AUTH_SUCCESS, PREAUTH_KINDS, Event
from . import report, tracker_state
from .clients import CONVERTED, STALE, Clients
from .config import PolicyConfig
from .preauth import PreauthWindows
from .record import (
    IGNORED_FLAG,
    NO_WINDOW,
    PROTECTED_FLAG,
    SAVED_FIELDS,
    AddressRecord,
    saved_times,
    with_service,
)
from .report import BAN, IGNORED, WATCH, AccountAlert, Decisions, Offender
from .tracker_state import HOUR

MAX_USERS_PER_ADDRESS = 50  # usernames remembered per address (the report shows at most these)
MAX_IPS_PER_ACCOUNT = 64  # recent addresses remembered per username
MAX_ALERT_IPS = 100
MAX_ACCOUNTS = 50000
MAX_ALERTS = 10000
DEFAULT_MAX_ADDRESSES = 100000
PRUNE_EVERY = 20000  # events between two pruning passes
KEY_CACHE = 65536  # addresses whose record key and flags are cached
TIMELINE_HOURS = 168  # hourly failure counts kept (the newest 7 days of log time)

TARGETED = "targeted"
COMPROMISED = "compromised"

# the short names the hot paths use (record.py holds the record; report.py the result rows and wording;
# tracker_state.py the saved form: names kept importable from here)
_Record = AddressRecord
_NO_WINDOW = NO_WINDOW
_with_service = with_service
_IGNORED = IGNORED_FLAG
_PROTECTED = PROTECTED_FLAG

__all__ = [
    "BAN",
    "COMPROMISED",
    "IGNORED",
    "SAVED_FIELDS",
    "TARGETED",
    "WATCH",
    "AccountAlert",
    "Decisions",
    "NewBan",
    "Offender",
    "Tracker",
    "escalated",
]


class NewBan(NamedTuple):
    """A ban the policy decided while reading events: what the enforcer is asked to apply."""

    address: str
    until: float
    reason: str
    count: int


def new_bans(banned: dict[str, AddressRecord]) -> list[NewBan]:
    """The NewBan rows of ``Tracker.take_banned``'s records."""
    return [NewBan(key, rec.ban_until, rec.reason, rec.bans) for key, rec in banned.items()]


def escalated(bantime: int, multiplier: float, previous: int, cap: int) -> int:
    """``bantime * multiplier ** previous`` seconds, saturating at ``cap`` without computing a power past it
    (the 1,025th ban of an address must not overflow)."""
    if previous <= 0 or multiplier <= 1 or bantime >= cap:
        return int(min(bantime, cap))
    if previous >= math.log(cap / bantime) / math.log(multiplier) + 1:
        return int(cap)
    return int(min(bantime * multiplier**previous, cap))


def _networks(name: str, cidrs: Iterable[str]) -> list:
    try:
        return list(parse_networks(list(cidrs)))
    except (ConfigError, ValueError, TypeError) as err:
        raise ConfigError(f"config key {name!r}: {err}") from None


class Tracker:
    """Feed events with ``feed``; read bans with ``take_new_bans`` and reports with ``decide``."""

    def __init__(self, config: PolicyConfig, max_addresses: int = DEFAULT_MAX_ADDRESSES) -> None:
        config.validate()
        self.config = config
        self.max_addresses = max_addresses
        self.ignore_nets = _networks("ignore", config.ignore)
        self.protected_nets = _networks("protected", config.protected)
        self._raw_nets = [
            ipaddress.ip_network(str(n), strict=False) for n in self.ignore_nets + self.protected_nets
        ]
        self.records: dict[str, _Record] = {}  # materialised records
        self._stored: dict[str, list] = {}  # records still in their saved form (loaded lazily)
        self.pruned_at: float | None = None
        # username -> {address: latest failure}, or (address, latest failure) while there is one address
        # (``_pairs``): a big attack tries up to MAX_ACCOUNTS usernames once each, and a dict takes 184 bytes
        self.accounts: dict[str, dict[str, float] | tuple] = {}
        # one address never raises the alert, nor leaves a window that is no window (then a dict, always)
        self._pairs = config.targeted_min_ips > 1 and config.targeted_findtime > 0
        self.alerts: dict[tuple, list] = {}  # (username, alert) -> [time, {ip: None}]
        self.clock: float | None = None  # latest event time seen
        # keys touched since start_round -> banned in that time (one table: 100,000 keys take 4 MB a table)
        self._touched: dict[str, bool] = {}
        self._alerted_now: set = set()
        # the bans decided since take_new_bans: each key and its record (whose ban fields are that ban's until
        # the next one; a NewBan each held 80 bytes for a whole scan, 100,000 of them)
        self._banned_keys: list[str] = []
        self._banned_recs: list[_Record] = []
        self._since_prune = 0
        self._keys: dict[str, tuple | int] = {}  # address -> (record key, flags) or flags, a bounded cache
        # failures per UTC hour (hour start in POSIX seconds -> weighted count), newest TIMELINE_HOURS
        self.hours: dict[int, int] = {}
        self._newest_hour: int | None = None
        # the largest number of window entries that can matter (each entry weighs >= 1)
        self._keep = max(config.maxretry, config.slow_maxretry)
        # the fewest failures that can ban (a window holding fewer in all cannot)
        self._least = min(config.maxretry, config.slow_maxretry) if config.slow_maxretry else config.maxretry
        self._horizon = max(config.findtime, config.slow_findtime if config.slow_maxretry else 0)
        self._idle = max(self._horizon, config.targeted_findtime)
        self._thresholds = report.thresholds(config)  # of every "watch" reason
        self.clients: Clients | None = None  # the known-good memory (known_good_days 0: off)
        if config.known_good_days:
            self.clients = Clients(
                days=config.known_good_days,
                stale_maxretry=config.stale_maxretry,
                stale_findtime=config.stale_findtime,
                shared_min_users=config.shared_min_users,
                horizon=self._horizon,
                alert_at=config.maxretry,
            )
        # the memory's address -> {username: last login} (the hot paths test membership here)
        self._good: dict | None = self.clients.good.by_key if self.clients is not None else None
        self._memory = config.known_good_days * 86400
        self.preauth: PreauthWindows | None = None
        if config.preauth_maxretry:
            self.preauth = PreauthWindows(config.preauth_maxretry, config.preauth_findtime)

    # ---- feeding ---------------------------------------------------------------------------

    def feed(self, events: Iterable[Event], now: float | None = None) -> int:
        """Count the auth events of ``events``; returns how many were counted. ``now`` dates timeless ones.
        (Many small allocations, no reference cycles: the entry points pause the collector, see gcpause.)"""
        return self._feed(events, now)

    def _feed(self, events: Iterable[Event], now: float | None) -> int:
        counted = 0
        failure = self._failure
        success = self._success
        preauth = self._preauth if self.preauth is not None else None
        records = self.records  # prune() deletes from it in place, never replaces it
        max_addresses = self.max_addresses
        clock = self.clock  # self.clock, kept in a local (written back before prune() and at the end)
        since = self._since_prune
        try:
            for ev in events:
                kind = ev.kind
                if kind == AUTH_FAILURE:
                    handle = failure
                elif kind == AUTH_SUCCESS:
                    handle = success
                elif kind == AUTH_DETAIL:
                    handle = self._detail
                elif preauth is not None and kind in PREAUTH_KINDS:
                    handle = preauth
                else:
                    continue
                if ev.ip is None:
                    continue
                t = ev.time
                if t is None:
                    t = clock if clock is not None else (now if now is not None else 0.0)
                elif clock is None or t > clock:
                    clock = t
                handle(ev, t)
                if kind == AUTH_DETAIL:
                    continue  # never counted
                counted += 1
                since += 1
                # every PRUNE_EVERY events, or as many as there are records (a pass reads them all: with
                # 100,000 addresses a fixed period would read each one 25 times in a 500,000-event scan)
                if (since >= PRUNE_EVERY and since >= len(records)) or len(records) > max_addresses:
                    self.clock = clock
                    self.prune()
                    since = 0
        finally:
            self.clock = clock
            self._since_prune = since
        return counted

    def _key(self, ip: str) -> tuple:
        """(record key, flags) for an address: ignored addresses are never aggregated."""
        known = self._keys.get(ip)
        if known is not None:
            return (ip, known) if isinstance(known, int) else known
        if self._ignored(ip, self.ignore_nets):
            known = (ip, _IGNORED)
        elif self.config.ipv6_prefix < 128:
            key = aggregate(ip, self.config.ipv6_prefix)
            known = (key, self._flags(key))
        else:  # the key is the address itself, known not to be ignored: only "protected" is left
            protected = self.protected_nets and self._ignored(ip, self.protected_nets)
            known = (ip, _PROTECTED if protected else 0)
        if len(self._keys) >= KEY_CACHE:
            self._keys.clear()
        # an address that is its own key (nearly all) is cached as its flags alone: a small int is shared,
        # a tuple per address is not (65,536 of them)
        self._keys[ip] = known[1] if known[0] == ip else known
        return known

    @staticmethod
    def _ignored(ip: str, nets: list) -> bool:
        """``is_ignored``, without parsing a canonical IPv4 address when there are no networks to test:
        then only loopback (127.0.0.0/8) is ignored."""
        if not nets and is_canonical_ipv4(ip):
            return ip.startswith("127.")
        return is_ignored(ip, nets)

    def _flags(self, key: str) -> int:
        """Flags of a record key: a prefix is protected when it overlaps an ignored or protected net."""
        if "/" in key:
            net = ipaddress.ip_network(key, strict=False)
            if any(net.version == n.version and net.overlaps(n) for n in self._raw_nets):
                return _PROTECTED
            return 0
        if self._ignored(key, self.ignore_nets):
            return _IGNORED
        if self.protected_nets and self._ignored(key, self.protected_nets):
            return _PROTECTED
        return 0

    def _lookup(self, key: str) -> _Record | None:
        """The record of ``key``, materialising a saved one on first use."""
        rec = self.records.get(key)
        if rec is None and self._stored:
            raw = self._stored.pop(key, None)
            if raw is not None:
                try:
                    rec = AddressRecord.from_list(raw)
                except (TypeError, ValueError, IndexError, OverflowError):  # (int() of a saved Infinity)
                    return None  # a damaged saved record is dropped
                rec.flags = self._flags(key)  # the ignore/protected lists may have changed
                self.records[key] = rec
        return rec

    def _record(self, ip: str, t: float) -> tuple:
        rec = self.records.get(ip)
        if rec is not None:  # fast path: this very address has its own record
            return ip, rec
        key, flags = self._key(ip)
        rec = self._lookup(key)
        if rec is None:
            rec = _Record(t, flags)
            self.records[key] = rec
        return key, rec

    def _failure(self, ev: Event, t: float) -> None:  # noqa: PLR0912, PLR0915 - the policy's hot path, inlined (make bench)
        cfg = self.config
        key = ev.ip
        rec = self.records.get(key)
        if rec is None:  # (else the fast path of _record, inlined: this very address has its own record)
            key, rec = self._record(key, t)
        count = ev.count
        if not count or count <= 0:
            count = 1
        rec.failures += count
        if t > rec.last:
            rec.last = t
        elif t < rec.first:  # (first <= last: a later time is no earlier one; in a big attack each is a miss)
            rec.first = t
        self._add_details(key, rec, ev)
        user = ev.user
        flags = rec.flags
        if flags & _IGNORED:
            return
        hour = int(t // 3600) * 3600  # HOUR, as literals: no global lookup per event
        hours = self.hours
        counted = hours.get(hour)
        if counted is not None:
            hours[hour] = counted + count
        else:
            self._new_hour(hour, count)
        if user and cfg.targeted_min_ips:
            self._account_failure(user, key, t)
        good = self._good
        if good is not None and key in good:  # an address some user logged in from
            clients = self.clients
            verdict = clients.judge(key, user, t, count)
            if verdict == STALE:
                if not flags & _PROTECTED and (rec.ban_until is None or t >= rec.ban_until):
                    self._stale_ceiling(key, rec, t)
                return
            if verdict == CONVERTED:
                self._merge_stale(key, rec, t)
        if flags & _PROTECTED:
            return
        if rec.ban_until is not None and t < rec.ban_until:
            return  # already banned: these attempts cannot start another ban
        window = rec.window
        if window:
            window.append(t)
            window.append(count)
            keep = 2 * self._keep
            if len(window) > keep:
                del window[: len(window) - keep]
        else:  # the shared empty window (or an empty list) is replaced, never appended to
            window = rec.window = [t, count]
        slow_start = t - cfg.slow_findtime
        # too few failures in the whole window for either threshold (the first ones of most addresses): no
        # ban, and the window's times are not read (in a big attack each is a cache miss)
        if (sum(window[1::2]) if len(window) > 2 else count) < self._least:
            if len(window) > 2 and window[0] <= slow_start:
                self._trim(rec, slow_start)
            return
        fast_start = t - cfg.findtime
        ahead = t + LATE  # failures that arrived before with later times: a step back since (see top)
        fast = slow = 0
        first_fast = first_slow = t
        it = iter(window)
        for wt, wc in zip(it, it):  # (time, count) pairs
            if slow_start < wt <= ahead:
                slow += wc
                if wt < first_slow:  # noqa: PLR1730 - no min()/max() call in the hot path
                    first_slow = wt
                if wt > fast_start:
                    fast += wc
                    if wt < first_fast:  # noqa: PLR1730 - no min()/max() call in the hot path
                        first_fast = wt
        if fast >= cfg.maxretry:
            self._ban(key, rec, t, fast, span=t - first_fast, kind="")
        elif cfg.slow_maxretry and slow >= cfg.slow_maxretry:
            self._ban(key, rec, t, slow, span=t - first_slow, kind="slow window, ")
        elif len(window) > 2 and window[0] <= slow_start:
            self._trim(rec, slow_start)

    @staticmethod
    def _trim(rec: _Record, slow_start: float) -> None:
        """Drop the window's entries that left every window."""
        window = rec.window
        keep = [window[i : i + 2] for i in range(0, len(window), 2) if window[i] > slow_start]
        rec.window = [x for pair in keep for x in pair]

    def _add_details(self, key: str, rec: _Record, ev: Event) -> None:
        """What every line of an attempt adds to its address's record, counted or not: its service, its
        username (up to MAX_USERS_PER_ADDRESS) and a place among the addresses this round touched."""
        if ev.service not in rec.services:
            rec.services = _with_service(rec.services, ev.service)
        user = ev.user
        users = rec.users
        if user and len(users) < MAX_USERS_PER_ADDRESS and user not in users:  # (the scan of users last)
            rec.users = (*users, user)
        touched = self._touched
        if key not in touched:
            touched[key] = False

    def _detail(self, ev: Event, t: float) -> None:
        """A later line of a failure already counted (``events.AUTH_DETAIL``): its username and service join
        the address's details and the account's addresses; nothing is counted."""
        key, rec = self._record(ev.ip, t)
        self._add_details(key, rec, ev)
        user = ev.user
        if user and not rec.flags & _IGNORED and self.config.targeted_min_ips:
            self._account_failure(user, key, t)

    def needs_user(self, ip: str) -> bool:
        """Whether a failure from ``ip`` is judged by its username (the correlator's ``needs_user``): the
        address (its record key) has users in the known-good memory, so a failure of a known user is a stale
        client's, not an attacker's. Its username still to come, the correlator holds such a failure."""
        good = self._good
        if not good or not self.config.stale_maxretry:
            return False
        if ip in good:
            return True
        if isinstance(self._keys.get(ip), int):
            return False  # the address is its own record key (see _key), and that is not in the memory
        key, flags = self._key(ip)
        return not flags & _IGNORED and key in good

    def _new_hour(self, hour: int, count: int) -> None:
        """Open an hour's bucket, dropping buckets that fall out of the newest ``TIMELINE_HOURS``."""
        newest = self._newest_hour
        if newest is None or hour > newest:
            newest = self._newest_hour = hour
        oldest = newest - (TIMELINE_HOURS - 1) * HOUR
        if hour < oldest:
            return  # older than the kept span: not counted
        hours = self.hours
        hours[hour] = count
        if hour == newest and len(hours) > 1:
            for old in [h for h in hours if h < oldest]:
                del hours[old]

    def timeline(self) -> dict[str, int]:
        """Failures per UTC hour, oldest first: ``{"2026-11-26T17:00:00Z": 12, ...}`` (ignored addresses
        excluded; at most the newest ``TIMELINE_HOURS`` hours of log time)."""
        return report.timeline(self.hours)

    def _stale_ceiling(self, key: str, rec: _Record, t: float) -> None:
        """Ban when the stale failures of ``key`` reach ``stale_maxretry`` within ``stale_findtime``."""
        clients = self.clients
        count, first = clients.stale_count(key, t)
        if count >= self.config.stale_maxretry:
            clients.windows.pop(key, None)
            self._ban(key, rec, t, count, span=t - first, kind="stale client ceiling, ")

    def _merge_stale(self, key: str, rec: _Record, t: float) -> None:
        """A personal address failed for an unknown username: its earlier stale failures count as usual."""
        taken = self.clients.take_window(key, t)
        if taken and (rec.ban_until is None or t >= rec.ban_until):
            window = rec.window
            pairs = sorted(
                [window[i : i + 2] for i in range(0, len(window), 2)]
                + [taken[i : i + 2] for i in range(0, len(taken), 2)]
            )
            rec.window = [x for pair in pairs[-self._keep :] for x in pair]

    def _preauth(self, ev: Event, t: float) -> None:
        """A connection that never tried a password: its own window (per address, never aggregated), never for
        a known-good, ignored or protected address (checked when the window fills: most such addresses come
        once)."""
        ip = ev.ip
        good = self._good
        if good is not None and ip in good:
            return
        hit = self.preauth.add(ip, ev.kind, t)
        if hit is None:
            return
        count, first, kinds = hit
        key, flags = self._key(ip)
        if flags:
            return  # ignored or protected: never banned
        if good is not None and key in good and self.clients.good.count(key, t):
            return
        key, rec = self._record(ip, t)
        if rec.ban_until is not None and t < rec.ban_until:
            return
        if ev.service not in rec.services:
            rec.services = _with_service(rec.services, ev.service)
        if t > rec.last:  # noqa: PLR1730 - as in _failure
            rec.last = t
        if key not in self._touched:
            self._touched[key] = False
        self._ban(
            key, rec, t, count, span=t - first, kind="", what=f"pre-auth connections ({', '.join(kinds)})"
        )

    def _ban(
        self,
        key: str,
        rec: _Record,
        t: float,
        failures: int,
        *,
        span: float,
        kind: str,
        what: str = "failures",
    ) -> None:
        cfg = self.config
        duration = escalated(cfg.bantime, cfg.bantime_multiplier, rec.bans, cfg.bantime_max)
        rec.bans += 1
        rec.ban_until = min(t + duration, MAX_TIME)
        rec.window = _NO_WINDOW
        good = self._good  # (an address with no known user, nearly every banned one, is shared by no one)
        shared = self.clients.shared(key, t) if good and key in good else 0
        rec.reason = report.ban_reason(failures, what, span, kind, rec, shared=shared)
        self._touched[key] = True  # banned this round
        self._banned_keys.append(key)
        self._banned_recs.append(rec)

    def _account_failure(self, user: str, key: str, t: float) -> None:
        cfg = self.config
        accounts = self.accounts
        # taken out and put back last: the dict's order is the order of the accounts' latest failures, so
        # pruning finds the idle ones first (see _prune_accounts)
        ips = accounts.pop(user, None)
        if ips is None:
            if len(accounts) >= MAX_ACCOUNTS:
                self._prune_accounts(t)
            if self._pairs:
                accounts[user] = (key, t)
                return
            ips = {}
        elif isinstance(ips, tuple):  # one address so far (see _pairs)
            if ips[0] == key:
                accounts[user] = (key, t)
                return
            ips = {ips[0]: ips[1]}
        accounts[user] = ips
        ips.pop(key, None)
        ips[key] = t  # insertion order = recency
        start = t - cfg.targeted_findtime
        while ips:  # oldest first (insertion order is recency)
            oldest = next(iter(ips))
            if ips[oldest] > start and len(ips) <= MAX_IPS_PER_ACCOUNT:
                break
            del ips[oldest]
        if len(ips) >= cfg.targeted_min_ips:
            # once raised, the alert only needs the newest address added (_alert, inlined)
            entry = self.alerts.get((user, TARGETED))
            if entry is None:
                self._alert(user, TARGETED, list(ips), t)
                return
            if t > entry[0]:  # noqa: PLR1730 - no min()/max() call in the hot path
                entry[0] = t
            seen = entry[1]
            if key not in seen and len(seen) < MAX_ALERT_IPS:
                seen[key] = None
            self._alerted_now.add((user, TARGETED))

    def wants_success(self, ip: str, user: str | None = None, t: float | None = None) -> bool:
        """False when a successful login from ``ip`` cannot raise a ``compromised`` alert: the alert is off,
        the user is known at that address, or its record holds fewer failures (stale ones aside) than the
        alert needs; a dropped login is still remembered by the known-good memory. The correlator asks only
        about addresses it saw no failure from since the events it last released, which this tracker has
        counted, so no failure of that address can still be on its way. With IPv6 prefix aggregation, other
        addresses of the prefix may have failed in events still on their way: True."""
        good = self._good
        if good is not None and user:
            name, user = user, user.lower()  # the memory's form (Clients.login)
            when = t if t is not None else (self.clock or 0.0)
            clients = self.clients
            # most logins: a user known at that address (clients.login's fast path, inlined). Only a record
            # key that is no ignored address is in the memory, and an address found there is its own key.
            users = good.get(ip)
            if users is not None:
                last = users.get(user)
                if last is not None and when - last <= self._memory:  # arrival order: no lower bound
                    stale = clients.stale.get(ip)
                    if stale is not None and user in stale:
                        clients.login(ip, user, when)
                    elif when > last:
                        users[user] = when
                    return False
            key, flags = self._key(ip)
            if not flags & _IGNORED:
                if clients.good.knows(key, user, when):
                    clients.login(key, user, when)
                    return False
                if not self._may_compromise(ip):
                    self._remember(key, name, when)
                    return False
                return True  # the event goes on: _success remembers it
        return self._may_compromise(ip)

    def _may_compromise(self, ip: str) -> bool:
        """``wants_success`` by the failures alone."""
        cfg = self.config
        least = cfg.compromised_min_failures
        if not least:
            return False
        if cfg.ipv6_prefix < 128 and ":" in ip:
            return True
        # any other (parsed, so canonical) address is its own record key: see _key
        rec = self.records.get(ip)
        if rec is not None:
            stale = self.clients.totals.get(ip, 0) if self.clients is not None else 0
            return rec.failures - stale >= least
        return ip in self._stored  # a saved record, not read yet

    def _success(self, ev: Event, t: float) -> None:
        key, flags = self._key(ev.ip)
        if flags & _IGNORED or not ev.user:
            return
        clients = self.clients
        if clients is not None and clients.knows(key, ev.user, t):
            clients.login(key, ev.user, t)
            return  # the user's own address: a stale client fixed, or a login after others' failures
        least = self.config.compromised_min_failures
        rec = self._lookup(key) if least else None
        stale = clients.totals.get(key, 0) if clients is not None else 0
        if rec is not None and rec.failures - stale >= least:
            # not remembered: a break-in must not make the attacker's address the victim's own (its next
            # guesses would get the stale ceiling and a "stale client" alert); a clean login later does
            self._alert(ev.user, COMPROMISED, (key,), t)
        elif clients is not None:
            self._remember(key, ev.user, t)

    def _remember(self, key: str, user: str, t: float) -> None:
        """A login of a user not known at ``key``: remembered, unless a ``compromised`` alert named this user
        and address (kept ``bantime_max``): the attacker who broke in must not become a known client by
        logging in again without failing."""
        entry = self.alerts.get((user, COMPROMISED))
        if entry is None or key not in entry[1]:
            self.clients.login(key, user, t)

    def _alert(self, user: str, alert: str, ips: Iterable[str], t: float) -> None:
        entry = self.alerts.get((user, alert))
        if entry is None:
            if len(self.alerts) >= MAX_ALERTS:
                oldest = min(self.alerts, key=lambda k: self.alerts[k][0])
                del self.alerts[oldest]
            entry = self.alerts[(user, alert)] = [t, {}]
        entry[0] = max(entry[0], t)
        seen = entry[1]
        for ip in ips:
            if ip not in seen and len(seen) < MAX_ALERT_IPS:
                seen[ip] = None
        self._alerted_now.add((user, alert))

    # ---- bounded memory --------------------------------------------------------------------

    def prune(self, now: float | None = None) -> None:  # noqa: PLR0912 - one pass over every kind of record
        """Forget addresses idle past every window (keeping escalation history for ``bantime_max``
        after a ban ends), then the oldest ones if there are still too many."""
        self._since_prune = 0
        now = now if now is not None else self.clock
        if now is None:
            return
        self.pruned_at = now
        idle_before = now - self._idle
        keep_bans = self.config.bantime_max

        def stale(last: float, ban_until: float | None) -> bool:
            return last < idle_before and (ban_until is None or ban_until + keep_bans < now)

        for k in [k for k, r in self.records.items() if stale(r.last, r.ban_until)]:
            del self.records[k]
        if self._stored:
            drop = []
            for k, raw in self._stored.items():
                try:
                    if stale(*saved_times(raw)):
                        drop.append(k)
                except (TypeError, ValueError, IndexError):
                    drop.append(k)
            for k in drop:
                del self._stored[k]
        if len(self.records) + len(self._stored) > self.max_addresses:
            for k in list(self._stored):
                self._lookup(k)
            # evict the least recently seen tenth among those not under an active ban
            excess = len(self.records) - self.max_addresses + self.max_addresses // 10
            candidates = sorted(
                (r.last, k) for k, r in self.records.items() if r.ban_until is None or r.ban_until <= now
            )
            for _last, k in candidates[:excess]:
                del self.records[k]
        self._prune_accounts(now)
        if self.clients is not None:
            self.clients.prune(now)
            # the stale part of a record's failures goes with the record (else a new record of that address
            # would hold fewer failures than its "stale" ones and hide a compromised login)
            totals = self.clients.totals
            for k in [k for k in totals if k not in self.records and k not in self._stored]:
                del totals[k]
        if self.preauth is not None:
            self.preauth.prune(now)
        alert_age = now - self.config.bantime_max
        for k in [k for k, v in self.alerts.items() if v[0] < alert_age]:
            del self.alerts[k]

    def maybe_prune(self, now: float | None = None, every: float = 600.0) -> None:
        """Prune when ``every`` seconds of log time have passed since the last pruning (end of a scan)."""
        now = now if now is not None else self.clock
        if now is None:
            return
        if self.pruned_at is None or now - self.pruned_at >= every or now < self.pruned_at:
            self.prune(now)

    def _prune_accounts(self, now: float) -> None:
        """Forget accounts idle past ``targeted_findtime``, then the least recent tenth if there are still
        ``MAX_ACCOUNTS``. ``accounts`` is ordered by latest failure (``_account_failure``): the idle ones
        come first, so this reads only what it drops (it ran a sort of every account before)."""
        start = now - self.config.targeted_findtime
        accounts = self.accounts
        stale = []
        for user, ips in accounts.items():
            if ips and (ips[1] if isinstance(ips, tuple) else max(ips.values())) > start:
                break
            stale.append(user)
        for user in stale:
            del accounts[user]
        if len(accounts) >= MAX_ACCOUNTS:
            for user in list(islice(accounts, len(accounts) // 10 + 1)):
                del accounts[user]

    # ---- results ---------------------------------------------------------------------------

    def take_new_bans(self) -> list:
        """Bans decided since the last call, in the order they were decided (one per address: the latest)."""
        return new_bans(self.take_banned())

    def take_banned(self) -> dict[str, AddressRecord]:
        """``take_new_bans`` as address -> the record of its latest ban, without a row per ban (a scan's
        100,000 rows took 9 MB): nothing but ``_ban`` sets a record's ban fields while events are fed, so
        they are that ban's until more events are."""
        latest = dict(zip(self._banned_keys, self._banned_recs))  # an address banned twice: its latest record
        self._banned_keys, self._banned_recs = [], []
        return latest

    def start_round(self) -> None:
        """Forget which addresses and accounts the previous scan touched."""
        self._touched = {}
        self._alerted_now = set()
        self._banned_keys, self._banned_recs = [], []
        if self.clients is not None:
            self.clients.touched = set()
            self.clients.alerts = []

    def compact(self) -> None:
        """For a scan whose reading is done (the follow daemon keeps both as they are): the address -> record
        key cache emptied (65,536 entries take 1 MB) and the accounts' table copied to its size (it keeps the
        room of the most accounts it ever held: MAX_ACCOUNTS take 4 MB)."""
        self._keys = {}
        self.accounts = dict(self.accounts)

    def known_clients(self, now: float) -> tuple:
        """(every StaleClient row, every SharedAddress row) the memory holds: ``status``."""
        if self.clients is None:
            return [], []
        return self.clients.rows(self.clients.all_pairs(), now), self.clients.shared_addresses(now)

    def take_stale_alerts(self) -> list:
        """StaleClient rows of the ``stale_client`` alerts raised since the last call (one per username and
        address and episode: the detector writes each to syslog once)."""
        if self.clients is None:
            return []
        alerts, self.clients.alerts = self.clients.alerts, []
        return self.clients.rows(dict.fromkeys(alerts), self.clock or 0.0)

    def decide(self, now: float | None = None, *, everything: bool = False) -> Decisions:
        """Offenders and alerts touched since ``start_round`` (or all remembered ones with ``everything``)."""
        return self.decide_later(now, everything=everything).decisions()

    def decide_later(self, now: float | None = None, *, everything: bool = False) -> report.LateDecisions:
        """``decide``, its offender rows made only by ``decisions()`` on the result: pruning, ``start_round``
        and ``forget`` change nothing they say; feeding more events does (see ``report.LateDecisions``)."""
        if everything:
            for key in list(self._stored):
                self._lookup(key)
        records, touched = self.records, self._touched
        keys = [
            key
            for key in (list(records) if everything else touched)
            # (pre-auth bans: no failure)
            if (rec := records.get(key)) is not None and (rec.failures or rec.ban_until is not None)
        ]
        # the report's order, most failures first, then by address: two stable sorts on values the rows share
        # (one on (-failures, address) made a tuple per row: 100,000 took 6 MB)
        keys.sort()
        keys.sort(key=lambda key: records[key].failures, reverse=True)
        recs = [records[key] for key in keys]
        banned = bytearray(touched.get(key, False) for key in keys)  # (a byte each: 100,000 flags)
        notes: dict[str, str] = {}
        if self.clients is not None:  # read now: pruning changes the memory
            # only an address with known users or a stale client has a note (client_note): not one of a
            # burst of bans, whose rows are looked at no further
            good, stale = self._good, self.clients.stale
            for key, rec, banned_now in zip(keys, recs, banned):
                if (key in good or key in stale) and report.plain_watch(rec, banned_now):
                    note = report.client_note(self.clients, self.config, key, rec, self._thresholds)
                    if note:
                        notes[key] = note
        accounts = self.account_alerts(everything=everything)
        stale_rows: list = []
        shared: list = []
        clients = self.clients
        if clients is not None:
            when = now if now is not None else (self.clock or 0.0)
            pairs = clients.all_pairs() if everything else clients.touched
            shared = clients.shared_addresses(when, None if everything else keys)
            stale_rows = clients.rows(pairs, when)
        return report.LateDecisions(
            keys,
            recs,
            banned,
            watch=self._thresholds,
            notes=notes,
            accounts=accounts,
            stale_clients=stale_rows,
            shared=shared,
        )

    def account_alerts(self, *, everything: bool = False) -> list:
        """The AccountAlerts raised since ``start_round`` (or all remembered ones): ``decide``'s, without its
        offenders (the follow daemon needs only these after each cycle)."""
        alert_keys = self.alerts.keys() if everything else self._alerted_now
        return [
            AccountAlert(user, alert, sorted(self.alerts[(user, alert)][1]))
            for user, alert in sorted(alert_keys)
            if (user, alert) in self.alerts
        ]

    # ---- lifecycle and persistence -------------------------------------------------------

    def forget(self, address: str) -> bool:
        """Drop everything known about an address (``unban --reset``); True if there was something."""
        stored = self._stored.pop(address, None)
        if self.clients is not None:  # its stale failures are part of its history: gone too
            self.clients.forget(address)
        if self.preauth is not None:
            self.preauth.windows.pop(address, None)
        return self.records.pop(address, None) is not None or stored is not None

    def lift(self, address: str) -> None:
        """End the current ban of an address early (``unban``), keeping its escalation count."""
        rec = self._lookup(address)
        if rec is not None and rec.ban_until is not None:
            rec.ban_until = min(rec.ban_until, rec.last)

    def bans_of(self, address: str) -> int:
        """How many bans an address has had (drives escalation)."""
        rec = self._lookup(address)
        return rec.bans if rec is not None else 0

    def to_state(self, lazy: bool = False) -> dict[str, Any]:
        """JSON-ready state (``tracker_state.to_state``; ``lazy``: records made as ``StateDir.save`` reads
        them)."""
        return tracker_state.to_state(self, lazy)

    def load_state(self, data: dict[str, Any]) -> None:
        """Restore what ``to_state`` produced; raises ValueError/TypeError/KeyError on a damaged shape."""
        tracker_state.load_state(self, data)
