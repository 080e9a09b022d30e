# Copyright: mail_bruteforce_guard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``ban_targets``: check and normalise addresses given to a playbook (``-e address=...``) before any host is
touched, with the enforcement layer's own parser (firewall/base.py). Documentation: ban_targets.yml."""

from __future__ import annotations

import re
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.firewall.base import (
    normalize_target,
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
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise AnsibleFilterError(f"{where}: {item!r} is not an IP address or network")
        try:
            target = normalize_target(item.strip())
        except ValueError as err:
            raise AnsibleFilterError(f"{where}: {err} (expected an IP address or CIDR network)") from None
        if target not in out:
            out.append(target)
    if not out:
        raise AnsibleFilterError(f"{where}: no address given")
    return out


class FilterModule:
    """Address checking filter of mailsec.mail_bruteforce_guard."""

    def filters(self) -> dict[str, Any]:
        return {"ban_targets": ban_targets}
