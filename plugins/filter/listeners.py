# Copyright: mail_bruteforce_guard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lockdown pre-flight: ``lockdown_cuts`` reads ``ss -H -ltnup`` and names every socket listening on a
non-loopback address whose port the lockdown allow-list would not admit, so the role can refuse before any
change ("lockdown would cut nginx on tcp/443"). Documentation: lockdown_cuts.yml."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from ansible.errors import AnsibleFilterError

# Netid State Recv-Q Send-Q Local:Port Peer:Port [Process]; the local address may be 0.0.0.0, *, [::],
# 127.0.0.53%lo, [fe80::1]%eth0 ... and the port * (sockets not bound to one).
_LINE = re.compile(
    r"^(?P<proto>tcp|udp)\s+\S+\s+\d+\s+\d+\s+(?P<address>\S+):(?P<port>\d+)\s+\S+(?:\s+(?P<rest>.*))?$"
)
_PROCESS = re.compile(r'\(\("([^"]+)"')
_PORTS = re.compile(r"^([1-9][0-9]{0,4})(?::([1-9][0-9]{0,4}))?$")


class Listener(NamedTuple):
    """One listening socket that matters to the lockdown."""

    proto: str
    port: int
    process: str


def _loopback(address: str) -> bool:
    """127.0.0.0/8, ::1 (also IPv4-mapped), or a socket bound to the lo device."""
    device = address.rpartition("%")[2] if "%" in address else ""
    host = address[1 : address.find("]")] if address.startswith("[") else address
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:  # "*": every address
        return device == "lo"
    mapped = getattr(ip, "ipv4_mapped", None)
    return device == "lo" or ip.is_loopback or bool(mapped and mapped.is_loopback)


def listeners(ss_output: str) -> list[Listener]:
    """The sockets of ``ss -H -ltnup`` on a non-loopback address, one per protocol, port and process."""
    seen: dict[tuple[str, int, str], Listener] = {}
    for line in ss_output.splitlines():
        match = _LINE.match(line.strip())
        if not match or _loopback(match["address"]):
            continue
        processes = _PROCESS.findall(match["rest"] or "") or ["an unknown process"]
        for process in processes:
            item = Listener(match["proto"], int(match["port"]), process)
            seen.setdefault((item.proto, item.port, item.process), item)
    return sorted(seen.values())


def _ranges(allowed: Any, where: str) -> list[tuple[str, int, int]]:
    if not isinstance(allowed, list):
        raise AnsibleFilterError(f"{where}: the allow-list must be a list, got {type(allowed).__name__}")
    out = []
    for item in allowed:
        entry = item
        if isinstance(item, str) and "/" in item:  # "udp/53"
            proto, _slash, port = item.partition("/")
            entry = {"proto": proto, "port": port}
        elif isinstance(item, (int, str)) and not isinstance(item, bool):
            entry = {"port": item}  # a bare port or range is TCP
        if not isinstance(entry, Mapping) or "port" not in entry:
            raise AnsibleFilterError(f"{where}: {entry!r} is not a {{port, proto}} entry")
        match = _PORTS.match(str(entry["port"]))
        if not match:
            raise AnsibleFilterError(f"{where}: {entry['port']!r} is not a port or a range first:last")
        first, last = int(match[1]), int(match[2] or match[1])
        if last > 65535 or last < first:
            raise AnsibleFilterError(f"{where}: {entry['port']!r} is not a port 1-65535 or a range a:b")
        proto = str(entry.get("proto") or "tcp")
        if proto not in ("tcp", "udp"):
            raise AnsibleFilterError(f"{where}: {proto!r} is not tcp or udp")
        out.append((proto, first, last))
    return out


def lockdown_cuts(ss_output: Any, allowed: Any) -> list[str]:
    """``ss -H -ltnup`` output and the allow-list ({port, proto} dicts, "udp/53" strings or bare TCP ports; a
    port may be a range first:last) -> one
    sentence per listener the lockdown would cut, e.g. ``nginx on tcp/443``, sorted by protocol and port."""
    where = "lockdown_cuts"
    if not isinstance(ss_output, str):
        raise AnsibleFilterError(f"{where}: expects the text of ss -H -ltnup, got {type(ss_output).__name__}")
    ranges = _ranges(allowed, where)
    return [
        f"{item.process} on {item.proto}/{item.port}"
        for item in listeners(ss_output)
        if not any(proto == item.proto and first <= item.port <= last for proto, first, last in ranges)
    ]


class FilterModule:
    """The lockdown pre-flight of mailsec.mail_bruteforce_guard."""

    def filters(self) -> dict[str, Any]:
        return {"lockdown_cuts": lockdown_cuts}
