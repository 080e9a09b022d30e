# Copyright: mail_bruteforce_guard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role's validate step: ``role_errors`` checks the role's variables with the detector library's own rules
(module_utils/schema.py: the very checks the detector applies to its config file), plus the few variables only
the role reads (lockdown ports, sysctl keys), so the role and the library cannot disagree.
Documentation: role_errors.yml."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.validation import (
    check_type_bool,
    check_type_float,
    check_type_int,
    check_type_list,
)
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.errors import ConfigError
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.notify.settings import notifiers
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.schema import (
    MAX_PORTS,
    ROLE_PREFIX,
    SETTINGS,
    errors,
)
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.test.network import network

# argument_specs' conversions (the role renders the config with | int, | bool): the value the detector gets
_CONVERT = {"int": check_type_int, "number": check_type_float, "bool": check_type_bool}
_PORT_RANGE = re.compile(r"([1-9][0-9]{0,4})(?::([1-9][0-9]{0,4}))?\Z")
_ACK_PORT = re.compile(r"(?:(?:tcp|udp)/)?([1-9][0-9]{0,4})(?::([1-9][0-9]{0,4}))?\Z")
_SYSCTL_KEY = re.compile(r"[a-z0-9_]+(?:\.[A-Za-z0-9_-]+)+\Z")
_SYSCTL_VALUE = re.compile(r"[^\n]{1,200}\Z")
# systemd resource limits the role writes into the follow unit (empty: no limit)
_MEMORY_MAX = re.compile(r"(?:[1-9][0-9]{0,14}[KMGT]?|(?:[1-9][0-9]?|100)%|infinity)?\Z")
_CPU_QUOTA = re.compile(r"(?:[1-9][0-9]{0,4}%)?\Z")


def _converted(kind: str, value: Any) -> Any:
    """The value as the role renders it into the config; unchanged when it does not convert (the library's
    check then names it)."""
    try:
        if kind in _CONVERT:
            return _CONVERT[kind](value)
        if kind == "list" and isinstance(value, (list, tuple)):
            return [_int_or_same(item) for item in check_type_list(value)]
    except (TypeError, ValueError):
        return value
    return value


def _int_or_same(item: Any) -> Any:
    if isinstance(item, str) and item.isdigit():
        return int(item)
    return item


def _in_range(match: re.Match | None) -> bool:
    return match is not None and all(int(part) <= 65535 for part in match.groups() if part)


def _bad_ports(ports: Any) -> list[Any]:
    return [port for port in ports if isinstance(port, bool) or not _in_range(_PORT_RANGE.match(str(port)))]


def _role_only(variables: Mapping[str, Any], ansible_port: Any) -> list[str]:
    """The variables only the role reads: (name, rule, the bad values) for each that fails."""
    get = variables.get
    out = []
    ssh = [ansible_port, *get(ROLE_PREFIX + "ssh_ports", [])]
    bad = _bad_ports(ssh)
    if bad or len({str(port) for port in ssh}) > MAX_PORTS:
        out.append(
            ("ssh_ports", f"with ansible_port at most {MAX_PORTS} ports, each between 1 and 65535", bad)
        )
    bad = []
    for entry in get(ROLE_PREFIX + "firewall_extra_ports", []):
        if not isinstance(entry, Mapping):
            bad.append(entry)
            continue
        bad += _bad_ports([entry.get("port")])
        if "source" in entry and not network(entry["source"]):
            bad.append(entry["source"])
    if bad:
        out.append(
            (
                "firewall_extra_ports",
                "each port must be 1-65535 or a range first:last, each source an address or network",
                bad,
            )
        )
    bad = [
        item
        for item in get(ROLE_PREFIX + "firewall_lockdown_ack_ports", [])
        if not _in_range(_ACK_PORT.match(str(item)))
    ]
    if bad:
        out.append(
            (
                "firewall_lockdown_ack_ports",
                "each entry must be a TCP port (443) or proto/port (udp/53, tcp/8000:8100), ports 1-65535",
                bad,
            )
        )
    sysctl = {**get(ROLE_PREFIX + "sysctl", {}), **get(ROLE_PREFIX + "sysctl_overrides", {})}
    bad = [key for key in sysctl if not _SYSCTL_KEY.match(str(key))]
    bad += [value for value in sysctl.values() if value is not None and not _SYSCTL_VALUE.match(str(value))]
    if bad:
        out.append(
            (
                "sysctl_overrides",
                "mail_bruteforce_guard_sysctl and its overrides need dotted lowercase keys"
                " (net.ipv4.tcp_syncookies) and single-line scalar values",
                bad,
            )
        )
    out += _unit_limits(variables)
    return [
        f"{ROLE_PREFIX}{name}: {rule} (got {json.dumps(values, default=str)})" for name, rule, values in out
    ]


def _unit_limits(variables: Mapping[str, Any]) -> list[tuple[str, str, list[Any]]]:
    """The follow daemon's cgroup limits: written into its unit, so only systemd's own forms pass."""
    out = []
    rules = (
        ("follow_memory_max", _MEMORY_MAX, "bytes (K, M, G or T suffix), 1%-100%, infinity or empty"),
        ("follow_cpu_quota", _CPU_QUOTA, "a percentage of one core (50%, 200%) or empty"),
    )
    for name, pattern, rule in rules:
        value = variables.get(ROLE_PREFIX + name, "")
        if not isinstance(value, str) or not pattern.match(value):
            out.append((name, rule, [value]))
    return out


def role_errors(variables: Any, ansible_port: Any = 22) -> list[str]:
    """The role's variables (``{mail_bruteforce_guard_maxretry: 5, ...}``; others are passed over) -> one
    message per bad variable, naming it; empty when all are good."""
    if not isinstance(variables, Mapping):
        raise AnsibleFilterError(
            f"role_errors: expected a mapping of variables, got {type(variables).__name__}"
        )
    values = {
        setting.name: _converted(setting.kind, variables[setting.var])
        for setting in SETTINGS
        if setting.role and setting.var in variables
    }
    found = errors(values, for_role=True)
    return found + _notifier_errors(values, found) + _role_only(variables, ansible_port)


def _notifier_errors(values: Mapping[str, Any], found: list[str]) -> list[str]:
    """The library's deep check of each notifier object (notify/settings.py), once the schema found the list
    itself good: a bad notifier stops the play before the config is written, not at the first scan."""
    label = f"{ROLE_PREFIX}notify:"
    if "notify" not in values or any(message.startswith(label) for message in found):
        return []
    try:
        notifiers({"notify": values["notify"]})
    except ConfigError as err:
        text = str(err)
        prefix = "config key 'notify' "
        return [f"{label} {text[len(prefix) :] if text.startswith(prefix) else text}"]
    return []


class FilterModule:
    """The role's validate step of mailsec.mail_bruteforce_guard."""

    def filters(self) -> dict[str, Any]:
        return {"role_errors": role_errors}
