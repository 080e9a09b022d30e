"""The notifier entries of the detector's config key ``notify``: :func:`validate` (called by
detector/config.py after schema.py's checks, which hold the defaults and limits of ``notify``, ``alert_*``,
``metrics_file`` and ``scan_interval_seconds``) and ``Notifier``: one validated notifier entry.

``notify`` is a list of objects, each ``{"type": "email" | "webhook" | "exec", ...}`` (see docs/alerts.md).
Secrets (an SMTP password, a webhook's HMAC key, a webhook URL that is itself a token) are never required as
config values: they can be paths of root-only files (``password_file``, ``secret_file``, ``url_file``).
"""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import ConfigError
from .events import KINDS, SEVERITIES

TYPES = ("email", "webhook", "exec")
# a webhook URL: http(s), a host, no space or control character anywhere (http.client refuses them later)
_URL = re.compile(r"https?://[^/\s\x00-\x1f\x7f]+[^\s\x00-\x1f\x7f]*\Z")


def url_ok(text: str) -> bool:
    """A webhook URL http.client can use: :data:`_URL` and a port 0-65535 if any."""
    if not _URL.match(text):
        return False
    try:
        port = urllib.parse.urlsplit(text).port
    except ValueError:  # not a number, or out of range
        return False
    return port is None or port > 0


_NAME = re.compile(r"[A-Za-z0-9_.-]{1,40}\Z")
_COMMON = {"type", "name", "events", "min_severity"}
_ALLOWED = {
    "email": _COMMON
    | {
        "to",
        "from",
        "via",
        "sendmail",
        "smtp_host",
        "smtp_port",
        "starttls",
        "username",
        "password_file",
        "ca_file",
        "timeout",
    },
    "webhook": _COMMON | {"url", "url_file", "secret_file", "timeout", "retries"},
    "exec": _COMMON | {"command", "timeout"},
}


class Notifier(NamedTuple):
    """One notifier entry with every default filled in; ``options`` holds its type's own keys."""

    type: str
    name: str
    events: tuple
    min_severity: str
    options: dict

    def wants(self, kind: str) -> bool:
        """This notifier's filter: the event kind and its minimum severity."""
        return kind in self.events and SEVERITIES.index(KINDS[kind]) >= SEVERITIES.index(self.min_severity)


_OPTION_DEFAULTS = {
    "email": {
        "to": ["root"],
        "from": "",
        "via": "sendmail",
        "sendmail": "/usr/sbin/sendmail",
        "smtp_host": "",
        "smtp_port": 587,
        "starttls": True,
        "username": "",
        "password_file": "",
        "ca_file": "",
        "timeout": 20,
    },
    "webhook": {"url": "", "url_file": "", "secret_file": "", "timeout": 5, "retries": 3},
    "exec": {"timeout": 20},
}


def _fail(where: str, message: str) -> ConfigError:
    return ConfigError(f"config key 'notify' {where}: {message}")


