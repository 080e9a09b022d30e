"""PolicyConfig: the thresholds of the ban policy, validated with one-line errors."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..addresses import parse_networks
from ..errors import ConfigError

# name -> (default, minimum); every threshold is an int except the multiplier.
_INT_LIMITS = {
    "maxretry": (5, 1),
    "findtime": (600, 1),
    "bantime": (3600, 1),
    "bantime_max": (604800, 1),
    "slow_maxretry": (20, 0),
    "slow_findtime": (86400, 1),
    "targeted_min_ips": (5, 0),
    "targeted_findtime": (3600, 1),
    "compromised_min_failures": (3, 0),
    "ipv6_prefix": (128, 1),
    "known_good_days": (30, 0),
    "stale_maxretry": (200, 0),
    "stale_findtime": (86400, 1),
    "shared_min_users": (3, 0),
    "preauth_maxretry": (20, 0),
    "preauth_findtime": (600, 1),
}


class PolicyConfig(NamedTuple):
    """Thresholds of the policy; 0 for ``slow_maxretry``, ``targeted_min_ips``, ``compromised_min_failures``,
    ``known_good_days`` (and with it the stale-client and shared-address rules and the pre-auth exemption),
    ``stale_maxretry``, ``shared_min_users`` or ``preauth_maxretry`` switches that rule off.

    The leniency toward known clients (``policy/clients.py``): a username that logged in from an address
    within ``known_good_days`` is known there; its failures from there are a stale client's (they count
    toward ``stale_maxretry`` in ``stale_findtime``, not the ban windows) while the address fails for no
    unknown username, or always when ``shared_min_users`` known users make it a shared address.
    Pre-auth abuse (``policy/preauth.py``): ``preauth_maxretry`` connections that never tried a password
    (plaintext refused, no auth attempts) within ``preauth_findtime``, from an address with no known user.
    """

    maxretry: int = 5
    findtime: int = 600
    bantime: int = 3600
    bantime_multiplier: float = 2
    bantime_max: int = 604800
    slow_maxretry: int = 20
    slow_findtime: int = 86400
    targeted_min_ips: int = 5
    targeted_findtime: int = 3600
    compromised_min_failures: int = 3
    ipv6_prefix: int = 128
    known_good_days: int = 30
    stale_maxretry: int = 200
    stale_findtime: int = 86400
    shared_min_users: int = 3
    preauth_maxretry: int = 20
    preauth_findtime: int = 600
    ignore: tuple = ()
    protected: tuple = ()

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> PolicyConfig:
        """Build from a mapping that may hold other (non-policy) keys; validates what it takes."""
        picked = {name: values[name] for name in cls._fields if name in values}
        for name in ("ignore", "protected"):
            if name in picked:
                picked[name] = tuple(_string_list(name, picked[name]))
        cfg = cls(**picked)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Raise ConfigError naming the first bad key."""
        for name, (_default, minimum) in _INT_LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"config key {name!r} must be an integer, got {value!r}")
            if value < minimum:
                raise ConfigError(f"config key {name!r} must be >= {minimum}, got {value}")
        mult = self.bantime_multiplier
        if isinstance(mult, bool) or not isinstance(mult, (int, float)) or not 1 <= mult <= 1000:
            raise ConfigError(
                f"config key 'bantime_multiplier' must be a number from 1 to 1000, got {mult!r}"
            )
        if self.bantime_max < self.bantime:
            raise ConfigError("config key 'bantime_max' must be >= 'bantime'")
        if self.known_good_days > 3650:
            raise ConfigError(f"config key 'known_good_days' must be <= 3650, got {self.known_good_days}")
        if self.ipv6_prefix > 128:
            raise ConfigError(f"config key 'ipv6_prefix' must be <= 128, got {self.ipv6_prefix}")
        for name in ("ignore", "protected"):
            try:
                parse_networks(_string_list(name, getattr(self, name)))
            except ConfigError as err:
                raise ConfigError(f"config key {name!r}: {err}") from None


def _string_list(name: str, value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ConfigError(f"config key {name!r} must be a list of strings, got {value!r}")
    for item in value:
        if not isinstance(item, str):
            raise ConfigError(f"config key {name!r} must be a list of strings, got item {item!r}")
    return list(value)
