"""Known clients: which usernames logged in from which address, and what that makes of their failures.

Why: a phone that keeps an old password, or one user's typos behind an office NAT, must not ban the address
all its other users share. We see what fail2ban cannot: who logged in from where.

* **Known-good memory**: (address, username in lower case) -> time of the last successful login, kept
  ``known_good_days``; at most ``MAX_KNOWN_GOOD`` pairs (beyond it the least recently seen tenth is
  forgotten); saved in the state.
* **Stale client**: a failure for a username known at that address counts toward its own ceiling
  (``stale_maxretry`` in ``stale_findtime``), not the ban windows, while the address fails for no unknown
  username (a personal address) or always on a **shared address** (``shared_min_users`` known users).
* A personal address that fails for an unknown username is judged as any other from then on (for
  ``horizon`` seconds after that failure), and its earlier stale failures still in the windows count too.
  Userless failures (Postfix without a username) count as usual and change nothing else.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from ..parser.correlate import LATE
from ..parser.events import iso_utc

MAX_KNOWN_GOOD = 200000  # (address, username) pairs remembered; the least recently seen tenth goes first
MAX_ADDRESSES_PER_USER = 1000  # beyond it, a username's pairs are the first forgotten when the memory is full
MAX_STALE_USERS = 20000  # (address, username) stale-client entries kept
DAY = 86400

USUAL = 0  # counted in the ban windows
STALE = 1  # a stale client's failure: the stale ceiling only
CONVERTED = 2  # counted as usual, and the address's earlier stale failures count now too


class StaleClient(NamedTuple):
    """One (username, address) whose failures were judged a stale client's; times are ISO 8601."""

    username: str
    ip: str
    failures: int
    since: str | None
    last_seen: str | None
    shared: bool
    resolved: str | None  # the login that ended it (the user fixed the password), or None


class SharedAddress(NamedTuple):
    """An address from which at least ``shared_min_users`` usernames logged in within the memory."""

    ip: str
    users: int


