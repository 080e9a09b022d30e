"""IP address helpers: normalisation, ignore networks and IPv6 prefix aggregation."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Union

from .errors import ConfigError
from .memo import remember

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

_ADDR_CHARS = frozenset("0123456789abcdefABCDEF:.")
# a canonical dotted quad: four decimal numbers 0-255 without leading zeros (one C call)
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4_RE = re.compile(_OCTET + r"\." + _OCTET + r"\." + _OCTET + r"\." + _OCTET)


_CACHE: dict[str, str | None] = {}
_CACHE_MAX = 65536


def _normalize(text: str) -> str | None:
    if ":" not in text:  # IPv4: one regex match, far faster than ipaddress
        return text if _IPV4_RE.fullmatch(text) is not None else None
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if addr.version == 6:
        mapped = addr.ipv4_mapped
        if mapped is not None:
            return str(mapped)
        if addr.scope_id:
            return None
    return str(addr)


def normalize_ip(text: str | None) -> str | None:
    """Return the canonical form of an address (``[..]`` stripped, ``::ffff:a.b.c.d`` folded), else None.

    Only bare addresses are accepted: no port, no zone index, no prefix length, no surrounding spaces.
    """
    try:
        return _CACHE[text]  # type: ignore[index]
    except (KeyError, TypeError):
        pass
    if not text or len(text) > 47:
        return None
    raw = text
    if text[0] == "[" and text[-1] == "]":
        text = text[1:-1]
    if not text or not _ADDR_CHARS.issuperset(text):
        return None
    return remember(_CACHE, raw, _normalize(text), _CACHE_MAX)


def is_canonical_ipv4(text: str) -> bool:
    """``normalize_ip(text) == text`` for an IPv4 address, in one regex match and without the cache (which
    100,000 banned addresses, each parsed once or twice by the firewall layer, would only churn)."""
    return _IPV4_RE.fullmatch(text) is not None


# is_canonical_ipv4 as one C call (a match or None, for str only): the per-ban loops of a firewall batch
match_canonical_ipv4 = _IPV4_RE.fullmatch


def parse_networks(items: Iterable[str]) -> list[Network]:
    """Parse a list of CIDR networks or single addresses; ConfigError names the first bad entry."""
    if isinstance(items, str):
        raise ConfigError(f"expected a list of networks, got the string {items!r}")
    nets: list[Network] = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(f"invalid network {item!r}: expected a string such as 10.0.0.0/8")
        text = item.strip()
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ConfigError(
                f"invalid network {item!r}: expected CIDR such as 10.0.0.0/8 or 2001:db8::/32"
            ) from None
        if net.version == 6 and net.prefixlen >= 96 and net.network_address.ipv4_mapped is not None:
            mapped = net.network_address.ipv4_mapped
            net = ipaddress.ip_network(f"{mapped}/{net.prefixlen - 96}", strict=False)
        nets.append(net)
    return nets


def is_ignored(ip: str, nets: Iterable[Network]) -> bool:
    """True when ``ip`` (an address or an aggregated block) is loopback or inside one of ``nets``."""
    if "/" in ip:
        try:
            block = ipaddress.ip_network(ip, strict=False)
        except ValueError:
            return False
        if block.network_address.is_loopback and block.broadcast_address.is_loopback:
            return True
        return any(block.version == net.version and block.subnet_of(net) for net in nets)  # type: ignore[arg-type]
    norm = normalize_ip(ip)
    if norm is None:
        return False
    addr = ipaddress.ip_address(norm)
    if addr.is_loopback:
        return True
    return any(addr.version == net.version and addr in net for net in nets)


def aggregate(ip: str, v6_prefix: int = 128) -> str:
    """Return ``ip`` itself, or for IPv6 with ``v6_prefix`` < 128 its network (``2001:db8:1:2::/64``)."""
    if not 0 <= v6_prefix <= 128:
        raise ConfigError(f"invalid IPv6 prefix length {v6_prefix}: expected 0..128")
    norm = normalize_ip(ip)
    if norm is None:
        return ip  # not an address (already a block, or garbage): left as it is
    if v6_prefix == 128 or ":" not in norm:
        return norm
    return str(ipaddress.ip_network(f"{norm}/{v6_prefix}", strict=False))
