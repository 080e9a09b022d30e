# Copyright: mail_bruteforce_guard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Addresses to ban: ``ban_targets`` checks and normalises addresses given to a playbook (``-e address=...``)
before any host is touched, with the enforcement layer's own parser (firewall/base.py); ``shared_bans`` turns
fleet offenders into guard_ban's ``bans`` entries. Documentation: ban_targets.yml, shared_bans.yml."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.firewall.base import (
    unique_targets,
)

_SEPARATORS = re.compile(r"[\s,]+")


def ban_targets(value: Any) -> list[str]:
    """One address/network, a comma or space separated string of them, or a list -> normalised unique list."""
    where = "ban_targets"
    if isinstance(value, str):
        items: list = [x for x in _SEPARATORS.split(value) if x]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise AnsibleFilterError(
            f"{where}: expects an address, a comma separated string or a list, got {type(value).__name__}"
        )
    for item in items:
        if not isinstance(item, str):
            raise AnsibleFilterError(f"{where}: {item!r} is not an IP address or network")
    try:
        out = unique_targets(items)
    except ValueError as err:
        raise AnsibleFilterError(f"{where}: {err} (expected an IP address or CIDR network)") from None
    if not out:
        raise AnsibleFilterError(f"{where}: no address given")
    return out


def shared_bans(offenders: Any) -> list[dict[str, str]]:
    """``fleet_merge(..., bantime=N)`` records -> guard_ban ``bans`` entries (address, expires, reason), one
    per record with a ``share_until``; records without one (nothing to end the ban at) are left out."""
    where = "shared_bans"
    if not isinstance(offenders, list):
        raise AnsibleFilterError(
            f"{where}: expects the list fleet_merge returns, got {type(offenders).__name__}"
        )
    out = []
    for index, entry in enumerate(offenders):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("ip"), str):
            raise AnsibleFilterError(f"{where}: item #{index + 1} is not a fleet_merge record (no 'ip')")
        if "share_until" not in entry:
            raise AnsibleFilterError(
                f"{where}: {entry['ip']} has no 'share_until': give fleet_merge a bantime"
            )
        hosts = entry.get("hosts") or []
        if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
            raise AnsibleFilterError(
                f"{where}: {entry['ip']}: 'hosts' must be a list of host names, got {hosts!r}"
            )
        if entry["share_until"]:
            reason = entry.get("summary") or f"seen on {', '.join(hosts)}"
            out.append({"address": entry["ip"], "expires": str(entry["share_until"]), "reason": str(reason)})
    return out


class FilterModule:
    """Address filters of mailsec.mail_bruteforce_guard."""

    def filters(self) -> dict[str, Any]:
        return {"ban_targets": ban_targets, "shared_bans": shared_bans}
