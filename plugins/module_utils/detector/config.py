"""The detector's JSON config file: keys are the role's variables without the ``mail_bruteforce_guard_``
prefix. An unknown key or a wrong type is a ConfigError naming the key."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..notify.settings import DEFAULTS as NOTIFY_DEFAULTS  # issue 16: alerting, metrics, health keys
from ..notify.settings import validate as validate_notify
from ..policy.config import PolicyConfig
from .journaltrust import validate_trusted

DEFAULT_CONFIG_PATH = "/etc/mail-bruteforce-guard/config.json"
MODES = ("enforce", "monitor")
FIREWALL_BACKENDS = ("auto", "iptables", "nftables", "ipset")  # "ipset": the old name of iptables
BAN_SCOPES = ("mail", "all")
MAX_PORTS = 15  # iptables' multiport match takes at most 15 ports

DEFAULTS: dict[str, Any] = {
    "mode": "enforce",
    "logs": ["/var/log/mail.log"],
    "journal": False,
    "journal_trusted": {},
    "read_rotated": False,
    "maxretry": 5,
    "findtime": 600,
    "bantime": 3600,
    "bantime_multiplier": 2,
    "bantime_max": 604800,
    "slow_maxretry": 20,
    "slow_findtime": 86400,
    "targeted_min_ips": 5,
    "targeted_findtime": 3600,
    "compromised_min_failures": 3,
    "ipv6_prefix": 128,
    "known_good_days": 30,
    "stale_maxretry": 200,
    "stale_findtime": 86400,
    "shared_min_users": 3,
    "preauth_maxretry": 20,
    "preauth_findtime": 600,
    "ignore": [],
    "protected": [],
    "firewall_backend": "auto",
    "ban_hook": True,
    "ban_scope": "mail",
    "mail_ports": [25, 465, 587, 110, 995, 143, 993, 4190],
    "syn_rate": 30,
    "syn_burst": 60,
    "syn_ports": [465, 587, 110, 995, 143, 993, 4190],
    "syn_rate_smtp": 600,
    "ipset_v4": "mbg_ban_v4",
    "ipset_v6": "mbg_ban_v6",
    "ipset_maxelem": 1048576,
    "state_dir": "/var/lib/mail-bruteforce-guard",
    "syslog": True,
    **NOTIFY_DEFAULTS,  # issue 16: notify, alert_*, metrics_file, scan_interval_seconds
}

_SET_NAME = re.compile(r"[A-Za-z0-9_.-]{1,31}\Z")


def _expect(key: str, value: Any, kind: type, what: str) -> None:
    if isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"config key {key!r} must be {what}, got {value!r}")
    if not isinstance(value, kind):
        raise ConfigError(f"config key {key!r} must be {what}, got {value!r}")


class Config:
    """Validated settings; read them as attributes (``config.maxretry``) or with ``config.get(key)``."""

    def __init__(self, values: dict[str, Any] | None = None, source: str | None = None) -> None:
        merged = dict(DEFAULTS)
        for key, value in (values or {}).items():
            if key not in DEFAULTS:
                raise ConfigError(f"unknown config key {key!r}" + (f" in {source}" if source else ""))
            merged[key] = value
        self._values = merged
        self.source = source
        self._validate()
        self.policy = PolicyConfig.from_mapping(merged)

    def _validate(self) -> None:
        v = self._values
        _expect("mode", v["mode"], str, "'enforce' or 'monitor'")
        if v["mode"] not in MODES:
            raise ConfigError(f"config key 'mode' must be 'enforce' or 'monitor', got {v['mode']!r}")
        for key in ("journal", "syslog", "read_rotated", "ban_hook"):
            _expect(key, v[key], bool, "true or false")
        for key in ("logs", "ignore", "protected"):
            _expect(key, v[key], list, "a list of strings")
            for item in v[key]:
                _expect(key, item, str, "a list of strings")
        if any(not item for item in v["logs"]):
            raise ConfigError("config key 'logs' holds an empty path")
        for key in ("firewall_backend", "state_dir"):
            _expect(key, v[key], str, "a string")
            if not v[key]:
                raise ConfigError(f"config key {key!r} must not be empty")
        for key in ("ipset_v4", "ipset_v6"):
            _expect(key, v[key], str, "a string")
            if not _SET_NAME.match(v[key]):
                raise ConfigError(f"config key {key!r} must be 1-31 letters, digits, '_', '.' or '-'")
        if v["ipset_v4"] == v["ipset_v6"]:
            raise ConfigError("config keys 'ipset_v4' and 'ipset_v6' must differ")
        validate_trusted(v["journal_trusted"])
        _expect("ipset_maxelem", v["ipset_maxelem"], int, "an integer")
        if not 1 <= v["ipset_maxelem"] <= 4294967295:
            raise ConfigError("config key 'ipset_maxelem' must be between 1 and 4294967295")
        self._validate_firewall(v)
        validate_notify(v)  # issue 16

    @staticmethod
    def _validate_firewall(v: dict[str, Any]) -> None:
        """The backend choice and the ban hook's settings (read by firewall/hook.py)."""
        if v["firewall_backend"] not in FIREWALL_BACKENDS:
            raise ConfigError(
                "config key 'firewall_backend' must be 'auto', 'iptables' or 'nftables',"
                f" got {v['firewall_backend']!r}"
            )
        _expect("ban_scope", v["ban_scope"], str, "'mail' or 'all'")
        if v["ban_scope"] not in BAN_SCOPES:
            raise ConfigError(f"config key 'ban_scope' must be 'mail' or 'all', got {v['ban_scope']!r}")
        for key in ("mail_ports", "syn_ports"):
            ports = v[key]
            _expect(key, ports, list, "a list of port numbers")
            for port in ports:
                if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
                    raise ConfigError(f"config key {key!r} must hold port numbers 1-65535, got {port!r}")
            if len(set(ports)) > MAX_PORTS:
                raise ConfigError(f"config key {key!r} holds more than {MAX_PORTS} ports")
        if not v["mail_ports"]:
            raise ConfigError("config key 'mail_ports' must not be empty")
        for key, low in (("syn_rate", 0), ("syn_burst", 1), ("syn_rate_smtp", 0)):
            _expect(key, v[key], int, "an integer")
            if not low <= v[key] <= 1000000:
                raise ConfigError(f"config key {key!r} must be between {low} and 1000000, got {v[key]!r}")

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("_values")
        if values is not None and name in values:
            return values[name]
        raise AttributeError(name)

    def get(self, key: str, default: Any = None) -> Any:
        """Dict-style access."""
        return self._values.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def as_dict(self) -> dict[str, Any]:
        """All settings (a copy)."""
        return {k: list(v) if isinstance(v, list) else v for k, v in self._values.items()}

    def replace(self, **changes: Any) -> Config:
        """A new validated Config with some keys changed."""
        values = self.as_dict()
        values.update(changes)
        return Config(values, self.source)


def load_config(path: str | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Read ``path`` (default: /etc/mail-bruteforce-guard/config.json when it exists), apply ``overrides``."""
    values: dict[str, Any] = {}
    source = None
    if path is None and Path(DEFAULT_CONFIG_PATH).exists():
        path = DEFAULT_CONFIG_PATH
    if path is not None:
        source = path
        try:
            raw = Path(path).read_bytes()
        except OSError as err:
            raise ConfigError(f"cannot read config file {path}: {err.strerror or err}") from None
        try:
            values = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise ConfigError(f"config file {path} is not UTF-8 text") from None
        except ValueError as err:
            raise ConfigError(f"config file {path} is not valid JSON: {err}") from None
        if not isinstance(values, dict):
            raise ConfigError(f"config file {path} must hold a JSON object")
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    return Config(values, source)
