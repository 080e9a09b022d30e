"""Never-ban rules: addresses and networks a ban must never cover, whoever asks for it."""

from __future__ import annotations

from collections.abc import Iterable
from socket import inet_aton
from typing import NamedTuple

from ..addresses import match_canonical_ipv4, parse_networks
from ..errors import ConfigError
from .base import Target, network_target, parse_target

# Ranges no sane ban may touch, with the reason given when a request hits one.
SPECIAL_NETWORKS: tuple[tuple[Target, str], ...] = tuple(
    (parse_target(net), why)
    for net, why in (
        ("127.0.0.0/8", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0/8", "unspecified address"),
        ("::", "unspecified address"),
        ("224.0.0.0/4", "multicast"),
        ("ff00::/8", "multicast"),
        ("169.254.0.0/16", "link-local"),
        ("fe80::/10", "link-local"),
        ("255.255.255.255", "broadcast"),
    )
)

# The broadest prefix a single ban may cover (a typo like /1 must not cut a host off the internet).
MIN_PREFIX = {4: 8, 6: 16}


class Verdict(NamedTuple):
    """The guard's answer: the normalised address (the input when invalid) and why it is refused, if it is."""

    address: str
    refusal: str | None


_new = tuple.__new__  # a Verdict from both its fields, without the NamedTuple's Python-level __new__


def _parse_list(entries: Iterable[str], what: str) -> tuple[Target, ...]:
    """Parse configured addresses/networks (a lone string counts as a list); ConfigError names ``what``."""
    try:
        nets = parse_networks([entries] if isinstance(entries, str) else list(entries))
    except ConfigError as err:
        raise ConfigError(f"{what}: {err}") from None
    except TypeError:
        raise ConfigError(f"{what}: expected a list of addresses or networks, got {entries!r}") from None
    return tuple(network_target(net) for net in nets)


class Guard:
    """Decides whether an address or network may be banned.

    ``ignore``: networks never banned (SPECIAL_NETWORKS, loopback among them, never are either).
    ``protected``: the Ansible controller's address(es); a ban equal to, inside, or containing one is refused.
    """

    def __init__(self, ignore: Iterable[str] = (), protected: Iterable[str] = ()) -> None:
        self.ignore = _parse_list(ignore, "ignore")
        self.protected = _parse_list(protected, "protected")
        # what ``refusal`` says of a single IPv4 address (nearly every ban): it lies inside the first IPv4
        # rule holding it, in refusal's order, or is allowed (no /32 is too broad, none contains a rule)
        self._v4_rules = tuple(
            (rule.first, rule.last, why)
            for rule, why in (
                *((p, "protected (controller address)") for p in self.protected),
                *SPECIAL_NETWORKS,
                *((i, f"ignored network {i.text}") for i in self.ignore),
            )
            if rule.version == 4
        )

    def check(self, address: str) -> Verdict:
        """Return the normalised address and the refusal reason (None when the ban is allowed)."""
        if isinstance(address, str) and match_canonical_ipv4(address):  # refusal() of a /32: a few compares
            value = int.from_bytes(inet_aton(address), "big")
            for first, last, why in self._v4_rules:
                if first <= value <= last:
                    return Verdict(address, why)
            return _new(Verdict, (address, None))  # (nearly every ban of a batch)
        try:
            target = parse_target(address)
        except ValueError as err:
            why = "invalid network (host bits set)" if "host bits" in str(err) else "invalid address"
            return Verdict(str(address), why)
        return Verdict(target.text, self.refusal(target))

    def refusal(self, net: Target) -> str | None:  # noqa: PLR0911 - one return per never-ban rule, in order
        """Why banning ``net`` is forbidden, or None."""
        for prot in self.protected:
            hit = _relation(net, prot)
            if hit == "inside":
                return "protected (controller address)"
            if hit == "contains":
                return f"contains protected {prot.text} (controller address)"
        for special, why in SPECIAL_NETWORKS:
            hit = _relation(net, special)
            if hit == "inside":
                return why
            if hit == "contains":
                return f"contains {why} {special.text}"
        for ign in self.ignore:
            hit = _relation(net, ign)
            if hit == "inside":
                return f"ignored network {ign.text}"
            if hit == "contains":
                return f"overlaps ignored network {ign.text}"
        if net.prefixlen < MIN_PREFIX[net.version]:
            return f"prefix too broad (/{net.prefixlen}, at most /{MIN_PREFIX[net.version]} allowed)"
        return None


def _relation(net: Target, rule: Target) -> str | None:
    """Return "inside" when ``net`` lies within ``rule``, "contains" when it covers part of it, else None."""
    if net.version != rule.version or net.last < rule.first or rule.last < net.first:
        return None
    # Two CIDR blocks that overlap are nested: either net is inside rule or it contains rule.
    return "inside" if net.prefixlen >= rule.prefixlen else "contains"
