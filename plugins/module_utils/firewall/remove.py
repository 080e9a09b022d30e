"""``firewall-remove``: take out everything the project created in the firewall, for BOTH backends whatever
is configured (a host may have switched backends): the rules of ours in INPUT/FORWARD/OUTPUT (jumps to
``MBG-*`` chains, rules commented ``mbg...``), every ``MBG-*`` chain, our ipsets, our nftables table.
Nothing else is touched (another tool's rules, the chains' policies). Idempotent."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from typing import Any

from .base import FirewallError
from .ipset import IpsetBackend
from .iptables import TOOLS, list_rules, purge_batch, run_tool, variants
from .nftables import NftablesBackend

DEFAULT_SETS = ("mbg_ban_v4", "mbg_ban_v6")


def remove_all(config: Mapping[str, Any], prefix: Sequence[str] = ()) -> list[str]:
    """Remove, then check that nothing of ours is left (FirewallError naming what is); the lines say what
    was removed (empty: there was nothing)."""
    done: list[str] = []
    for version in TOOLS:
        for variant in variants(version, prefix):
            rules = list_rules(version, prefix, variant.tool)  # None: a kernel without IPv6
            batch = None if rules is None else purge_batch(rules)
            if batch is not None:
                run_tool([*prefix, variant.restore, "-w", "--noflush"], variant.restore, batch)
                count = sum(line.startswith(("-D ", "-X ")) for line in batch.splitlines())
                name = variant.tool if variant.legacy else TOOLS[version][0]
                done.append(f"removed {count} rules and chains of ours from {name} (IPv{version})")
    if prefix or shutil.which("ipset"):
        for v4, v6 in _set_names(config):
            done += IpsetBackend(v4=v4, v6=v6, command=(*prefix, "ipset")).purge()
    if prefix or shutil.which("nft"):
        done += NftablesBackend(command=(*prefix, "nft")).purge()
    left = leftovers(config, prefix)
    if left:
        raise FirewallError(f"firewall-remove left {', '.join(left)} in place")
    return done


def leftovers(config: Mapping[str, Any], prefix: Sequence[str] = ()) -> list[str]:
    """What of ours the firewall still holds, one short name each."""
    left = []
    for version in TOOLS:
        for variant in variants(version, prefix):
            rules = list_rules(version, prefix, variant.tool)
            if rules is not None and purge_batch(rules):
                left.append(f"{variant.tool} rules or chains")
    if prefix or shutil.which("ipset"):
        held: set[str] = set()
        for v4, v6 in _set_names(config):
            held.update(IpsetBackend(v4=v4, v6=v6, command=(*prefix, "ipset")).held())
        left += [f"ipset {name}" for name in sorted(held)]
    if (prefix or shutil.which("nft")) and NftablesBackend(command=(*prefix, "nft")).table_exists():
        left.append("nftables table inet mail_bruteforce_guard")
    return left


def _set_names(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (IPv4, IPv6) ipset names of ours: the configured ones and the defaults (an earlier config)."""
    names = [(config.get("ipset_v4", DEFAULT_SETS[0]), config.get("ipset_v6", DEFAULT_SETS[1]))]
    return names if names[0] == DEFAULT_SETS else [*names, DEFAULT_SETS]
