# Copyright: mail_bruteforce_guard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side mail log filters over the detector library's one parser and one policy.

``maillog_events`` turns mail log text into events (parser/stream.py); ``maillog_offenders`` judges events
under a policy (policy/tracker.py). Documentation: maillog_events.yml and maillog_offenders.yml here.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from ansible.errors import AnsibleFilterError
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.addresses import normalize_ip
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.errors import MbgError
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.limits import MAX_TIME
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.parser.events import (
    COUNTED_KINDS,
    PREAUTH_KINDS,
    Event,
    event_to_json,
)
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.parser.stream import parse_text
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.policy.config import PolicyConfig
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.policy.tracker import Tracker
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.times import parse_time

POLICY_KEYS = frozenset(PolicyConfig._fields)


def _when(value: Any, name: str, where: str) -> float | None:
    """An ISO 8601 string (naive means UTC) or POSIX seconds from 1970 to 9999 -> POSIX seconds; None stays
    None."""
    if value is None:
        return None
    when = parse_time(value)
    if when is not None and 0 <= when <= MAX_TIME:
        return when
    raise AnsibleFilterError(
        f"{where}: {name} must be an ISO 8601 time or POSIX seconds from 1970 to 9999, got {value!r}"
    )


def _zone(value: Any, where: str) -> tzinfo | None:
    """``local`` (None), ``UTC`` or an IANA zone name such as ``Europe/Berlin``."""
    if value is None or value == "local":
        return None
    if value in ("UTC", "utc", "Z"):
        return timezone.utc
    if isinstance(value, str) and value:
        try:
            return ZoneInfo(value)
        except (ValueError, KeyError, OSError):
            pass
    raise AnsibleFilterError(f"{where}: tz must be 'local', 'UTC' or an IANA zone name, got {value!r}")


def _text(data: Any, where: str) -> str:
    """Log text from a string or a list of lines."""
    if isinstance(data, bytes):
        data = data.decode("utf-8", errors="replace")
    if isinstance(data, str):
        return data
    if isinstance(data, (list, tuple)):
        for index, line in enumerate(data):
            if not isinstance(line, str):
                raise AnsibleFilterError(
                    f"{where}: line {index + 1} must be a string, got {type(line).__name__}"
                )
        return "\n".join(line.rstrip("\n") for line in data)
    raise AnsibleFilterError(
        f"{where}: expects log text (a string) or a list of lines, got {type(data).__name__}"
    )


def maillog_events(data: Any, now: Any = None, tz: Any = "local", info: Any = False) -> list[dict[str, Any]]:
    """Parse mail log text (or a list of lines) into events, ``time`` as ISO 8601 UTC."""
    where = "maillog_events"
    text = _text(data, where)
    anchor = _when(now, "now", where)
    if not isinstance(info, bool):
        raise AnsibleFilterError(f"{where}: info must be true or false, got {info!r}")
    zone = _zone(tz, where)
    try:
        events = parse_text(text, now=anchor, tz=zone, info=info)
    except MbgError as err:
        raise AnsibleFilterError(f"{where}: {err}") from None
    return [event_to_json(ev) for ev in events]


def _event(item: Any, index: int, where: str) -> Event:
    """An Event from a maillog_events dict (or an Event); the address is re-normalised, never trusted."""
    if isinstance(item, Event):
        return item
    at = f"{where}: event #{index + 1}"
    if not isinstance(item, Mapping):
        raise AnsibleFilterError(
            f"{at} must be a mapping (as maillog_events returns), got {type(item).__name__}"
        )
    kind = item.get("kind")
    service = item.get("service")
    if not isinstance(kind, str) or not isinstance(service, str):
        raise AnsibleFilterError(f"{at} needs string 'kind' and 'service' keys")
    ip = item.get("ip")
    if ip is not None:
        norm = normalize_ip(ip) if isinstance(ip, str) else None
        if norm is None:
            raise AnsibleFilterError(f"{at}: 'ip' is not an IP address: {ip!r}")
        ip = norm
    count = item.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:  # 0: informational kinds
        raise AnsibleFilterError(f"{at}: 'count' must be a non-negative integer, got {count!r}")
    line = item.get("line", index + 1)
    user = item.get("user")
    protocol = item.get("protocol")
    for name, value in (("user", user), ("protocol", protocol)):
        if value is not None and not isinstance(value, str):
            raise AnsibleFilterError(f"{at}: {name!r} must be a string or null, got {value!r}")
    return Event(
        line=line if isinstance(line, int) and not isinstance(line, bool) else index + 1,
        time=_when(item.get("time"), f"event #{index + 1} time", where),
        ip=ip,
        kind=kind,
        service=service,
        protocol=protocol,
        user=user,
        count=count,
        pid=item.get("pid") if isinstance(item.get("pid"), int) else None,
    )


def _policy(policy: Any, where: str) -> PolicyConfig:
    if policy is None:
        policy = {}
    if not isinstance(policy, Mapping):
        raise AnsibleFilterError(
            f"{where}: policy must be a mapping of policy keys, got {type(policy).__name__}"
        )
    unknown = sorted(str(key) for key in policy if key not in POLICY_KEYS)
    if unknown:
        raise AnsibleFilterError(
            f"{where}: unknown policy key {unknown[0]!r} (known: {', '.join(sorted(POLICY_KEYS))})"
        )
    try:
        return PolicyConfig.from_mapping(dict(policy))
    except MbgError as err:
        raise AnsibleFilterError(f"{where}: {err}") from None
    except TypeError as err:  # a value of a shape from_mapping does not expect
        raise AnsibleFilterError(f"{where}: invalid policy: {err}") from None


def maillog_offenders(events: Any, policy: Any = None, now: Any = None) -> dict[str, Any]:
    """Judge events under a policy: ``{"offenders": [...], "accounts": [...], "stats": {...}}``."""
    where = "maillog_offenders"
    if not isinstance(events, (list, tuple)):
        raise AnsibleFilterError(
            f"{where}: expects a list of events (as maillog_events returns), got {type(events).__name__}"
        )
    config = _policy(policy, where)
    parsed = [_event(item, index, where) for index, item in enumerate(events)]
    stamps = [ev.time for ev in parsed if ev.time is not None]
    clock = _when(now, "now", where)
    if clock is None:
        clock = max(stamps) if stamps else time.time()
    counted_kinds = COUNTED_KINDS | (PREAUTH_KINDS if config.preauth_maxretry else frozenset())
    try:
        tracker = Tracker(config)
        counted = tracker.feed(parsed, clock)
        decisions = tracker.decide(clock, everything=True)
    except MbgError as err:
        raise AnsibleFilterError(f"{where}: {err}") from None
    return {
        **decisions.as_result(),
        "stats": {
            "events": len(parsed),
            "counted": counted,
            "ignored_kinds": sum(1 for ev in parsed if ev.kind not in counted_kinds),
        },
    }


class FilterModule:
    """Mail log filters of mailsec.mail_bruteforce_guard."""

    def filters(self) -> dict[str, Any]:
        return {"maillog_events": maillog_events, "maillog_offenders": maillog_offenders}
