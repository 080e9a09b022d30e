"""PolicyConfig: the thresholds of the ban policy, validated with one-line errors."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..addresses import parse_networks
from ..errors import ConfigError
from ..limits import MAX_DURATION

_MAX_COUNT = 1_000_000  # failures or addresses a rule may wait for
# name -> (default, minimum, maximum); every threshold is an int except the multiplier. Durations are at
# most limits.MAX_DURATION: a larger one would overflow the times computed from it.
_INT_LIMITS = {
    "maxretry": (5, 1, _MAX_COUNT),
    "findtime": (600, 1, MAX_DURATION),
    "bantime": (3600, 1, MAX_DURATION),
    "bantime_max": (604800, 1, MAX_DURATION),
    "slow_maxretry": (20, 0, _MAX_COUNT),
    "slow_findtime": (86400, 1, MAX_DURATION),
    "targeted_min_ips": (5, 0, _MAX_COUNT),
    "targeted_findtime": (3600, 1, MAX_DURATION),
    "compromised_min_failures": (3, 0, _MAX_COUNT),
    "ipv6_prefix": (128, 1, 128),
    "known_good_days": (30, 0, 3650),
    "stale_maxretry": (200, 0, _MAX_COUNT),
    "stale_findtime": (86400, 1, MAX_DURATION),
    "shared_min_users": (3, 0, _MAX_COUNT),
    "preauth_maxretry": (20, 0, _MAX_COUNT),
    "preauth_findtime": (600, 1, MAX_DURATION),
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
        for name, (_default, minimum, maximum) in _INT_LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"config key {name!r} must be an integer, got {value!r}")
            if value < minimum:
                raise ConfigError(f"config key {name!r} must be >= {minimum}, got {value}")
            if value > maximum:
                raise ConfigError(f"config key {name!r} must be <= {maximum}, got {value}")
        mult = self.bantime_multiplier
        if isinstance(mult, bool) or not isinstance(mult, (int, float)) or not 1 <= mult <= 1000:
            raise ConfigError(
                f"config key 'bantime_multiplier' must be a number from 1 to 1000, got {mult!r}"
            )
        if self.bantime_max < self.bantime:
            raise ConfigError("config key 'bantime_max' must be >= 'bantime'")
        if self.slow_findtime < self.findtime:
            raise ConfigError("config key 'slow_findtime' must be >= 'findtime'")
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
