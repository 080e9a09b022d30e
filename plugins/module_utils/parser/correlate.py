"""Correlator: raw Records -> counted Events, each real attempt counted once.

One password guess can be written by several processes: Dovecot's auth process (user and address), then
Postfix's smtpd warning (address, 2 s later) or a Dovecot login summary (``auth failed, N attempts``), and on
Plesk by plesk_saslauthd (user, no address, no pid). smtpd's ``disconnect ... auth=0/N`` summarises the whole
session again. The correlator keeps each attempt once:

* ``prompt`` (a scan, the follow daemon): every event is released as soon as its line is read, except a
  failure whose username is still to come (an smtpd failure without one, on a host whose plesk_saslauthd
  names users, from an address whose judgement depends on the username: ``needs_user``), which waits at most
  ``HOLD`` seconds for it, with the later events of its address behind it (the policy sees each address's
  events in line order). A later line of an attempt already released only adds detail: an ``auth_detail``
  event (count 0: the username, the service) that the policy never counts. Without ``prompt`` (``parse``)
  every event waits ``HOLD`` seconds of log time in a FIFO, so later lines merge into it and the output stays
  in line order;
* the correlator's clock runs in the order lines arrive: it advances with each line's time, but a line
  earlier than the one before by more than ``STEP`` seconds (a clock step, DST end in local stamps, the next
  file) does not move it back, and the lines after it advance it from there; so nothing waits for log time to
  pass an earlier, larger timestamp. Joins of lines about one attempt also need their own times within the
  join's window, in either direction (an smtpd session is followed by pid and arrival, as a connection);
* smtpd sessions are tracked by (host, pid) from their first AUTH line to ``disconnect`` (another client
  address on that pid, or ``SMTPD_IDLE`` s of silence, starts a new one, so ``connect`` lines, a tenth of a
  busy log, need not be parsed at all); the summary adds only the attempts (and successes) that no
  per-attempt line reported;
* a Postfix failure takes over a Dovecot auth process failure from the same address logged up to
  ``AUTH_WINDOW`` s before it (Postfix uses Dovecot SASL); a Dovecot login summary of N attempts counts only
  the attempts that no auth process line reported (the auth lines, one per attempt, keep their usernames);
* a Plesk line names the user of the smtpd failure on the same host within ``PLESK_WINDOW`` s, before
  or after it;
* ``Connection lost to authentication server`` counts only after genuine failures from the same address
  within ``LOST_WINDOW`` s (Dovecot's penalty outlasting Postfix's wait), else it is informational;
* with ``admit_success`` (the caller's filter of successful logins, see ``Correlator``), only the logins it
  admits are held and released: the correlator knows no policy; it offers the policy-free fact the caller's
  filter starts from (``failed_lately``).

The state is small and bounded (old sessions and memories are evicted) and round-trips through JSON with
``to_dict()`` / ``from_dict()``, so a scan every minute continues where the last one stopped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from itertools import islice
from typing import Any, Callable

from ..addresses import normalize_ip
from ..limits import MAX_TIME
from .events import (
    AUTH_DETAIL,
    AUTH_FAILURE,
    AUTH_SERVER_LOST,
    AUTH_SUCCESS,
    NO_AUTH_ATTEMPTS,
    PLAINTEXT_REFUSED,
    PREAUTH_KINDS,
    TOO_MANY_ERRORS,
    UNATTRIBUTED_FAILURE,
    Event,
)
from .lines import AUTH_PROCESS_FAILURE as R_AUTH_PROCESS_FAILURE
from .lines import LOGIN_FAILURE as R_LOGIN_FAILURE
from .lines import LOGIN_SUCCESS as R_LOGIN_SUCCESS
from .lines import NO_AUTH as R_NO_AUTH
from .lines import PLAINTEXT_REFUSED as R_PLAINTEXT_REFUSED
from .lines import PLESK_FAILURE as R_PLESK_FAILURE
from .lines import SASL_FAILURE as R_SASL_FAILURE
from .lines import SASL_LOST as R_SASL_LOST
from .lines import SMTPD_SUCCESS as R_SMTPD_SUCCESS
from .lines import SMTPD_SUMMARY as R_SMTPD_SUMMARY
from .lines import TOO_MANY_ERRORS as R_TOO_MANY_ERRORS
from .lines import Record

_KINDS = frozenset((AUTH_FAILURE, AUTH_SUCCESS, AUTH_SERVER_LOST, NO_AUTH_ATTEMPTS, PLAINTEXT_REFUSED,
                    TOO_MANY_ERRORS, UNATTRIBUTED_FAILURE, AUTH_DETAIL))  # fmt: skip

HOLD = 15.0  # log seconds an event waits for other lines describing the same attempt
STEP = 5.0  # a line this much earlier than the one before is a clock step, not a late flush
# an event may reach the policy this long after events with later times (a failure that waited for its
# username, a line flushed late): the policy's windows still count it among them (policy/tracker.py)
LATE = HOLD + STEP
AUTH_WINDOW = 15.0  # Dovecot auth process line -> Postfix warning for the same attempt
# one password lookup asks each passdb in turn, and each one that fails logs its own auth process line: a
# lookup's lines of one session come within this many seconds (PAM alone waits 2 s before it answers)
LOOKUP_WINDOW = 10.0
PLESK_WINDOW = 5.0  # plesk_saslauthd line <-> smtpd failure
LOST_WINDOW = 600.0  # "Connection lost" counts after a genuine failure this recent
CREDIT_TTL = 600.0  # released auth process failures a later login summary may still claim
SMTPD_IDLE = 330.0  # smtpd drops a client silent for 300 s: a later line on that pid is a new session
MAX_SESSIONS = 20000
MAX_ADDRESSES = 50000
MAX_HELD = 50000
MAX_CREDITS_PER_IP = 64
MAX_PLESK_HOSTS = 1024
STATE_VERSION = 1

_COUNTED = (AUTH_FAILURE, AUTH_SUCCESS, AUTH_DETAIL)
_BATCH = 2  # _Item.pending: waits for its username until the end of the current batch only (never saved)
_PF_FAILURES = (R_SASL_FAILURE, R_SASL_LOST)
_new = tuple.__new__  # Event(...) without the Python-level NamedTuple __new__ (all fields given)
_INFO_OF = {
    R_TOO_MANY_ERRORS: TOO_MANY_ERRORS,
    R_NO_AUTH: NO_AUTH_ATTEMPTS,
    R_PLAINTEXT_REFUSED: PLAINTEXT_REFUSED,
}


# Exact JSON types of saved fields (``isinstance`` would take True for a pid and str subclasses for text).
_STR = (str,)
_INT = (int,)


def _far(when: float | None, other: float | None, window: float) -> bool:
    """Two line times (None: the line had none) more than ``window`` seconds apart, either way."""
    return when is not None and other is not None and abs(when - other) > window


def _text(value: Any) -> str | None:
    """A saved address, username or session: a string or None (ValueError for anything else)."""
    if value is None or type(value) in _STR:
        return value
    raise ValueError(f"not a string: {value!r}")


class _Session:
    """One smtpd connection (host and pid): its client address, when it was last heard of, the failures and
    logins seen on it so far (the summary line counts only the rest), and the username it tried last."""

    __slots__ = ("failures", "ip", "logins", "seen", "user")

    def __init__(
        self, ip: str | None, seen: float, failures: int = 0, logins: int = 0, user: str | None = None
    ):
        self.ip = ip
        self.seen = seen
        self.failures = failures
        self.logins = logins
        self.user = user

    def to_list(self) -> list:
        """The saved form (state ``sessions``): [ip, seen, failures, logins, user]."""
        return [self.ip, self.seen, self.failures, self.logins, self.user]

    @classmethod
    def from_list(cls, raw: list) -> _Session:
        return cls(_text(raw[0]), float(raw[1]), int(raw[2]), int(raw[3]), _text(raw[4]))


class _Lookup:
    """The password lookup an address (or one of its sessions) is in: the passdbs that answered it so far.
    Dovecot asks each passdb in turn and each one that fails logs a line: one attempt, counted once."""

    __slots__ = ("drivers", "session", "t", "user", "when")

    def __init__(self, t: float, user: str | None, driver: str, when: float | None, session: str | None):
        self.t = t  # the correlator's clock when its last line was fed
        self.user = user
        self.drivers = (driver,)  # the passdbs that answered, in order (a passdb asked again: a new lookup)
        self.when = when  # the line time of its last line
        self.session = session

    def to_list(self) -> list:
        return [self.t, self.user, list(self.drivers), self.when, self.session]

    @classmethod
    def from_list(cls, raw: list) -> _Lookup:
        drivers = tuple(_text(d) for d in raw[2])
        if not drivers or None in drivers:
            raise ValueError(f"damaged lookup: {raw!r}")
        lookup = cls(float(raw[0]), _text(raw[1]), drivers[0], None if raw[3] is None else float(raw[3]),
                     _text(raw[4]))  # fmt: skip
        lookup.drivers = drivers
        return lookup

    def takes(self, rec: Record, t: float) -> bool:
        """Whether ``rec`` (an auth process failure at ``t``) is the next passdb's answer in this lookup:
        the same username, a passdb not asked yet, from the same session (lines without one: the same
        address, as Postfix's SASL requests) within ``LOOKUP_WINDOW`` s. Without a session, lookups of
        parallel connections may interleave: a passdb answering again starts a new attempt, so no guess
        goes uncounted (Postfix's warning counts each guess the auth lines leave out) and at most one
        more is counted per interleaving (with 1 s, each lookup PAM delayed counted twice)."""
        if rec.user != self.user or rec.driver in self.drivers:
            return False
        return abs(t - self.t) <= LOOKUP_WINDOW and not _far(rec.time, self.when, LOOKUP_WINDOW)


class _Item:
    """A held event (mutable until released)."""

    __slots__ = (
        "alive",
        "claimed",
        "count",
        "driver",
        "host",
        "ip",
        "kind",
        "line",
        "out",
        "pending",
        "pid",
        "plesk",
        "protocol",
        "service",
        "session",
        "src",
        "t",
        "time",
        "user",
    )  # fmt: skip

    def __init__(self, line: int, rec: Record, t: float, kind: str, src: str) -> None:
        self.line = line
        # one unpacking instead of a field access per attribute (Record's order; its kind and extra unused)
        (self.time, _kind, self.service, self.protocol, self.ip, self.user, self.count, self.pid, self.host,
         self.session, _extra, self.driver) = rec  # fmt: skip
        self.t = t  # the correlator's clock when it was fed (newest time seen so far)
        self.kind = kind
        self.src = src  # "pf" smtpd failure, "auth" auth process failure, "plesk", "" other
        self.alive = True  # False: another line took its attempt over (never released)
        self.out = False  # released
        self.pending: Any = False  # prompt: waits for its username (True; _BATCH: until the batch ends)
        self.claimed = False  # auth item whose attempt a login summary already accounts for
        self.plesk = False  # smtpd failure that already got its Plesk line

    def event(self) -> Event:
        return _new(Event, (self.line, self.time, self.ip, self.kind, self.service, self.protocol, self.user,
                            self.count, self.pid))  # fmt: skip

    def to_list(self) -> list:
        return [self.line, self.time, self.t, self.ip, self.kind, self.service, self.protocol, self.user,
                self.count, self.pid, self.host, self.session, self.driver, self.src, self.claimed,
                self.plesk, self.pending is True]  # fmt: skip

    @classmethod
    def from_list(cls, data: list) -> _Item:
        """The item ``to_list`` saved; ValueError when a field is not what ``to_list`` writes (a damaged held
        event would otherwise fail every later scan when it is released)."""
        pending = len(data) == 17 and data[16] is True  # 16 fields: saved before issue 14
        (line, when, t, ip, kind, service, protocol, user, count, pid, host, session, driver, src, claimed,
         plesk) = data[:16] if len(data) == 17 else data  # fmt: skip
        if not (
            (when is None or (type(when) in (int, float) and 0 <= when <= MAX_TIME))
            and (ip is None or (type(ip) in _STR and normalize_ip(ip) == ip))
            and kind in _KINDS
            and all(
                v is None or type(v) in _STR for v in (service, protocol, user, host, session, driver, src)
            )
            and (pid is None or type(pid) in _INT)
        ):
            raise ValueError(f"damaged held event: {data!r}")
        rec = Record(when, "", service, protocol, ip, user, int(count), pid, host, session, 0, driver)
        item = cls(int(line), rec, float(t), kind, src)
        item.claimed = bool(claimed)
        item.plesk = bool(plesk)
        item.pending = pending
        return item


class Correlator:
    """Feed Records in log order with ``feed(record, line)``; it returns the Events now final.

    ``info=False`` drops informational kinds (the policy only needs AUTH_FAILURE and AUTH_SUCCESS), except
    the pre-auth kinds (``events.PREAUTH_KINDS``) when ``preauth`` is set (the policy counts them).
    ``admit_success(ip, user, t)``, when set, is asked about each successful login as it is fed; the login
    is dropped (never held, never released) when it says False. The correlator applies no policy of its own:
    the detector's pipeline passes its success filter here (``Pipeline``), which starts from
    ``failed_lately(ip)``: whether the correlator fed a failure from ``ip`` within ``LOST_WINDOW`` s or since
    the last ``settled()`` call (the caller calls it once it has counted every event released so far).
    ``prompt`` releases each event as its line is read (see the module's docstring); ``needs_user(ip)`` (the
    policy: ``Tracker.needs_user``) says whether a failure from ``ip`` must wait for its username, asked
    only when one may still come. An address that logged in since ``settled()`` is asked about too: its
    login is not in the policy's memory yet.
    """

    def __init__(
        self,
        *,
        info: bool = True,
        admit_success: Callable[[str, str | None, float], bool] | None = None,
        preauth: bool = False,
        prompt: bool = False,
        needs_user: Callable[[str], bool] | None = None,
    ) -> None:
        self.info = info
        self.preauth = preauth
        self._released = _COUNTED + tuple(PREAUTH_KINDS) if preauth else _COUNTED  # kinds kept without info
        self.admit_success = admit_success
        self.prompt = prompt
        self.needs_user = needs_user
        self.last_time = 0.0  # the clock: arrival order (see the module's docstring), never decreasing
        self._ref = 0.0  # the line time the clock last moved with
        self._held: deque[_Item] = deque()
        # smtpd sessions: "host|pid" -> [ip, last activity, failures seen, successes seen, user]
        self._sessions: dict[str, _Session] = {}
        self._genuine: dict[str, float] = {}  # ip -> time of its last genuine failure
        self._genuine_at: dict[str, float | None] = {}  # ip -> its line time
        self._genuine_floor: float | None = None  # no time in _genuine is older (None: not known)
        self._evicted: set[str] = set()  # (with admit_success) _genuine's entries evicted since settled()
        self._overflowed = False  # _genuine lost recent entries to its size bound: keep every login now
        # ip -> [[t, user, session, line time]] released auth failures
        self._credits: dict[str, list[list]] = {}
        self._auth_held: dict[str, list[_Item]] = {}  # ip -> held, unclaimed auth process failures
        # ip, or "ip <session>" when the line names its session -> the password lookup it is in
        self._last_auth: dict[str, _Lookup] = {}
        self._pf_recent: dict[str, deque[_Item]] = {}  # host -> smtpd failures a Plesk line may name
        self._pf_named: dict[
            str, deque[_Item]
        ] = {}  # host -> those of them with a username (see _plesk_target)
        self._plesk_held: dict[str, deque[_Item]] = {}  # host -> held Plesk lines waiting for smtpd
        self._plesk_hosts: dict[str, None] = {}  # hosts whose plesk_saslauthd names users (insertion order)
        self._waiting: dict[str, deque[_Item]] = {}  # prompt: ip -> its unreleased items, a pending one first
        self._logged_in: set[str] = set()  # prompt: addresses with a login released since settled()
        self._serviced: dict[str, str] = {}  # prompt: ip -> the service its last detail named
        self._batch: list[_Item] = []  # prompt: failures that wait for their username until feed_all ends
        self._out: list = []  # where the handlers release to (feed_all's out)
        self._fed = 0

    # --- public -------------------------------------------------------------------------------------------
    def feed(self, rec: Record, line: int) -> list[Event]:
        """Take one record (``line`` = its line number); return the events released by it."""
        out: list[Event] = []
        self.feed_all((rec,), (line,), out)
        return out

    def feed_all(  # noqa: PLR0912, PLR0915 - hot loop: the dispatch is inlined (make bench)
        self,
        records: Iterable[Record],
        lines: Iterable[int],
        out: list,
    ) -> None:
        """``feed`` for each of ``records`` in order, numbered by ``lines`` (as many), appending the released
        events to ``out``: the hot loop of a scan, with the correlator's own fields kept in locals."""
        held = self._held
        release = self._release
        session = self._session
        info = self.info
        preauth = self.preauth
        t = self.last_time
        ref = self._ref
        fed = self._fed
        self._out = out
        for rec, line in zip(records, lines):
            when = rec.time
            if when is not None:
                if when > ref:
                    # the clock moves on with the lines (the first line sets it: ref and t start at 0)
                    self.last_time = t = t + (when - ref) if ref else when
                    self._ref = ref = when
                elif when < ref - STEP:
                    # a clock step back (NTP, DST end), or another file: the clock stays and the next lines
                    # move it on from here, so nothing waits for log time to pass the earlier stamps
                    self._ref = ref = when
            # windows run on this clock: lines without a time, or slightly out of order (another process
            # flushed later), count as "now", and every lookup agrees with what eviction keeps. Held items
            # are in feeding order with the clock of their feeding (never decreasing), so releasing from the
            # front here leaves only items this record (fed at ``t``) cannot outdate.
            cutoff = t - HOLD
            if held and held[0].t < cutoff:
                release(cutoff, out)
            kind = rec.kind  # the most frequent kinds first
            if kind in _PF_FAILURES:
                self._smtpd_failure(rec, line, t)
            elif kind == R_LOGIN_SUCCESS:
                self._success(rec, line, t)
            elif kind == R_AUTH_PROCESS_FAILURE:
                self._auth_failure(rec, line, t)
            elif kind == R_SMTPD_SUCCESS:
                sess = session(rec, t)
                if sess.logins == 0:  # one AUTH per session; later client= lines are further messages
                    sess.logins = 1  # marked even when the login is dropped: the summary must not report it
                    sess.user = rec.user
                    self._success(rec, line, t)
            elif kind == R_PLESK_FAILURE:
                self._plesk(rec, line, t)
            elif kind == R_SMTPD_SUMMARY:
                self._summary(rec, line, t)
            elif kind == R_LOGIN_FAILURE:
                self._login_failure(rec, line, t)
            elif info or preauth:
                info_kind = _INFO_OF.get(kind)
                if info_kind is not None and (info or info_kind in PREAUTH_KINDS):
                    if kind == R_TOO_MANY_ERRORS:
                        session(rec, t)
                    self._put(_Item(line, rec, t, info_kind, ""))
            fed += 1
            if fed & 4095 == 0:
                self._evict()
                if len(held) > MAX_HELD:  # the memory bound (a log whose clock stands still), at times
                    release(cutoff, out)
        self._fed = fed
        if self._batch:
            for item in self._batch:
                if item.pending == _BATCH and item.alive and not item.out:
                    self._settle(item, out)
            self._batch = []
        self._out = []

    def settled(self) -> None:
        """The caller has counted every event released so far: ``failed_lately`` forgets the failures
        evicted before, and the failures that wait for a username no longer ask about this batch's logins."""
        self._evicted.clear()
        self._logged_in.clear()

    def flush(self, until: float | None = None) -> list[Event]:
        """Release held events: all of them (the end of the input), or those whose own line time (the clock
        when they had none) is older than ``until`` (the end of a scan: what no later line can change; an
        earlier, larger timestamp holds nothing)."""
        out: list[Event] = []
        held = self._held
        if until is None:
            self._release(float("inf"), out)
            return out
        kept: deque[_Item] = deque()
        for item in held:
            if not item.alive or item.out:
                continue
            if item.pending == _BATCH:  # (a flush from inside a batch: nothing calls one)
                item.pending = True
            when = item.time if item.time is not None else item.t
            if when < until:
                self._settle(item, out)
            if not item.out and item.alive:
                kept.append(item)
        self._held = kept
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state (held events included): bounded by the eviction limits."""
        self._evict()
        return {
            "version": STATE_VERSION,
            "last_time": self.last_time,
            "ref": self._ref,
            "sessions": {key: sess.to_list() for key, sess in self._sessions.items()},
            "genuine": self._genuine,
            "genuine_at": self._genuine_at,
            "credits": self._credits,
            "lookups": {key: lookup.to_list() for key, lookup in self._last_auth.items()},
            "plesk_hosts": list(self._plesk_hosts),
            "held": [item.to_list() for item in self._held if item.alive and not item.out],
        }

    @classmethod
    def from_dict(
        cls, data: Any, *, info: bool = True, preauth: bool = False, prompt: bool = False
    ) -> Correlator:
        """Rebuild from ``to_dict()`` output; anything unreadable gives a fresh correlator (never raises).
        The keys issue 14 added (``ref``, ``genuine_at``, ``plesk_hosts``, a credit's line time, a held
        item's ``pending``) and ``lookups`` (the password lookups of the last ``LOOKUP_WINDOW`` s) are
        optional: a state saved before them is read as it was."""
        corr = cls(info=info, preauth=preauth, prompt=prompt)
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            return corr
        try:
            corr.last_time = float(data.get("last_time") or 0.0)
            corr._ref = float(data.get("ref", corr.last_time) or 0.0)
            corr._sessions = {str(k): _Session.from_list(v) for k, v in data["sessions"].items()}
            corr._genuine = {str(k): float(v) for k, v in data["genuine"].items()}
            corr._genuine_at = {
                str(k): None if v is None else float(v) for k, v in data.get("genuine_at", {}).items()
            }
            corr._credits = {
                str(k): [
                    [
                        float(c[0]),
                        _text(c[1]),
                        _text(c[2]),
                        None if len(c) < 4 or c[3] is None else float(c[3]),
                    ]
                    for c in v
                ]
                for k, v in data["credits"].items()
            }
            corr._plesk_hosts = dict.fromkeys(_text(h) for h in data.get("plesk_hosts", ()))
            corr._last_auth = {str(k): _Lookup.from_list(v) for k, v in data.get("lookups", {}).items()}
            for raw in data["held"]:
                item = _Item.from_list(raw)
                corr._held.append(item)
                corr._index(item)
        # OverflowError: float() of a huge integer, int() of an infinity
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError):
            return cls(info=info, preauth=preauth, prompt=prompt)
        return corr

    # --- handlers -----------------------------------------------------------------------------------------
    def _session(self, rec: Record, t: float) -> _Session:
        key = f"{rec.host}|{rec.pid}"
        sess = self._sessions.get(key)
        if sess is None or sess.ip != rec.ip or t - sess.seen > SMTPD_IDLE:
            sess = self._sessions[key] = _Session(rec.ip, t)
        else:
            sess.seen = t
        return sess

    def _smtpd_failure(self, rec: Record, line: int, t: float) -> None:  # noqa: PLR0912, PLR0915 - every smtpd failure shape in one place
        sess = self._session(rec, t)
        sess.failures += 1
        ip = rec.ip
        user = rec.user
        when = rec.time
        counted = True
        if rec.kind == R_SASL_LOST:
            counted = self._genuine.get(ip, -1e18) >= t - LOST_WINDOW and not _far(
                when, self._genuine_at.get(ip), LOST_WINDOW
            )
        else:
            self._genuine[ip] = t
            self._genuine_at[ip] = when
        taken = self._take_auth(ip, user, t, when) if ip in self._auth_held or ip in self._credits else None
        if taken is not None:
            user = user or taken[0]
            if taken[1]:  # the auth process line was already released and counted
                if user:
                    sess.user = user  # the summary's uncounted attempts are this user's too
                # what this line adds: Postfix's service (the username is the auth line's), once per address
                # and service while the correlator remembers the address failing (a detail per attempt of an
                # attack through Dovecot SASL would add nothing but work)
                serviced = self._serviced
                if self.prompt and serviced.get(ip) != rec.service:
                    serviced[ip] = rec.service
                    detail = _Item(line, rec, t, AUTH_DETAIL, "")
                    detail.user = user
                    detail.count = 0
                    self._put(detail)
                return
        if not counted and not self.info:
            return
        item = _Item(line, rec, t, AUTH_FAILURE if counted else AUTH_SERVER_LOST, "pf")
        item.user = user
        if counted:
            plesk = self._take_plesk(rec.host, user, t, when) if self._plesk_held else None
            if plesk is not None:
                item.plesk = True
                item.user = user or plesk
            recent = self._pf_recent.get(rec.host)
            if recent is None:
                recent = self._pf_recent[rec.host] = deque()
            while recent and recent[0].t < t - PLESK_WINDOW:  # bounded even where no Plesk line ever comes
                recent.popleft()
            recent.append(item)
            if item.user is not None and not item.plesk:
                named = self._pf_named.get(rec.host)
                if named is None:
                    named = self._pf_named[rec.host] = deque()
                while named and named[0].t < t - PLESK_WINDOW:  # bounded too
                    named.popleft()
                named.append(item)
            if self.prompt and item.user is None and rec.host in self._plesk_hosts:
                # its username may still come: when the policy's judgement needs it, the failure waits for it
                # (at most HOLD); else until the end of this batch (the policy counts a batch after it: no
                # later reaction, and a username that comes in the batch needs no detail event)
                if ip in self._logged_in or (self.needs_user is not None and self.needs_user(ip)):
                    item.pending = True
                else:
                    item.pending = _BATCH
                    self._batch.append(item)
        if item.user:
            sess.user = item.user
        if self.prompt and not item.pending and ip not in self._waiting:  # _put and _emit, inlined
            item.out = True
            if self.info or counted:
                self._out.append(item.event())
        else:
            self._put(item)

    def _success(self, rec: Record, line: int, t: float) -> None:
        """Hold a successful login, unless the caller's ``admit_success`` turns it away."""
        admit = self.admit_success
        if admit is None or admit(rec.ip, rec.user, t):
            self._put(_Item(line, rec, t, AUTH_SUCCESS, ""))

    def failed_lately(self, ip: str) -> bool:
        """Whether a failure from ``ip`` was fed within ``LOST_WINDOW`` s or since the last ``settled()``
        (True for every address once the failure memory overflowed: it may have lost one). A fact of the
        log, the starting point of a success filter: such a login may follow a guessed password."""
        return self._overflowed or ip in self._genuine or ip in self._evicted

    def _take_auth(self, ip: str, user: str | None, t: float, when: float | None) -> tuple | None:
        """Claim the auth process failure behind an smtpd failure: (user, already released) or None."""
        items = self._auth_held.get(ip)
        if items:
            for idx, item in enumerate(items):
                if (
                    item.session is None
                    and t - item.t <= AUTH_WINDOW
                    and (user is None or user == item.user)
                    and not _far(when, item.time, AUTH_WINDOW)
                ):
                    del items[idx]
                    item.alive = False
                    return item.user, False
        credits = self._credits.get(ip)
        if credits:
            for idx, (ct, cuser, csession, cwhen) in enumerate(credits):
                if (
                    csession is None
                    and 0 <= t - ct <= AUTH_WINDOW
                    and (user is None or user == cuser)
                    and not _far(when, cwhen, AUTH_WINDOW)
                ):
                    del credits[idx]
                    return cuser, True
        return None

    def _auth_failure(self, rec: Record, line: int, t: float) -> None:
        ip = rec.ip
        when = rec.time
        self._genuine[ip] = t
        self._genuine_at[ip] = when
        key = ip if rec.session is None else f"{ip} <{rec.session}>"
        lookup = self._last_auth.get(key)
        if lookup is not None and lookup.takes(rec, t):
            # the next passdb of the same lookup ("unknown user" from each passdb): its attempt counts once
            lookup.drivers += (rec.driver,)
            lookup.t, lookup.when = t, when
            return
        self._last_auth[key] = _Lookup(t, rec.user, rec.driver, when, rec.session)
        item = _Item(line, rec, t, AUTH_FAILURE, "auth")
        self._put(item)
        if not item.out:
            self._auth_held.setdefault(ip, []).append(item)

    def _login_failure(self, rec: Record, line: int, t: float) -> None:
        ip = rec.ip
        when = rec.time
        self._genuine[ip] = t
        self._genuine_at[ip] = when
        need = rec.count
        items = self._auth_held.get(ip)
        credits = self._credits.get(ip)
        if not items and not credits:  # the usual line: no auth process line of this address to take over
            if need > 0:
                self._release_login_failure(rec, line, t, need)
            return
        span = min(rec.extra + 5, CREDIT_TTL) if rec.extra >= 0 else CREDIT_TTL
        since = t - span
        # auth process lines of this session: same session id first, then lines without one
        if items:
            for want in (rec.session, None) if rec.session is not None else (None,):
                keep = []
                for item in items:
                    if (
                        need > 0
                        and item.session == want
                        and item.t >= since
                        and not _far(when, item.time, span)
                    ):
                        need -= 1
                        item.claimed = True
                        item.protocol = rec.protocol
                    else:
                        keep.append(item)
                items[:] = keep
        if credits and need > 0:
            keep_c = []
            for c in credits:
                if (
                    need > 0
                    and c[0] >= since
                    and (c[2] is None or c[2] == rec.session)
                    and not _far(when, c[3], span)
                ):
                    need -= 1
                else:
                    keep_c.append(c)
            credits[:] = keep_c
        if need > 0:
            self._release_login_failure(rec, line, t, need)

    def _release_login_failure(self, rec: Record, line: int, t: float, need: int) -> None:
        """The ``need`` attempts of a login summary that no auth process line reported: an Event at once
        when nothing of its address waits (``_put`` and ``_emit`` of a new item, inlined: no item is
        needed, as no later line joins a login summary), else a held item."""
        if self.prompt and rec.ip not in self._waiting:
            self._out.append(_new(Event, (line, rec.time, rec.ip, AUTH_FAILURE, rec.service, rec.protocol,
                                          rec.user, need, rec.pid)))  # fmt: skip
            return
        item = _Item(line, rec, t, AUTH_FAILURE, "")
        item.count = need
        self._put(item)

    def _summary(self, rec: Record, line: int, t: float) -> None:
        sess = self._sessions.pop(f"{rec.host}|{rec.pid}", None)
        if sess is not None and (sess.ip != rec.ip or t - sess.seen > SMTPD_IDLE):
            sess = None
        seen_fail, seen_ok, user = (sess.failures, sess.logins, sess.user) if sess else (0, 0, None)
        extra = rec.count - seen_fail
        if extra > 0:
            self._genuine[rec.ip] = t
            self._genuine_at[rec.ip] = rec.time
            item = _Item(line, rec, t, AUTH_FAILURE, "")
            item.count = extra
            item.user = user
            self._put(item)
        ok = rec.extra - seen_ok
        if ok > 0:
            item = _Item(line, rec, t, AUTH_SUCCESS, "")
            item.count = ok
            self._put(item)

    def _plesk(self, rec: Record, line: int, t: float) -> None:
        host = rec.host
        when = rec.time
        hosts = self._plesk_hosts
        if host not in hosts:
            if len(hosts) >= MAX_PLESK_HOSTS:
                del hosts[next(iter(hosts))]
            hosts[host] = None
        recent = self._pf_recent.get(host)
        if recent:
            while recent and (recent[0].t < t - PLESK_WINDOW or not recent[0].alive or recent[0].plesk):
                recent.popleft()
            chosen = self._plesk_target(recent, host, rec.user, when, t)
            if chosen is not None:
                chosen.plesk = True
                if chosen.user is None:
                    chosen.user = rec.user
                    if chosen.out:  # released without its username (prompt): the username as detail
                        event = (chosen.line, chosen.time, chosen.ip, AUTH_DETAIL, chosen.service,
                                 chosen.protocol, rec.user, 0, chosen.pid)  # fmt: skip
                        if chosen.ip in self._waiting:  # behind a later failure of its address that waits
                            detail = _Item(chosen.line, rec, chosen.t, AUTH_DETAIL, "")
                            (detail.time, detail.ip, _k, detail.service, detail.protocol, detail.user,
                             detail.count, detail.pid) = event[1:]  # fmt: skip
                            self._put(detail)
                        else:
                            self._out.append(_new(Event, event))
                    elif chosen.pending:  # complete now: out at once, with what its address queued behind it
                        self._settle(chosen, self._out)
                return
        item = _Item(line, rec, t, UNATTRIBUTED_FAILURE, "plesk")
        waiting = self._plesk_held.setdefault(host, deque())
        while waiting and (waiting[0].t < t - PLESK_WINDOW or not waiting[0].alive):
            waiting.popleft()
        waiting.append(item)
        self._put(item)

    def _plesk_target(
        self, recent: deque[_Item], host: str, user: str | None, when: float | None, t: float
    ) -> _Item | None:
        """The smtpd failure a Plesk line of ``user`` names, of those in ``recent`` (the host's of the last
        PLESK_WINDOW seconds, none named by a Plesk line yet, times within PLESK_WINDOW): the newest one of
        that user (Postfix >= 3.9 names it), else the newest one without a username.

        The failures with a username are also kept apart (``_pf_named``): where Postfix names none (the usual
        host) the newest failure is taken at once, instead of reading every failure of the last
        PLESK_WINDOW seconds in search of a named one (tests/unit/parser/test_correlate_plesk.py holds the
        plain search over ``recent`` as the reference).
        """
        named = self._pf_named.get(host)
        while named and (named[0].t < t - PLESK_WINDOW or named[0].plesk):
            named.popleft()
        if named and user is not None:
            for item in reversed(named):
                if not item.plesk and item.user == user and not _far(when, item.time, PLESK_WINDOW):
                    return item
        for item in reversed(recent):
            if item.plesk or item.user is not None:
                continue
            it_time = item.time  # _far(when, item.time, PLESK_WINDOW), inlined: each Plesk line
            if when is not None and it_time is not None and abs(when - it_time) > PLESK_WINDOW:
                continue
            return item
        return None

    def _take_plesk(self, host: str, user: str | None, t: float, when: float | None) -> str | None:
        waiting = self._plesk_held.get(host)
        if not waiting:
            return None
        while waiting and (waiting[0].t < t - PLESK_WINDOW or not waiting[0].alive):
            waiting.popleft()
        for item in waiting:
            if (user is None or item.user == user) and not _far(when, item.time, PLESK_WINDOW):
                item.alive = False
                waiting.remove(item)
                return item.user
        return None

    # --- plumbing -----------------------------------------------------------------------------------------
    def _put(self, item: _Item) -> None:
        """A new item: held (without ``prompt``; a Plesk line waiting for its smtpd line; an item queued
        behind a pending one of its address; a pending one), else released at once."""
        if not self.prompt:
            self._held.append(item)
            return
        ip = item.ip
        queue = self._waiting.get(ip) if ip is not None else None
        if queue is not None:
            queue.append(item)
            self._held.append(item)
        elif item.pending:
            self._waiting[ip] = deque((item,))
            if item.pending is True:  # (one that waits until the batch ends is released by feed_all)
                self._held.append(item)
        elif item.src == "plesk":
            self._held.append(item)
        else:
            self._emit(item, self._out)

    def _emit(self, item: _Item, out: list) -> None:
        """Release one item (an auth process failure leaves its credit for a later login summary)."""
        item.out = True
        ip = item.ip
        if item.src == "auth":
            items = self._auth_held.get(ip)
            if items and item in items:
                items.remove(item)
            if not items:
                self._auth_held.pop(ip, None)
            if not item.claimed:
                credits = self._credits.setdefault(ip, [])
                credits.append([item.t, item.user, item.session, item.time])
                if len(credits) > MAX_CREDITS_PER_IP:
                    del credits[0]
        kind = item.kind
        if kind == AUTH_SUCCESS and self.prompt:
            self._logged_in.add(ip)
        if self.info or kind in self._released:
            out.append(_new(Event, (item.line, item.time, ip, kind, item.service, item.protocol, item.user,
                                    item.count, item.pid)))  # item.event(), inlined  # fmt: skip

    def _settle(self, item: _Item, out: list) -> None:
        """``item`` waits no longer (complete, its time is up, or a flush): release it, then what its address
        queued behind it, up to the next item that still waits."""
        item.pending = False
        ip = item.ip
        queue = self._waiting.get(ip) if ip is not None else None
        if queue is None:
            if item.alive and not item.out:
                self._emit(item, out)
            return
        while queue and not (queue[0].pending and queue[0].alive):
            head = queue.popleft()
            if head.alive and not head.out:
                self._emit(head, out)
        if not queue:
            del self._waiting[ip]

    def _index(self, item: _Item) -> None:
        """Re-link a held item restored from state into the lookup tables (a held failure's address is a
        failing one, whatever the saved ``genuine`` table kept)."""
        if item.kind == AUTH_FAILURE and item.ip is not None:
            self._genuine.setdefault(item.ip, item.t)
            self._genuine_at.setdefault(item.ip, item.time)
        if self.prompt and item.ip is not None and (item.pending or item.ip in self._waiting):
            self._waiting.setdefault(item.ip, deque()).append(item)
        if item.src == "auth" and not item.claimed:
            self._auth_held.setdefault(item.ip, []).append(item)
        elif item.src == "plesk":
            self._plesk_held.setdefault(item.host, deque()).append(item)
        elif item.src == "pf" and item.kind == AUTH_FAILURE and not item.plesk:
            self._pf_recent.setdefault(item.host, deque()).append(item)
            if item.user is not None:
                self._pf_named.setdefault(item.host, deque()).append(item)

    def _release(self, cutoff: float, out: list[Event]) -> None:
        """Release the held items fed before ``cutoff`` (and the oldest past ``MAX_HELD``)."""
        held = self._held
        popleft = held.popleft
        settle = self._settle if self.prompt else self._emit
        while held and (held[0].t < cutoff or len(held) > MAX_HELD):
            item = popleft()
            if item.alive and not item.out:
                settle(item, out)

    def _evict_genuine(self, old: float) -> None:
        """Drop ``_genuine``'s entries older than ``old``, then its oldest-inserted ones past
        ``MAX_ADDRESSES``, keeping the others in their order.

        ``_genuine_floor`` is a lower bound of its times (every time written is the correlator's clock, which
        never goes back): when it is not older than ``old`` nothing is stale and the table is not read at
        all, so an attack of many addresses within ``LOST_WINDOW`` costs only the overflow's deletions
        instead of a copy of the whole table every ``feed_all`` period.
        """
        genuine = self._genuine
        gone: list = []
        floor = self._genuine_floor
        if floor is None or floor < old:
            gone = [k for k, v in genuine.items() if v < old]
            for k in gone:
                del genuine[k]
        excess = len(genuine) - MAX_ADDRESSES
        if excess > 0:
            oldest = list(islice(genuine, excess))
            for k in oldest:
                del genuine[k]
            gone += oldest
            self._overflowed = True  # maybe the address of a held failure: the policy has not seen it
        at = self._genuine_at
        serviced = self._serviced
        for k in gone:
            at.pop(k, None)
            serviced.pop(k, None)
        if floor is None or floor < old:
            earliest = min(genuine.values(), default=self.last_time)
            self._genuine_floor = min(earliest, self.last_time)
        if self.admit_success is not None and gone:
            # released, but maybe not counted by the policy yet: a failing address until settled()
            self._evicted.update(gone)

    def _evict(self) -> None:
        now = self.last_time
        if self._sessions:
            old = now - SMTPD_IDLE  # an idle session is dead anyway (see _session)
            self._sessions = {k: v for k, v in self._sessions.items() if v.seen >= old}
            while len(self._sessions) > MAX_SESSIONS:
                del self._sessions[next(iter(self._sessions))]
        if self._genuine:
            self._evict_genuine(now - LOST_WINDOW)
        if self._credits:
            old = now - CREDIT_TTL
            credits = {}
            for ip, lst in self._credits.items():
                kept = [c for c in lst if c[0] >= old]
                if kept:
                    credits[ip] = kept
            self._credits = credits
            while len(self._credits) > MAX_ADDRESSES:
                del self._credits[next(iter(self._credits))]
        if self._last_auth:
            old = now - LOOKUP_WINDOW  # only the next passdb's line of the same lookup is compared with it
            self._last_auth = {k: v for k, v in self._last_auth.items() if v.t >= old}
            # one per session: bounded like the sessions (a flood of them while the clock stands still); a
            # lookup forgotten early only counts its next passdb's line as an attempt of its own
            while len(self._last_auth) > MAX_SESSIONS:
                del self._last_auth[next(iter(self._last_auth))]
        if len(self._genuine_at) > len(self._genuine):  # a failure's line time outlives nothing else
            self._genuine_at = {k: v for k, v in self._genuine_at.items() if k in self._genuine}
        for table in (self._pf_recent, self._pf_named, self._plesk_held):
            for host in [h for h, q in table.items() if not q or q[-1].t < now - HOLD]:
                del table[host]