def _number(value: Any) -> float:
    """A finite float from saved state, else ValueError (bools too: a damaged entry is dropped)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"not a time: {value!r}")
    return float(value)


class KnownGood:
    """(address key, username) -> last successful login (POSIX s), bounded and pruned."""

    def __init__(self, days: int, cap: int = MAX_KNOWN_GOOD, per_user: int = MAX_ADDRESSES_PER_USER) -> None:
        self.seconds = days * DAY
        self.cap = cap
        self.per_user = per_user
        self.by_key: dict[str, dict[str, float]] = {}
        self.size = 0

    def remember(self, key: str, user: str, t: float) -> bool:
        """Note a login; True when ``user`` was already known at ``key`` (a login within the memory)."""
        users = self.by_key.get(key)
        if users is None:
            users = self.by_key[key] = {}
        last = users.get(user)
        if last is None:
            users[user] = t
            self.size += 1
            if self.size > self.cap:
                self.prune(t)
            return False
        if t > last:
            users[user] = t
        return t - last <= self.seconds

    def knows(self, key: str, user: str, t: float) -> bool:
        """``user`` logged in from ``key`` within the memory before ``t``: before in arrival order (a login
        read before a clock step back may carry a later time)."""
        users = self.by_key.get(key)
        if not users:
            return False
        last = users.get(user)
        return last is not None and t - last <= self.seconds

    def count(self, key: str, t: float) -> int:
        """How many usernames logged in from ``key`` within the memory (as of ``t``)."""
        users = self.by_key.get(key)
        if not users:
            return 0
        start = t - self.seconds
        return sum(1 for last in users.values() if last >= start)

    def prune(self, now: float) -> None:
        """Forget logins older than the memory, then the least recently seen tenth while over the cap: first
        those of usernames with more than ``per_user`` addresses (one account logging in from a whole IPv6
        range must not push every other user out of the memory)."""
        start = now - self.seconds
        size = 0
        for key in list(self.by_key):
            users = self.by_key[key]
            for user in [u for u, last in users.items() if last < start]:
                del users[user]
            if users:
                size += len(users)
            else:
                del self.by_key[key]
        self.size = size
        if size > self.cap:
            many: dict[str, int] = {}
            for users in self.by_key.values():
                for user in users:
                    many[user] = many.get(user, 0) + 1
            per_user = self.per_user
            pairs = sorted(
                (many[user] <= per_user, last, key, user)
                for key, users in self.by_key.items()
                for user, last in users.items()
            )
            for _few, _last, key, user in pairs[: size - self.cap + self.cap // 10]:
                users = self.by_key[key]
                del users[user]
                if not users:
                    del self.by_key[key]
            self.size = sum(len(users) for users in self.by_key.values())

    def to_state(self) -> dict[str, dict[str, float]]:
        """JSON-ready: ``{address: {username: last login}}``."""
        return self.by_key

    def load(self, saved: Any) -> None:
        """Restore ``to_state`` output; damaged entries are dropped one by one, never the whole memory."""
        self.by_key.clear()  # in place: the tracker's hot paths hold this dict
        self.size = 0
        if not isinstance(saved, dict):
            return
        for key, users in saved.items():
            if not isinstance(key, str) or not isinstance(users, dict):
                continue
            kept = {}
            for user, last in users.items():
                try:
                    if isinstance(user, str) and user:
                        kept[user.lower()] = max(_number(last), kept.get(user.lower(), -math.inf))
                except ValueError:
                    continue
            if kept:
                self.by_key[key] = kept
                self.size += len(kept)


class Clients:
    """The known-good memory and what it makes of failures: ``judge`` each failure with a username from an
    address that has known users; stale failures are kept here (per address for the ceiling, per
    (address, username) for the report and the one ``stale_client`` alert)."""

    def __init__(self, *, days: int, stale_maxretry: int, stale_findtime: int, shared_min_users: int,
                 horizon: float, alert_at: int, cap: int = MAX_KNOWN_GOOD) -> None:  # fmt: skip
        self.good = KnownGood(days, cap)
        self.stale_maxretry = stale_maxretry
        self.stale_findtime = stale_findtime
        self.shared_min_users = shared_min_users
        self.horizon = horizon  # how long an unknown username's failure makes a personal address "any other"
        self.alert_at = alert_at  # stale failures of one (address, username) that raise its alert
        self.windows: dict[str, list] = {}  # key -> flat [time, count, ...] of stale failures (the ceiling)
        self.totals: dict[str, int] = {}  # key -> stale failures ever counted (not for the compromised alert)
        # key -> {user: [since, last, failures, alerted (0/1), resolved time or None]}
        self.stale: dict[str, dict[str, list]] = {}
        self.entries = 0  # entries in ``stale`` (bounded by MAX_STALE_USERS)
        self.other: dict[str, float] = {}  # key -> last failure for a username never known there
        self.alerts: list = []  # (key, user) of stale_client alerts raised since take_alerts()
        self.touched: set = set()  # (key, user) whose stale entry changed since start_round

    def shared(self, key: str, _t: float = 0.0) -> int:
        """The number of known users when ``key`` is a shared address, else 0. Counted as of the last pruning
        (logins older than the memory leave at the next one: at most one pruning interval late)."""
        least = self.shared_min_users
        if not least:
            return 0
        users = self.good.by_key.get(key)
        if users is None or len(users) < least:
            return 0
        return len(users)

    def judge(self, key: str, user: str | None, t: float, count: int) -> int:
        """USUAL, STALE or CONVERTED for a failure from ``key`` (which has known users)."""
        if not user or not self.stale_maxretry:
            return USUAL
        user = user.lower()  # the memory's form (see login)
        known = self.good.knows(key, user, t)
        shared = self.shared(key, t)
        if not known:
            if shared:
                return USUAL  # an attacker behind the shared address is caught by the usual windows
            before = self.other.get(key)
            self.other[key] = t
            if before is not None and t - before <= self.horizon:
                return USUAL
            return CONVERTED if key in self.windows else USUAL
        if not shared:
            before = self.other.get(key)
            if before is not None and t - before <= self.horizon:
                return USUAL  # this personal address failed for another username: judged as any other
        self._stale(key, user, t, count)
        return STALE

    def _stale(self, key: str, user: str, t: float, count: int) -> None:
        window = self.windows.get(key)
        if window is None:
            window = self.windows[key] = []
        window.append(t)
        window.append(count)
        start = t - self.stale_findtime
        if window[0] <= start or len(window) > 2 * self.stale_maxretry:
            pairs = [window[i : i + 2] for i in range(0, len(window), 2) if window[i] > start]
            window[:] = [x for pair in pairs[-self.stale_maxretry :] for x in pair]
        self.totals[key] = self.totals.get(key, 0) + count
        users = self.stale.get(key)
        if users is None:
            users = self.stale[key] = {}
        entry = users.get(user)
        if entry is None:  # one entry (and one alert) per username and address until it is quiet for a window
            if self.entries >= MAX_STALE_USERS:
                self._drop_oldest()
            entry = users[user] = [t, t, 0, 0, None]
            self.entries += 1
        entry[4] = None  # failing again: a login in between (another device of the user) resolved nothing
        entry[1] = max(entry[1], t)
        entry[2] += count
        if not entry[3] and entry[2] >= self.alert_at:
            entry[3] = 1
            self.alerts.append((key, user))
        self.touched.add((key, user))

    def stale_count(self, key: str, t: float) -> tuple:
        """(stale failures of ``key`` within ``stale_findtime`` of ``t``, time of the first of them)."""
        window = self.windows.get(key)
        if not window:
            return 0, t
        start = t - self.stale_findtime
        ahead = t + LATE  # stale failures far "ahead" of t came before a clock step back (see tracker.py)
        total, first = 0, t
        for i in range(0, len(window), 2):
            if start < window[i] <= ahead:
                total += window[i + 1]
                first = min(first, window[i])
        return total, first

    def take_window(self, key: str, t: float) -> list:
        """A personal address just failed for another username: its stale failures within ``horizon`` of
        ``t`` leave the stale window and count as usual (returned as flat [time, count, ...])."""
        window = self.windows.pop(key, None) or []
        self.entries -= len(self.stale.pop(key, None) or ())  # no longer a stale client's: the address's own
        start = t - self.horizon
        taken = [x for i in range(0, len(window), 2) if window[i] > start for x in window[i : i + 2]]
        self.totals[key] = max(0, self.totals.get(key, 0) - sum(taken[1::2]))
        return taken

    def knows(self, key: str, user: str, t: float) -> bool:
        """Whether ``login(key, user, t)`` would find the user known at ``key`` (without remembering it)."""
        users = self.good.by_key.get(key)
        last = users.get(user.lower()) if users else None
        return last is not None and t - last <= self.good.seconds

    def login(self, key: str, user: str, t: float) -> bool:
        """A successful login: remembered; marks the user's stale entry at ``key`` resolved (until it fails
        again: the login may come from the user's other device). True when the user was known there before
        (no ``compromised`` alert then)."""
        # lower case: Dovecot logs a login as its passdb knows it (lowercased by default, auth_username_format
        # %Lu) and a failure as the client typed it, Postfix both as typed. One account in two cases is one
        # user (the stale ceiling is per address: an attacker there gains nothing from a case variant)
        user = user.lower()
        known = self.good.remember(key, user, t)
        users = self.stale.get(key)
        if users is not None:
            entry = users.get(user)
            if entry is not None and entry[4] is None:
                entry[4] = t
                self.touched.add((key, user))
        return known

    def forget(self, key: str) -> None:
        """``unban --reset``: drop the address's failure history (stale window, stale entries, the mark of an
        unknown username); the known-good memory stays: its users' phones must not lose their leniency."""
        self.windows.pop(key, None)
        self.totals.pop(key, None)
        self.other.pop(key, None)
        self.entries -= len(self.stale.pop(key, None) or ())

    def rows(self, pairs: Any, now: float) -> list:
        """StaleClient rows of (key, user) pairs, newest first."""
        out = []
        for key, user in pairs:
            entry = self.stale.get(key, {}).get(user)
            if entry is None:
                continue
            since, last, failures, _alerted, resolved = entry
            out.append(StaleClient(user, key, failures, iso_utc(since), iso_utc(last),
                                   bool(self.shared(key, now)), iso_utc(resolved)))  # fmt: skip
        out.sort(key=lambda r: (r.last_seen or "", r.username, r.ip), reverse=True)
        return out

    def all_pairs(self) -> list:
        return [(key, user) for key, users in self.stale.items() for user in users]

    def shared_addresses(self, now: float, keys: Any = None) -> list:
        """SharedAddress rows (most users first) of ``keys`` (default: every address with known users)."""
        if not self.shared_min_users:
            return []
        out = []
        for key in self.good.by_key if keys is None else keys:
            users = self.shared(key, now)
            if users:
                out.append(SharedAddress(key, users))
        out.sort(key=lambda s: (-s.users, s.ip))
        return out

    def _drop_oldest(self) -> None:
        pairs = sorted(
            (entry[1], key, user) for key, users in self.stale.items() for user, entry in users.items()
        )
        for _t, key, user in pairs[: len(pairs) // 10 + 1]:
            del self.stale[key][user]
            if not self.stale[key]:
                del self.stale[key]
        self.entries = sum(map(len, self.stale.values()))

    def prune(self, now: float) -> None:
        """Forget logins past the memory, stale windows and entries past ``stale_findtime`` (a resolved or
        quiet episode), and unknown-username marks past ``horizon``."""
        self.good.prune(now)
        start = now - self.stale_findtime
        for key in [k for k, w in self.windows.items() if not w or w[-2] <= start]:
            del self.windows[key]
        for key in list(self.stale):
            users = self.stale[key]
            for user in [u for u, e in users.items() if max(e[1], e[4] or 0) <= start]:
                del users[user]
            if not users:
                del self.stale[key]
        self.entries = sum(map(len, self.stale.values()))
        for key in [k for k in self.totals if k not in self.windows and k not in self.stale]:
            del self.totals[key]
        old = now - self.horizon
        for key in [k for k, t in self.other.items() if t <= old]:
            del self.other[key]

    # ---- persistence (each part loaded on its own: a damaged part is dropped, not the rest) ----------------

    def to_state(self) -> dict[str, Any]:
        return {
            "known_good": self.good.to_state(),
            "stale_windows": self.windows,
            "stale_totals": self.totals,
            "stale": self.stale,
            "other": self.other,
        }

    def load(self, saved: Any) -> None:
        """Restore ``to_state`` output defensively (never raises)."""
        if not isinstance(saved, dict):
            return
        self.good.load(saved.get("known_good"))
        self.windows = _load_windows(saved.get("stale_windows"))
        self.totals = {k: int(v) for k, v in _items(saved.get("stale_totals")) if _count(v)}
        self.other = {}
        for key, t in _items(saved.get("other")):
            try:
                self.other[key] = _number(t)
            except ValueError:
                continue
        self.stale = {}
        for key, users in _items(saved.get("stale")):
            for user, entry in _items(users):
                try:
                    since, last, failures, alerted, resolved = entry
                    row = [_number(since), _number(last), int(failures), 1 if alerted else 0,
                           None if resolved is None else _number(resolved)]  # fmt: skip
                except (TypeError, ValueError):
                    continue
                self.stale.setdefault(key, {})[user] = row
        self.entries = sum(map(len, self.stale.values()))


def _items(value: Any) -> list:
    """(str key, value) pairs of a saved mapping; anything else gives none."""
    if not isinstance(value, dict):
        return []
    return [(k, v) for k, v in value.items() if isinstance(k, str) and k]


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _load_windows(saved: Any) -> dict[str, list]:
    """Flat [time, count, ...] windows; a damaged window is dropped."""
    out = {}
    for key, window in _items(saved):
        try:
            if not isinstance(window, list) or len(window) % 2:
                continue
            numbers = [_number(x) for x in window]
            if min(numbers[1::2], default=1) < 1:  # a count below 1 (the tracker's windows rely on it)
                continue
            out[key] = numbers
        except ValueError:
            continue
    return out