def _int(where: str, key: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(where, f"{key!r} must be an integer {low}-{high}, got {value!r}")


def _str(where: str, key: str, value: Any, empty: bool = True) -> None:
    if not isinstance(value, str) or (not empty and not value) or "\n" in value or "\x00" in value:
        raise _fail(where, f"{key!r} must be a{'' if empty else ' non-empty'} one-line string, got {value!r}")


def _path(where: str, key: str, value: Any) -> None:
    _str(where, key, value)
    if value and not Path(value).is_absolute():
        raise _fail(where, f"{key!r} must be an absolute path, got {value!r}")


def notifier(entry: Any, index: int) -> Notifier:
    """One validated notifier; ConfigError naming the entry (``notify[2] (webhook)``) and the key."""
    where = f"entry {index}"
    if not isinstance(entry, dict):
        raise _fail(where, f"must be an object, got {entry!r}")
    kind = entry.get("type")
    if kind not in TYPES:
        raise _fail(where, f"'type' must be 'email', 'webhook' or 'exec', got {kind!r}")
    where = f"entry {index} ({kind})"
    unknown = sorted(set(entry) - _ALLOWED[kind])
    if unknown:
        raise _fail(where, f"unknown key {unknown[0]!r}")
    name = entry.get("name", f"{kind}{index}")
    if not isinstance(name, str) or not _NAME.match(name):
        raise _fail(where, f"'name' must be 1-40 letters, digits, '_', '.' or '-', got {name!r}")
    events = entry.get("events", list(KINDS))
    if not isinstance(events, list) or not events or any(e not in KINDS for e in events):
        raise _fail(where, f"'events' must be a non-empty list of {', '.join(KINDS)}, got {events!r}")
    severity = entry.get("min_severity", "info")
    if severity not in SEVERITIES:
        raise _fail(where, f"'min_severity' must be one of {', '.join(SEVERITIES)}, got {severity!r}")
    options = dict(_OPTION_DEFAULTS[kind])
    options.update({k: v for k, v in entry.items() if k not in _COMMON})
    _check_options(where, kind, options)
    return Notifier(kind, name, tuple(events), severity, options)


def _check_options(where: str, kind: str, o: dict) -> None:  # noqa: PLR0912 - one check per notifier option
    _int(where, "timeout", o["timeout"], 1, 300)
    if kind == "webhook":
        _str(where, "url", o["url"])
        _path(where, "url_file", o["url_file"])
        if bool(o["url"]) == bool(o["url_file"]):
            raise _fail(where, "needs exactly one of 'url' and 'url_file' (a root-only file holding the URL)")
        if o["url"] and not url_ok(o["url"]):  # the value itself is not repeated: it may hold a token
            raise _fail(
                where,
                "'url' must be http:// or https://, a host (a valid port), no spaces or control characters",
            )
        _path(where, "secret_file", o["secret_file"])
        _int(where, "retries", o["retries"], 0, 10)
    elif kind == "exec":
        command = o.get("command")
        if not isinstance(command, list) or not command or any(not isinstance(a, str) for a in command):
            raise _fail(
                where, f"'command' must be a non-empty list of strings (argv, no shell), got {command!r}"
            )
        _path(where, "command[0]", command[0])
        if not command[0]:
            raise _fail(where, "'command' must start with an absolute path")
    else:
        to = o["to"]
        if (
            not isinstance(to, list)
            or not to
            or any(not isinstance(a, str) or not a or "\n" in a for a in to)
        ):
            raise _fail(where, f"'to' must be a non-empty list of addresses, got {to!r}")
        if o["via"] not in ("sendmail", "smtp"):
            raise _fail(where, f"'via' must be 'sendmail' or 'smtp', got {o['via']!r}")
        for key in ("sendmail", "password_file", "ca_file"):
            _path(where, key, o[key])
        for key in ("from", "smtp_host", "username"):
            _str(where, key, o[key])
        _int(where, "smtp_port", o["smtp_port"], 1, 65535)
        if not isinstance(o["starttls"], bool):
            raise _fail(where, f"'starttls' must be true or false, got {o['starttls']!r}")
        if o["via"] == "smtp" and not o["smtp_host"]:
            raise _fail(where, "'smtp_host' is required with via 'smtp'")
        if bool(o["username"]) != bool(o["password_file"]):
            raise _fail(where, "'username' and 'password_file' go together")
        if o["username"] and not o["starttls"] and o["smtp_port"] != 465:
            raise _fail(
                where, "'username' needs 'starttls' true or 'smtp_port' 465: no password in clear text"
            )


def notifiers(values: dict[str, Any]) -> list[Notifier]:
    """Every notifier of a config's values (validated)."""
    entries = values.get("notify", [])
    if not isinstance(entries, list):
        raise ConfigError(f"config key 'notify' must be a list of notifier objects, got {entries!r}")
    found = [notifier(entry, i) for i, entry in enumerate(entries)]
    names = [n.name for n in found]
    if len(set(names)) != len(names):
        raise ConfigError("config key 'notify': notifier names must differ (set 'name')")
    return found


def validate(values: dict[str, Any]) -> None:
    """The deep check of ``notify`` (schema.py has checked it is a list of objects and the scalar keys)."""
    notifiers(values)
