"""The detector's JSON config file: keys are the role's variables without the ``mail_bruteforce_guard_``
prefix. An unknown key or a wrong type is a ConfigError naming the key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..notify.settings import validate as validate_notify
from ..policy.config import PolicyConfig
from ..schema import check as check_settings
from ..schema import defaults as default_settings
from .journaltrust import validate_trusted

DEFAULT_CONFIG_PATH = "/etc/mail-bruteforce-guard/config.json"
# The settings, their defaults and checks: schema.py (one entry a key; the role is generated from it too).
DEFAULTS: dict[str, Any] = default_settings()


class Config:
    """Validated settings; read them as attributes (``config.maxretry``) or with ``config.get(key)``."""

    def __init__(self, values: dict[str, Any] | None = None, source: str | None = None) -> None:
        merged = default_settings()
        for key, value in (values or {}).items():
            if key not in merged:
                raise ConfigError(f"unknown config key {key!r}" + (f" in {source}" if source else ""))
            merged[key] = value
        self._values = merged
        self.source = source
        check_settings(merged)
        validate_trusted(merged["journal_trusted"])
        validate_notify(merged)  # the notifier objects, key by key
        self.policy = PolicyConfig.from_mapping(merged)

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
