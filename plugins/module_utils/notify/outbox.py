"""The outbox: ``notify-outbox.json`` in the state directory, the small persistent queue between the scan
(which raises alerts after its bans are applied and only writes this file: no network, no child process)
and the delivery run (``mail-bruteforce-guard notify``, started by the role's path unit when the file
changes and by its timer for retries).

* De-duplication: one ``compromised``/``targeted`` alert per account and one ``failure`` per component per
  ``alert_interval`` (the accounts stay in alert for as long as the policy's window holds them). Bans and
  unbans are each told.
* Rate limit: at most ``alert_rate_limit`` messages per notifier and hour; what is due beyond it (or
  ``alert_digest_min`` alerts due at once) goes out as one digest message when the notifier may send again.
* Retries: a failed message stays queued (next try after 1, 2, 4 ... 60 minutes); an entry older than
  ``MAX_AGE`` or beyond ``MAX_QUEUE`` entries is dropped with a syslog error (the syslog line of the alert
  itself was written when it was raised). The file is written atomically; the delivery run holds the lock
  only to read and to write it, never while sending, so a scan never waits for a slow receiver.
"""

from __future__ import annotations

import errno
import fcntl
import json
import math
import os
import secrets
import syslog
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Callable, NamedTuple

from ..errors import MbgError
from .events import (
    KINDS,
    SYSLOG_IDENT,
    Alert,
    Alerts,
    BanBurst,
    from_json,
    severity_rank,
    syslog_line,
    to_json,
)
from .settings import Notifier, notifiers

OUTBOX = "notify-outbox.json"
WAKE = "notify.wake"  # touched when alerts were queued: the role's path unit starts the delivery
LOCK = "notify.lock"
MAX_QUEUE = 5000
MAX_AGE = 7 * 86400
MAX_DIGEST = 500  # alerts in one digest message; more go in the next
LEASE = 900  # seconds an entry being sent is hidden from another delivery run
RETRY_FIRST, RETRY_CAP = 60, 3600
DEDUPED = ("compromised", "targeted", "failure")
_SYSLOG_LEVEL = {
    "info": syslog.LOG_INFO,
    "notice": syslog.LOG_NOTICE,
    "warning": syslog.LOG_WARNING,
    "error": syslog.LOG_ERR,
    "critical": syslog.LOG_CRIT,
}

Warn = Callable[[str], None]


class Outcome(NamedTuple):
    """What one delivery run did (``mail-bruteforce-guard notify --json``)."""

    delivered: int  # alerts that got through
    messages: int  # messages sent (a digest is one)
    failed: int  # alerts whose message failed (kept for a retry)
    dropped: int  # alerts given up (too old, notifier gone)
    queued: int  # alerts left in the queue
    errors: list


def _empty() -> dict[str, Any]:
    return {"version": 1, "queue": [], "sent": {}, "rate": {}, "counts": {}}


def _log(level: int, line: str, enabled: bool) -> None:
    if enabled:
        syslog.openlog(SYSLOG_IDENT, syslog.LOG_PID, syslog.LOG_AUTHPRIV)
        syslog.syslog(level, line)


