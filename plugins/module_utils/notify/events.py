"""What is worth telling: one ``Alert`` per ban, unban, compromised or targeted account, or detector failure.

Every alert is one syslog line (facility AUTHPRIV) whatever else is configured: a human sentence, then a
stable ``key=value`` tail (values hold no spaces and no ``=``) that log tools can split on spaces.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from ..printable import _CONTROL as _PRINTABLE_CONTROL

SYSLOG_IDENT = "mail-bruteforce-guard"

SEVERITIES = ("info", "notice", "warning", "error", "critical")
# kind -> severity; the order of KINDS is the order of the README table
KINDS: dict[str, str] = {
    "ban": "notice",
    "unban": "info",
    "targeted": "warning",
    "compromised": "critical",
    "failure": "error",
}
DIGEST = "digest"  # not an event: several alerts of one notifier sent as one message

# printable.py's control characters (C0, C1, line separators, bidi) and lone surrogates: none may reach a
# syslog line, a mail header (the email package refuses U+2028 or U+0085 in a header: one such username
# would make every mail of a notifier unsendable) or a UTF-8 encoder
_CONTROL = re.compile(f"{_PRINTABLE_CONTROL.pattern}|[\ud800-\udfff]")
_SUMMARY_MAX = 300


def severity_rank(severity: str) -> int:
    """0 (info) .. 4 (critical)."""
    return SEVERITIES.index(severity)


class Alert(NamedTuple):
    """One event to tell. ``subject`` (an address, a username or a failing component) is the key of the
    de-duplication; ``fields`` become the syslog tail and the JSON (str, int or list of str values)."""

    kind: str
    time: float
    subject: str
    summary: str
    fields: dict
    host: str

    @property
    def severity(self) -> str:
        return KINDS[self.kind]

    @property
    def key(self) -> str:
        """De-duplication key: one alert per kind and subject per ``alert_interval``."""
        return f"{self.kind}:{self.subject}"


def _host() -> str:
    return socket.gethostname()


def _text(value: Any) -> str:
    """Attacker-chosen text (usernames) made safe for one line."""
    return _CONTROL.sub("?", str(value))


def _tail_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    text = _text(value).replace(" ", "?").replace("=", "?")
    return text or "-"


def syslog_line(alert: Alert) -> str:
    """``SUMMARY: event=K severity=S k=v ...`` (fields in a fixed order: their insertion order). The summary
    holds no ``=`` (it becomes ``?``): a username like ``x address=192.0.2.1`` must not put a ``key=value``
    look-alike before the tail, where a log tool taking the first ``address=`` would read it."""
    summary = _text(alert.summary).replace("=", "?")
    if len(summary) > _SUMMARY_MAX:
        summary = summary[: _SUMMARY_MAX - 3] + "..."
    tail = " ".join(f"{k}={_tail_value(v)}" for k, v in alert.fields.items())
    return f"{summary}: event={alert.kind} severity={alert.severity}" + (f" {tail}" if tail else "")


def iso(seconds: float) -> str:
    """ISO 8601 UTC, whole seconds."""
    import time  # noqa: PLC0415

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def to_json(alert: Alert) -> dict[str, Any]:
    """The JSON body of one alert (webhook, exec stdin): event, severity, time, host, summary, then fields."""
    body: dict[str, Any] = {
        "event": alert.kind,
        "severity": alert.severity,
        "time": iso(alert.time),
        "host": alert.host,
        "summary": _text(alert.summary),
    }
    for key, value in alert.fields.items():
        body[key] = [_text(v) for v in value] if isinstance(value, (list, tuple)) else value
    return body


def from_json(body: dict[str, Any]) -> Alert:
    """The inverse of :func:`to_json` (the outbox stores alerts as JSON). ValueError on a damaged entry."""
    kind = body.get("event")
    if kind not in KINDS:
        raise ValueError(f"unknown event {kind!r}")
    import calendar  # noqa: PLC0415
    import time  # noqa: PLC0415

    try:
        when = float(calendar.timegm(time.strptime(str(body["time"]), "%Y-%m-%dT%H:%M:%SZ")))
    except (KeyError, OverflowError) as err:
        raise ValueError(f"no valid time ({err})") from None
    fields = {k: v for k, v in body.items() if k not in ("event", "severity", "time", "host", "summary")}
    for key, value in fields.items():
        if not isinstance(value, (str, int, list)) or isinstance(value, bool):
            raise ValueError(f"field {key!r} is not a string, integer or list")
        if isinstance(value, str):  # (list items are made text by to_json)
            fields[key] = _text(value)
    subject = str(fields.get("address") or fields.get("user") or fields.get("component") or "")
    summary, host = _text(body.get("summary", "")), _text(body.get("host", ""))
    return Alert(kind, when, subject, summary, fields, host)


# ---- builders: one per kind, fields named once ------------------------------------------------------


def ban_alert(
    address: str, until: float, reason: str, now: float, *, count: int = 1, host: str | None = None
) -> Alert:
    seconds = max(0, int(until - now))
    fields = {"address": address, "until": iso(until), "duration": seconds, "bans": count}
    return Alert("ban", now, address, f"banned {address} for {seconds}s: {reason}", fields, host or _host())


class Alerts:
    """Alerts in the order they were raised, where a burst of bans is held as columns of its ban rows (each
    row with ``address``, ``until``, ``reason`` and ``count``: the policy's ``NewBan``) and each ban's Alert
    is made only as it is read: 100,000 ban Alerts held at once take 60 MB, the columns (their values shared
    with the policy's records) 3 MB. Reading gives exactly the Alerts ``ban_alert`` makes of each row."""

    def __init__(self) -> None:
        self._parts: list = []  # an Alert, or a BanBurst of ban rows
        self._count = 0

    def append(self, alert: Alert) -> None:
        self._parts.append(alert)
        self._count += 1

    def extend(self, alerts: Any) -> None:
        for alert in alerts:
            self.append(alert)

    def __iadd__(self, alerts: Any) -> Alerts:
        self.extend(alerts)
        return self

    def add_bans(self, rows: Sequence, now: float, host: str | None = None) -> None:
        """One ban alert per row, dated ``now``, each made when read."""
        if rows:
            self.add_ban_columns(
                [r.address for r in rows],
                [r.until for r in rows],
                [r.reason for r in rows],
                [r.count for r in rows],
                now=now,
                host=host,
            )

    def add_ban_columns(
        self,
        addresses: list,
        untils: list,
        reasons: list,
        counts: list,
        *,
        now: float,
        host: str | None = None,
    ) -> None:
        """``add_bans`` of rows given by column (the lists are kept as they are)."""
        if addresses:
            self._parts.append(BanBurst(addresses, untils, reasons, counts, now=now, host=host))
            self._count += len(addresses)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Alert]:
        for part in self._parts:
            if isinstance(part, BanBurst):
                yield from part.alerts()
            else:
                yield part

    def parts(self) -> Iterator[Alert | BanBurst]:
        """Its alerts in order, each burst of bans as its ``BanBurst`` (for a reader that only counts ban
        alerts: a burst's ``len`` is its number of alerts, none of them made)."""
        return iter(self._parts)


class BanBurst:
    """The ban rows of one ``Alerts.add_bans``, by column (``len``: how many): ``alerts()`` makes their
    Alerts."""

    __slots__ = ("addresses", "counts", "host", "now", "reasons", "untils")

    def __init__(
        self, addresses: list, untils: list, reasons: list, counts: list, *, now: float, host: str | None
    ) -> None:
        self.addresses, self.untils, self.reasons, self.counts = addresses, untils, reasons, counts
        self.now, self.host = now, host

    def __len__(self) -> int:
        return len(self.addresses)

    def alerts(self) -> Iterator[Alert]:
        """Each row's ``ban_alert``, made as it is read."""
        host = self.host or _host()  # one name for the burst (the host does not change mid-scan)
        now = self.now
        for address, until, reason, count in zip(self.addresses, self.untils, self.reasons, self.counts):
            yield ban_alert(address, until, reason, now, count=count, host=host)


def unban_alert(address: str, now: float, host: str | None = None) -> Alert:
    return Alert("unban", now, address, f"unbanned {address}", {"address": address}, host or _host())


def account_alert(kind: str, username: str, ips: list, now: float, host: str | None = None) -> Alert:
    """``compromised`` (a login after failures) or ``targeted`` (failures from many addresses)."""
    user = _text(username)
    what = "logged into after failures" if kind == "compromised" else "attacked from many addresses"
    fields = {"user": user, "addresses": sorted(str(ip) for ip in ips), "count": len(ips)}
    return Alert(kind, now, user, f"account {user} {what}", fields, host or _host())


def failure_alert(component: str, detail: str, now: float, host: str | None = None) -> Alert:
    """The detector itself failed: ``component`` = scan, log, backend or a unit name."""
    fields = {"component": _tail_value(component)}
    return Alert(
        "failure",
        now,
        fields["component"],
        f"detector failure ({component}): {detail}",
        fields,
        host or _host(),
    )
