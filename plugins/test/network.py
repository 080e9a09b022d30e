# Copyright: mail_bruteforce_guard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``network`` test: is a value an IP address or CIDR network the detector accepts? It asks the library's
own parser (addresses.parse_networks), so the role validates ``ignore``/``protected`` exactly as the detector
will read them. Documentation: network.yml."""

from __future__ import annotations

from typing import Any

from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.addresses import parse_networks
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.errors import ConfigError


def network(value: Any) -> bool:
    """True when ``value`` is one IPv4/IPv6 address or network in CIDR notation."""
    if not isinstance(value, str) or value != value.strip():
        return False
    try:
        parse_networks([value])
    except ConfigError:
        return False
    return True


class TestModule:
    """Jinja2 tests of mailsec.mail_bruteforce_guard."""

    def tests(self) -> dict[str, Any]:
        return {"network": network}
