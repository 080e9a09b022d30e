"""What the ban hook drops, independent of the firewall tool: banned sources (on the mail ports or on every
port, as ``ban_scope`` says) and the per-source SYN limit(s). Both backends render the same HookSpec.

Traffic arriving on the loopback interface is never touched (the first rule of both backends lets it pass):
only this host's own programs send it, and a webmail opens a new IMAP/SMTP connection to 127.0.0.1, ::1 or
the host's own public address for nearly every page, which a per-source SYN limit or a ban of the host's own
address (failures the webmail relayed) would cut off for every user at once."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, NamedTuple

SMTP_PORT = 25
DEFAULT_MAIL_PORTS = (25, 465, 587, 110, 995, 143, 993, 4190)
DEFAULT_SYN_PORTS = (465, 587, 110, 995, 143, 993, 4190)
LOOPBACK = "lo"
# Bumped whenever the rules rendered from the same spec change: it is part of the tag, so every installed
# hook is then seen as outdated by the cheap check and rewritten (2: the loopback exemption).
RULES_REVISION = 2
# hashlimit's --hashlimit-htable-expire takes milliseconds up to 2**32 - 1: about 49.7 days.
MAX_IDLE_SECONDS = (2**32 - 1) // 1000


class SynLimit(NamedTuple):
    """One per-source limit of new TCP connections: ``rate`` SYNs a minute after a ``burst``, on ``ports``."""

    name: str  # "syn" (the client ports) or "smtp" (port 25): names the meter set / hashlimit table
    ports: tuple[int, ...]
    rate: int
    burst: int

    @property
    def idle_seconds(self) -> int:
        """How long a source's counter must be kept: the time its bucket takes to refill, plus a minute.
        Forgetting it later is the same as a full bucket, so the limit holds with bounded memory. Capped at
        MAX_IDLE_SECONDS (a huge burst at a tiny rate would otherwise exceed what hashlimit accepts)."""
        return min(-(-self.burst * 60 // self.rate) + 60, MAX_IDLE_SECONDS)


class HookSpec(NamedTuple):
    """The ban hook's settings (config keys ban_scope, mail_ports, syn_*)."""

    scope: str = "mail"  # "mail": drop banned sources on mail_ports only; "all": on every port
    mail_ports: tuple[int, ...] = DEFAULT_MAIL_PORTS
    syn_ports: tuple[int, ...] = DEFAULT_SYN_PORTS
    syn_rate: int = 30  # per source and minute; 0: no limit on the client ports
    syn_burst: int = 60
    syn_rate_smtp: int = 600  # port 25, only when it is in syn_ports; 0: no limit there

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> HookSpec:
        """The spec of a validated config (detector/config.py checks the values)."""
        default = cls()
        return cls(
            scope=config.get("ban_scope", default.scope),
            mail_ports=_ports(config.get("mail_ports", default.mail_ports)),
            syn_ports=_ports(config.get("syn_ports", default.syn_ports)),
            syn_rate=int(config.get("syn_rate", default.syn_rate)),
            syn_burst=int(config.get("syn_burst", default.syn_burst)),
            syn_rate_smtp=int(config.get("syn_rate_smtp", default.syn_rate_smtp)),
        )

    def limits(self) -> list[SynLimit]:
        """The SYN limits to install: the client ports at syn_rate, port 25 (if listed) at syn_rate_smtp."""
        out = []
        clients = tuple(p for p in self.syn_ports if p != SMTP_PORT)
        if clients and self.syn_rate > 0:
            out.append(SynLimit("syn", clients, self.syn_rate, self.syn_burst))
        if SMTP_PORT in self.syn_ports and self.syn_rate_smtp > 0:
            out.append(SynLimit("smtp", (SMTP_PORT,), self.syn_rate_smtp, max(self.syn_burst, 1)))
        return out

    @property
    def tag(self) -> str:
        """A short digest of the spec, written into every rule's comment: a cheap listing then tells an
        intact, current hook from a missing, damaged or outdated one."""
        return hashlib.sha256(repr((RULES_REVISION, *self)).encode()).hexdigest()[:10]

    def describe(self) -> str:
        """One line for the log: what the hook drops."""
        where = "all ports" if self.scope == "all" else "tcp " + ",".join(map(str, self.mail_ports))
        parts = [f"drop banned sources on {where} (not on {LOOPBACK})"]
        parts += [
            f"{lim.name} limit {lim.rate}/min burst {lim.burst} on tcp {_join(lim.ports)}"
            for lim in self.limits()
        ]
        return "; ".join(parts)


def _ports(value: Any) -> tuple[int, ...]:
    """Ports without duplicates, in the given order."""
    return tuple(dict.fromkeys(int(p) for p in value))


def _join(ports: tuple[int, ...]) -> str:
    return ",".join(map(str, ports))
