"""PolicyConfig: the thresholds of the ban policy, validated with one-line errors."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..errors import ConfigError
from ..schema import check, defaults

_D = defaults()  # the field defaults below come from schema.py, as do the checks


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

    maxretry: int = _D["maxretry"]
    findtime: int = _D["findtime"]
    bantime: int = _D["bantime"]
    bantime_multiplier: float = _D["bantime_multiplier"]
    bantime_max: int = _D["bantime_max"]
    slow_maxretry: int = _D["slow_maxretry"]
    slow_findtime: int = _D["slow_findtime"]
    targeted_min_ips: int = _D["targeted_min_ips"]
    targeted_findtime: int = _D["targeted_findtime"]
    compromised_min_failures: int = _D["compromised_min_failures"]
    ipv6_prefix: int = _D["ipv6_prefix"]
    known_good_days: int = _D["known_good_days"]
    stale_maxretry: int = _D["stale_maxretry"]
    stale_findtime: int = _D["stale_findtime"]
    shared_min_users: int = _D["shared_min_users"]
    preauth_maxretry: int = _D["preauth_maxretry"]
    preauth_findtime: int = _D["preauth_findtime"]
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
        """Raise ConfigError naming the first bad key (the checks of schema.py)."""
        values = self._asdict()
        values["ignore"], values["protected"] = list(self.ignore), list(self.protected)
        check(values)


def _string_list(name: str, value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ConfigError(f"config key {name!r} must be a list of strings, got {value!r}")
    for item in value:
        if not isinstance(item, str):
            raise ConfigError(f"config key {name!r} must be a list of strings, got item {item!r}")
    return list(value)
