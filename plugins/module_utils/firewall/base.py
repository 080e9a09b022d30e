"""Shared by every firewall backend: the Ban record, the backend protocol, address and timeout arithmetic."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Sequence
from socket import inet_aton
from typing import Any, NamedTuple, Protocol, Union

from ..addresses import is_canonical_ipv4, normalize_ip
from ..errors import MbgError

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


class FirewallError(MbgError):
    """The firewall tool failed or is missing (exit code 1, one-line message)."""


class PartialApplyError(FirewallError):
    """The backend failed part way through a batch (a set that is full): ``result`` (an
    ``enforce.EnforceResult``) says what WAS applied (``added``, read back from the firewall) and ``failed``
    which bans were not, so the caller can save the first and report the second."""

    def __init__(self, message: str, result: Any, failed: tuple) -> None:
        super().__init__(message)
        self.result = result
        self.failed = failed


class Ban(NamedTuple):
    """One ban request: ``address`` an IP or CIDR network, ``until`` POSIX seconds, ``reason`` free text."""

    address: str
    until: float
    reason: str


class FirewallBackend(Protocol):
    """A firewall that holds banned addresses with per-entry expiry.

    Backends normalise addresses themselves and never add an entry whose ban has already expired.
    """

    name: str
    max_timeout: int  # the longest per-entry timeout (seconds) the backend accepts

    def ensure(self) -> list[str]:
        """Create the sets if missing (never flush existing ones); return what was done, one line each."""

    def add(self, bans: Sequence[Ban], now: float, *, checked: bool = False) -> None:
        """Add or refresh ``bans`` in ONE batch, each expiring ``until - now`` seconds from now (capped).
        ``checked``: each address is the canonical text ``Guard.check`` gave it (nothing to parse again)."""

    def remove(self, addresses: Sequence[str]) -> None:
        """Remove ``addresses`` in ONE batch; absent ones are no error."""

    def list(self) -> dict[str, int]:
        """Return normalised address -> seconds left (0: the entry never expires); {} when no set exists."""

    def attach(self, thorough: bool = False, contests: dict | None = None) -> list[str]:
        """Make the ban hook current, cheap check first (creating the sets if needed); return what was
        done, one line each (set creation lines start with created/completed/resized). ``thorough`` also
        checks every rule where that costs more than the cheap check (nftables). ``contests`` (IP version
        -> ``contest.Contest``, updated in place): the fight over INPUT position 1 (iptables; see
        contest.py)."""

    def detach(self) -> list[str]:
        """Remove the ban hook (``ban_hook`` turned off), keeping the sets and their entries."""

    def hook_state(self, contests: Any = None) -> str:
        """``attached`` when the current hook is in place, ``contested`` when the only fault is a held
        contest of ``contests`` (iptables), else ``missing``."""

    def hook_contested(self, contests: Any) -> dict:
        """The held contests of ``contests`` the firewall still shows (IP version -> Contest)."""

    def purge(self) -> list[str]:
        """Remove the sets/table this backend created; return what was removed, one line each."""


class Target(NamedTuple):
    """A parsed ban target: IP version, first and last address as integers, prefix length, canonical text."""

    version: int
    first: int
    last: int
    prefixlen: int
    text: str  # a bare address for a single host (``203.0.113.5``), else ``network/prefix``


_new = tuple.__new__  # a NamedTuple from a tuple of all its fields, without its Python-level __new__


def parse_target(text: str) -> Target:
    """Parse an IP address or CIDR network; IPv4-mapped IPv6 folds to IPv4. ValueError when invalid.

    A network with host bits set (``10.1.2.3/8``) is refused rather than silently widened.
    """
    if type(text) is str and is_canonical_ipv4(text):
        # a canonical IPv4 address (nearly every ban): no ipaddress object, its four bytes read in C
        first = int.from_bytes(inet_aton(text), "big")
        return _new(Target, (4, first, first, 32, text))
    if not isinstance(text, str) or not text or text != text.strip():
        raise ValueError(f"invalid address {text!r}")
    host, slash, length = text.partition("/")
    norm = normalize_ip(host)  # brackets stripped, ::ffff:a.b.c.d folded, zone ids refused
    if norm is None:
        raise ValueError(f"invalid address {text!r}")
    ip = ipaddress.ip_address(norm)
    maxlen = ip.max_prefixlen
    prefixlen = maxlen
    if slash:
        folded = ip.version == 4 and ":" in host  # an IPv4-mapped IPv6 network: its length counts from 96
        if not (length.isascii() and length.isdigit()) or not 0 <= int(length) - 96 * folded <= maxlen:
            raise ValueError(f"invalid address {text!r}")
        prefixlen = int(length) - 96 * folded
    first = int(ip)
    hostmask = (1 << (maxlen - prefixlen)) - 1
    if first & hostmask:
        raise ValueError(f"invalid network {text!r} (host bits set)")
    canonical = str(ip) if prefixlen == maxlen else f"{ip}/{prefixlen}"
    return Target(ip.version, first, first | hostmask, prefixlen, canonical)


def parse_ban_target(address: str) -> Target:
    """``parse_target`` for a backend's command line: FirewallError when invalid (the guard refuses those
    before any backend sees them)."""
    try:
        return parse_target(address)
    except ValueError as err:
        raise FirewallError(str(err)) from None


def network_target(net: Network) -> Target:
    """The Target of an ``ipaddress`` network object."""
    text = str(net.network_address) if net.prefixlen == net.max_prefixlen else net.with_prefixlen
    return Target(net.version, int(net.network_address), int(net.broadcast_address), net.prefixlen, text)


def normalize_target(text: str) -> str:
    """Canonical text of an address or network (``::ffff:1.2.3.4`` -> ``1.2.3.4``); ValueError if invalid."""
    return parse_target(text).text


def unique_targets(addresses: Iterable[Any]) -> list[str]:
    """Addresses or networks -> their canonical texts, each once, in first-seen order (possibly none);
    ValueError names the first malformed one. Used wherever a list of addresses to ban comes in."""
    out: dict[str, None] = {}
    for address in addresses:
        out[normalize_target(str(address).strip())] = None
    return list(out)


def ended(until: float, now: float, cap: int) -> bool:
    """``ban_seconds(until, now, cap) == 0``: without its rounding for a ban with a second or more to run
    (nearly every one; NaN and a cap below 1 take the reference)."""
    return until <= now or (not (cap >= 1 and until - now >= 1.0) and ban_seconds(until, now, cap) == 0)


def ban_seconds(until: float, now: float, cap: int) -> int:
    """Whole seconds a ban must still last, rounded up and capped at ``cap``; 0 when already expired."""
    left = round(until - now, 3)  # absorb float noise: now + 3600 - now must give 3600, not 3601
    if not math.isfinite(left):
        return cap if left > 0 else 0
    if left <= 0:
        return 0
    return min(math.ceil(left), cap)
