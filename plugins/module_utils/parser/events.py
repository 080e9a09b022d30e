"""The Event record every parser stage produces and the policy consumes."""

from __future__ import annotations

import time
from typing import Any, NamedTuple

AUTH_FAILURE = "auth_failure"
AUTH_SUCCESS = "auth_success"

# Informational kinds: never counted by the policy, printed by `parse`.
AUTH_SERVER_LOST = (
    "auth_server_lost"  # Postfix lost its SASL server, no genuine failure from that address before
)
TOO_MANY_ERRORS = "too_many_errors"  # smtpd: too many errors after AUTH (the attempts were counted already)
NO_AUTH_ATTEMPTS = "no_auth_attempts"  # Dovecot: client left without trying a password
PLAINTEXT_REFUSED = "plaintext_refused"  # Dovecot: plaintext auth refused before any password check
UNATTRIBUTED_FAILURE = (
    "unattributed_failure"  # plesk_saslauthd failure with no smtpd failure beside it (no ip)
)

COUNTED_KINDS = frozenset((AUTH_FAILURE, AUTH_SUCCESS))
# Informational kinds the policy counts as pre-auth abuse (a connection that never tried a password)
PREAUTH_KINDS = frozenset((NO_AUTH_ATTEMPTS, PLAINTEXT_REFUSED))
INFO_KINDS = frozenset(
    (AUTH_SERVER_LOST, TOO_MANY_ERRORS, NO_AUTH_ATTEMPTS, PLAINTEXT_REFUSED, UNATTRIBUTED_FAILURE)
)


class Event(NamedTuple):
    """One recognised mail-log event; counted kinds are AUTH_FAILURE (weighted by count) and AUTH_SUCCESS."""

    line: int
    time: float | None
    ip: str | None
    kind: str
    service: str
    protocol: str | None
    user: str | None
    count: int = 1
    pid: int | None = None


_DAYS: dict[int, str] = {}  # day number since the epoch -> "2026-11-26T" (reports repeat few days)


_ISO: dict[float, str] = {}  # POSIX seconds -> iso_utc's text (reports repeat few stamps: one string each)
_ISO_MAX = 4096


def iso_utc(when: float | None) -> str | None:
    """POSIX seconds -> ``2026-11-26T08:08:18Z`` (``.123456`` kept when present), None stays None.

    A report of 100,000 offenders dates each three times from a few hundred distinct stamps: the text of a
    recent stamp is looked up (``format_utc`` makes it, and is the reference the tests compare with)."""
    known = _ISO.get(when)  # type: ignore[arg-type]
    if known is not None:
        return known
    if when is None:
        return None
    text = format_utc(when)
    if len(_ISO) >= _ISO_MAX:
        _ISO.clear()
    _ISO[when] = text
    return text


def format_utc(when: float) -> str:
    """``iso_utc`` without its cache."""
    whole = int(when // 1)
    day, second = divmod(whole, 86400)
    date = _DAYS.get(day)
    if date is None:
        date = time.strftime("%Y-%m-%dT", time.gmtime(day * 86400))
        if len(_DAYS) >= 4096:
            _DAYS.clear()
        _DAYS[day] = date
    hour, second = divmod(second, 3600)
    minute, second = divmod(second, 60)
    micro = round((when - whole) * 1e6)
    if micro:
        if micro >= 1000000:
            return format_utc(float(whole + 1))
        return f"{date}{hour:02d}:{minute:02d}:{second:02d}.{micro:06d}Z"
    return f"{date}{hour:02d}:{minute:02d}:{second:02d}Z"


def event_to_json(event: Event) -> dict[str, Any]:
    """The JSON object `parse --json` prints for one event (field order of Event, time as ISO 8601 UTC)."""
    out = event._asdict()
    out["time"] = iso_utc(event.time)
    return dict(out)
