"""Which other firewall tools live on this host (read-only): their systemd units, programs, iptables chains
and nftables tables. ``status --json`` reports it and the role says what it found; nothing here changes
anything, and a tool that cannot be asked (no systemd, not root) simply finds less."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from .iptables import TOOLS as TOOLS_BY_FAMILY
from .iptables import variants

UNIT_DIRS = ("/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")
_TIMEOUT = 10.0


class Tool(NamedTuple):
    """How to recognise one tool."""

    name: str
    unit: str
    programs: tuple[str, ...] = ()
    chain_prefixes: tuple[str, ...] = ()  # iptables chains it creates
    nft_tables: tuple[str, ...] = ()  # nftables tables it creates


TOOLS = (
    Tool("ufw", "ufw", ("ufw",), ("ufw-", "ufw6-")),
    Tool("firewalld", "firewalld", ("firewall-cmd",), (), ("firewalld",)),
    Tool("fail2ban", "fail2ban", ("fail2ban-client",), ("f2b-",), ("f2b-table",)),
    Tool("psa-firewall", "psa-firewall"),
    Tool(
        "crowdsec-firewall-bouncer",
        "crowdsec-firewall-bouncer",
        ("crowdsec-firewall-bouncer",),
        ("CROWDSEC",),
        ("crowdsec", "crowdsec6"),
    ),
    Tool("netfilter-persistent", "netfilter-persistent", ("netfilter-persistent",)),
    # an nftables.service ruleset (its tables are the admin's own: found by the unit, not by a name)
    Tool("nftables", "nftables"),
    Tool("docker", "docker", ("dockerd",), ("DOCKER",)),
)


class Found(NamedTuple):
    """A tool seen on the host; ``active`` when its unit runs or its rules are loaded."""

    name: str
    active: bool
    detail: str

    def as_dict(self) -> dict[str, object]:
        return self._asdict()


def detect(prefix: Sequence[str] = ()) -> list[Found]:
    """Every known tool with any trace on the host, in TOOLS order. ``prefix`` runs the probes elsewhere."""
    states = _unit_states(prefix, [t.unit for t in TOOLS])
    chains = _chains(prefix)
    tables = _nft_tables(prefix)
    found = []
    for tool in TOOLS:
        notes = []
        state = states.get(tool.unit, "")
        if state == "active":
            notes.append(f"{tool.unit}.service active")
        elif _unit_file(tool.unit):
            notes.append(f"{tool.unit}.service {state or 'installed'}")
        names = (
            sorted({c for c in chains if c.startswith(tool.chain_prefixes)}) if tool.chain_prefixes else []
        )
        if names:
            notes.append("iptables chains " + ", ".join(names[:5]) + (" ..." if len(names) > 5 else ""))
        own = [t for t in tables if t.split()[-1] in tool.nft_tables]
        if own:
            notes.append("nft tables " + ", ".join(own))
        programs = [p for p in tool.programs if shutil.which(p)]
        if not notes and programs:
            notes.append(f"{programs[0]} installed")
        if notes:
            found.append(Found(tool.name, state == "active" or bool(names or own), "; ".join(notes)))
    return found


def _run(argv: list[str]) -> str:
    """stdout of a read-only probe; empty when it cannot run."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout


def _unit_states(prefix: Sequence[str], units: list[str]) -> dict[str, str]:
    """``systemctl is-active`` for all units at once (one line per unit, in order)."""
    if not prefix and shutil.which("systemctl") is None:
        return {}
    lines = _run([*prefix, "systemctl", "is-active", *[f"{u}.service" for u in units]]).splitlines()
    if len(lines) != len(units):
        return {}
    return dict(zip(units, (line.strip() for line in lines)))


def _unit_file(unit: str) -> bool:
    return any(Path(d, f"{unit}.service").exists() for d in UNIT_DIRS)


def _chains(prefix: Sequence[str]) -> set[str]:
    """Chain names of the filter and nat tables, IPv4 and IPv6, of both iptables variants (a legacy table
    only when it is loaded: listing it would create it, and this must change nothing)."""
    names: set[str] = set()
    for version in TOOLS_BY_FAMILY:
        for table in ("filter", "nat"):
            for variant in variants(version, prefix, table):
                for line in _run([*prefix, variant.tool, "-w", "-t", table, "-S"]).splitlines():
                    if line.startswith("-N "):
                        names.add(line.split()[1])
    return names


def _nft_tables(prefix: Sequence[str]) -> list[str]:
    """``family name`` of every nftables table (iptables-nft's own ``ip filter`` etc. among them)."""
    if not prefix and shutil.which("nft") is None:
        return []
    out = _run([*prefix, "nft", "list", "tables"])
    return [line[len("table ") :].strip() for line in out.splitlines() if line.startswith("table ")]