class Outbox:
    """The outbox file of one state directory, used under its own lock (``with Outbox(...) as box``)."""

    def __init__(self, state_dir: str, warn: Warn, wait: float = 30.0) -> None:
        self.dir = state_dir
        self.path = str(Path(state_dir) / OUTBOX)
        self.warn = warn
        self.wait = wait
        self._fd = -1
        self.data: dict[str, Any] = _empty()
        self.repaired = False  # damaged entries were set aside: the next save drops them from the file

    def __enter__(self) -> Outbox:
        Path(self.dir).mkdir(mode=0o700, parents=True, exist_ok=True)
        self._fd = os.open(
            str(Path(self.dir) / LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600
        )
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                    os.close(self._fd)
                    raise MbgError(f"the notify outbox in {self.dir} stays locked") from None
                time.sleep(0.05)
        self.data = self._load()
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self._fd)  # releases the lock
        self._fd = -1

    def _load(self, quarantine: bool = True) -> dict[str, Any]:
        try:
            data = json.loads(Path(self.path).read_bytes().decode("utf-8"))
        except FileNotFoundError:
            return _empty()
        except (OSError, ValueError) as err:
            data = None
            why = str(err)
        else:
            why = "not an outbox"
        if isinstance(data, dict) and isinstance(data.get("queue"), list):
            base = _empty()
            base.update({k: v for k, v in data.items() if isinstance(v, type(base.get(k, v)))})
            sound = [e for e in base["queue"] if _sound(e)]
            damaged = len(base["queue"]) - len(sound)
            if damaged and quarantine:  # kept aside for a look, never retried: one can poison a digest
                aside = f"{self.path}.damaged-{int(time.time())}"
                fd = os.open(
                    aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
                )
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump([e for e in base["queue"] if not _sound(e)], handle)
                self.repaired = True
                self.warn(f"notify outbox {self.path}: {damaged} damaged entries moved to {aside}")
            base["queue"] = sound
            base["counts"] = {
                name: {k: n for k, n in table.items() if _number(n)}
                for name, table in base["counts"].items()
                if isinstance(table, dict)
            }
            base["sent"] = {k: t for k, t in base["sent"].items() if _number(t)}
            base["rate"] = {
                k: [t for t in v if _number(t)] for k, v in base["rate"].items() if isinstance(v, list)
            }
            return base
        if not quarantine:  # a read-only look (status --check) changes nothing
            return _empty()
        aside = f"{self.path}.damaged-{int(time.time())}"
        Path(self.path).replace(aside)
        self.warn(f"notify outbox {self.path} was damaged ({why[:100]}): moved to {aside}, starting empty")
        return _empty()

    def save(self) -> None:
        """Atomic: temp file, fsync, rename (the path unit watching the file sees the rename)."""
        tmp = f"{self.path}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(json.dumps(self.data, separators=(",", ":")).encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(self.path)

    def wake(self) -> None:
        """Touch the doorbell file (the path unit watches it; the outbox itself changes on every delivery)."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
        with os.fdopen(os.open(str(Path(self.dir) / WAKE), flags, 0o600), "w") as handle:
            handle.write(f"{time.time():.3f}\n")

    def count(self, name: str, kind: str, n: int = 1) -> None:
        table = self.data["counts"].setdefault(name, {})
        table[kind] = table.get(kind, 0) + n


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _sound(entry: Any) -> bool:
    """An entry delivery can use: the fields it reads, finite times (NaN would never be due nor too old)
    and an alert that can be rebuilt."""
    if not (
        isinstance(entry, dict)
        and isinstance(entry.get("id"), str)
        and isinstance(entry.get("notifier"), str)
        and isinstance(entry.get("alert"), dict)
        and _number(entry.get("next"))
        and _number(entry.get("first"))
        and isinstance(entry.get("tries", 0), int)
        and isinstance(entry.get("error", ""), str)
    ):
        return False
    try:
        from_json(entry["alert"])
    except ValueError:
        return False
    return True


def _clamp(data: dict[str, Any], now: float) -> None:
    """A clock that went back (a wrong time corrected): times ahead of ``now`` would hold de-duplication,
    the rate limit and retries for as long as the jump. Each is brought back to ``now`` at most (a retry
    or lease to ``now``: due at once)."""
    sent = data["sent"]
    for key, when in sent.items():
        if when > now:
            sent[key] = now
    for name, times in data["rate"].items():
        data["rate"][name] = [min(t, now) for t in times]
    for entry in data["queue"]:
        entry["first"] = min(entry["first"], now)
        if entry["next"] > now + max(LEASE, RETRY_CAP):
            entry["next"] = now


# ---- raising (the scan, the failure unit) -----------------------------------------------------------


def raise_alerts(config: Any, alerts: Iterable[Alert], *, now: float, warn: Warn) -> list[Alert]:
    """Log each alert to syslog and queue it for every notifier that wants it, after de-duplication.
    Returns the alerts that were told (not de-duplicated away). Never sends anything itself."""
    told: list[Alert] = []
    queue_alerts(config, alerts, now=now, warn=warn, told=told.append)
    return told


def queue_alerts(
    config: Any,
    alerts: Iterable[Alert],
    *,
    now: float,
    warn: Warn,
    told: Callable[[Alert], None] | None = None,
) -> int:
    """:func:`raise_alerts` reading ``alerts`` once, one at a time (an ``events.Alerts`` makes each ban's
    Alert as it is read): returns how many were told, and passes each to ``told`` when given. The queue is
    cut to ``MAX_QUEUE`` as it grows, not only at the end: what is kept is the same (the highest severity,
    the newest within one), without ever holding the entries of a storm of bans."""
    if not alerts:
        return 0
    count = 0
    use_syslog = config.syslog
    with Outbox(config.state_dir, warn) as box:
        _clamp(box.data, now)
        sent = box.data["sent"]
        for key in [
            k for k, t in sent.items() if not isinstance(t, (int, float)) or now - t >= config.alert_interval
        ]:
            del sent[key]
        wanted = notifiers(config.as_dict())
        by_kind = {kind: [n.name for n in wanted if n.wants(kind)] for kind in KINDS}
        queue = box.data["queue"]
        added = dropped = 0
        had_counts = "alerts" in box.data["counts"]
        counts = box.data["counts"].setdefault("alerts", {})
        # no syslog line, no notifier and no caller takes a ban alert: a burst of bans is only counted, none
        # of its alerts made (a scan of 100,000 new bans made 100,000 for nothing)
        bans_only_counted = told is None and not use_syslog and not by_kind["ban"] and "ban" not in DEDUPED

        def count_bans(bans: int) -> None:
            nonlocal count
            count += bans
            counts["ban"] = counts.get("ban", 0) + bans

        for alert in _readable(alerts, count_bans if bans_only_counted else None):
            kind = alert.kind
            if kind in DEDUPED:
                if alert.key in sent:
                    continue
                sent[alert.key] = now
            count += 1
            if told is not None:
                told(alert)
            counts[kind] = counts.get(kind, 0) + 1
            if use_syslog:
                _log(_SYSLOG_LEVEL[alert.severity], syslog_line(alert), True)
            names = by_kind[kind]
            if names:
                added += _enqueue(queue, names, alert, now)
                if len(queue) >= 2 * MAX_QUEUE:
                    dropped += _cut(queue)
        dropped += _cut(queue)
        if dropped:
            box.count("dropped", "overflow", dropped)
            _log(
                syslog.LOG_ERR,
                f"notify outbox full: dropped the {dropped} oldest queued alerts of the lowest severity",
                use_syslog,
            )
        if not had_counts and not counts:
            del box.data["counts"]["alerts"]
        box.save()
        if added:
            box.wake()
    return count


def _readable(alerts: Iterable[Alert], count_bans: Callable[[int], None] | None) -> Iterator[Alert]:
    """Every alert of ``alerts`` in order; with ``count_bans``, each burst of bans of an ``Alerts`` is passed
    to it as its number of alerts instead, none of them made (at its place in the order)."""
    if count_bans is None or not isinstance(alerts, Alerts):
        yield from alerts
        return
    for part in alerts.parts():
        if isinstance(part, BanBurst):
            count_bans(len(part))
        else:
            yield part


def _enqueue(queue: list[dict], names: list[str], alert: Alert, now: float) -> int:
    """Queue ``alert`` for each notifier of ``names`` (one JSON body shared by the entries)."""
    body = to_json(alert)
    for name in names:
        queue.append(
            {
                "id": secrets.token_hex(8),
                "notifier": name,
                "alert": body,
                "tries": 0,
                "first": now,
                "next": now,
                "error": "",
            }
        )
    return len(names)


def _cut(queue: list[dict]) -> int:
    """Cut ``queue`` to ``MAX_QUEUE`` entries (see :func:`_evict`); how many were dropped."""
    over = len(queue) - MAX_QUEUE
    if over <= 0:
        return 0
    queue[:] = _evict(queue, over)
    return over


def _evict(queue: list[dict], n: int) -> list[dict]:
    """``queue`` without ``n`` entries: the lowest severity first, the oldest first within one (a storm
    of bans must not push a queued ``compromised`` alert out)."""
    order = sorted(range(len(queue)), key=lambda i: (severity_rank(KINDS[queue[i]["alert"]["event"]]), i))
    gone = set(order[:n])
    return [entry for i, entry in enumerate(queue) if i not in gone]


# ---- delivery (mail-bruteforce-guard notify) -------------------------------------------------------


def _messages(due: list[dict], allowance: int, digest_min: int) -> list[list[dict]]:
    """Group one notifier's due entries into messages: each alone, or one digest when there are many or
    the rate limit has room for fewer messages than alerts."""
    if not due or allowance <= 0:
        return []
    if len(due) >= digest_min or len(due) > allowance:
        return [due[:MAX_DIGEST]]
    return [[entry] for entry in due]


def deliver(
    config: Any,
    *,
    now: float | None = None,
    warn: Warn,
    sender: Callable[[Notifier, list], None] | None = None,
) -> Outcome:
    """Send what is due (``sender``: default ``channels.send``). The lock is held only to pick the entries
    (leased for ``LEASE`` seconds) and to write the results back."""
    # the channels (smtplib, ssl, http.client, email: 3 MB) only here: a scan queues, never sends
    from .channels import DeliveryError, send  # noqa: PLC0415

    sender = send if sender is None else sender
    now = time.time() if now is None else now
    by_name = {n.name: n for n in notifiers(config.as_dict())}
    plan: list[tuple[Notifier, list[dict]]] = []
    dropped = 0
    with Outbox(config.state_dir, warn) as box:
        _clamp(box.data, now)
        queue = box.data["queue"]
        keep = []
        for entry in queue:
            if entry["notifier"] not in by_name or now - entry["first"] > MAX_AGE:
                dropped += 1
                why = "notifier removed" if entry["notifier"] not in by_name else "too old"
                _log(
                    syslog.LOG_ERR,
                    f"notify {entry['notifier']}: gave up an alert ({why}): "
                    f"{str(entry['alert'].get('summary', ''))[:200]}",
                    config.syslog,
                )
                box.count("dropped", why.rsplit(maxsplit=1)[-1])
            else:
                keep.append(entry)
        queue[:] = keep
        rate = box.data["rate"]
        for name, n in by_name.items():
            recent = [t for t in rate.get(name, []) if isinstance(t, (int, float)) and now - t < 3600]
            rate[name] = recent
            due = [e for e in queue if e["notifier"] == name and e["next"] <= now]
            for group in _messages(due, config.alert_rate_limit - len(recent), config.alert_digest_min):
                for entry in group:
                    entry["next"] = now + LEASE
                plan.append((n, group))
        if plan or dropped or box.repaired:
            box.save()
        left = len(queue)
    outcome = Outcome(0, 0, 0, dropped, left, [])
    for n, group in plan:  # each message's result is written at once: a run killed mid-way loses none
        try:
            sender(n, [from_json(e["alert"]) for e in group])
            error = ""
        except DeliveryError as err:
            error = str(err)
        except ValueError as err:  # a message that cannot be built: never sendable as it is
            error = f"damaged entry: {err}"
        outcome = _settle(config, outcome, n, group, error=error, now=now, warn=warn)
    return outcome


def _settle(
    config: Any, outcome: Outcome, n: Notifier, group: list[dict], *, error: str, now: float, warn: Warn
) -> Outcome:
    """Write one message's result into the outbox; ``outcome`` plus this message."""
    ids = {e["id"] for e in group}
    with Outbox(config.state_dir, warn) as box:
        queue = box.data["queue"]
        if not error:
            box.data["queue"] = [e for e in queue if e["id"] not in ids]
            box.data["rate"].setdefault(n.name, []).append(now)
            box.count("delivered", n.name, len(group))
        else:
            box.count("failed", n.name, len(group))
            _log(syslog.LOG_WARNING, f"notify {n.name} failed (kept for a retry): {error}", config.syslog)
            for entry in queue:
                if entry["id"] in ids:
                    tries = int(entry.get("tries", 0)) + 1
                    entry.update(
                        tries=tries,
                        error=error[:300],
                        next=now + min(RETRY_CAP, RETRY_FIRST * 2 ** (tries - 1)),
                    )
        box.save()
        left = len(box.data["queue"])
    if error:
        return outcome._replace(
            failed=outcome.failed + len(group), queued=left, errors=[*outcome.errors, error]
        )
    return outcome._replace(
        delivered=outcome.delivered + len(group), messages=outcome.messages + 1, queued=left
    )


def pending(state_dir: str, warn: Warn) -> dict[str, Any]:
    """The outbox read-only: queued entries per notifier, the oldest's age, counters."""
    box = Outbox(state_dir, warn)
    try:
        data = box._load(quarantine=False)
    except OSError:
        data = _empty()
    per: dict[str, int] = {}
    for entry in data["queue"]:
        per[entry["notifier"]] = per.get(entry["notifier"], 0) + 1
    oldest = min((e["first"] for e in data["queue"]), default=None)
    return {"queued": per, "oldest": oldest, "counts": data["counts"]}
