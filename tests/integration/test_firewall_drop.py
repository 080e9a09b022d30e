"""A banned source is REALLY dropped: two namespaces joined by a veth pair, the role's iptables baseline
(chain MBG-INPUT jumped to from INPUT, the set match first in it), a TCP listener in the server namespace
and connects from the client namespace before the ban, during it and after the unban. IPv4 and IPv6."""

from __future__ import annotations

import sys
import time

import pytest
from mail_bruteforce_guard.firewall.base import Ban
from mail_bruteforce_guard.firewall.enforce import Enforcer
from mail_bruteforce_guard.firewall.ipset import IpsetBackend

SERVER_V4, CLIENT_V4 = "10.200.0.1", "10.200.0.2"
SERVER_V6, CLIENT_V6 = "fd00:200::1", "fd00:200::2"
PORT = 5870

LISTENER = f"""
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", {PORT}))
s.listen(16)
print("ready", flush=True)
while True:
    conn, _ = s.accept()
    conn.sendall(b"220 ok\\r\\n")
    conn.close()
"""

CONNECT = """
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])) as c:
        sys.exit(0 if c.recv(16).startswith(b"220") else 3)
except socket.timeout:
    sys.exit(2)
"""


def veth_pair(server, client):
    """Join two namespaces by veth (SERVER_*, CLIENT_* addresses); start a listener on PORT in the server."""
    # Both ends are created inside the namespaces: no interface ever exists on the host.
    server.run("ip", "link", "add", "mbg-s", "type", "veth", "peer", "name", "mbg-c", "netns", client.name)
    server.run("ip", "addr", "add", f"{SERVER_V4}/24", "dev", "mbg-s")
    server.run("ip", "-6", "addr", "add", f"{SERVER_V6}/64", "dev", "mbg-s", "nodad")
    server.run("ip", "link", "set", "mbg-s", "up")
    client.run("ip", "addr", "add", f"{CLIENT_V4}/24", "dev", "mbg-c")
    client.run("ip", "-6", "addr", "add", f"{CLIENT_V6}/64", "dev", "mbg-c", "nodad")
    client.run("ip", "link", "set", "mbg-c", "up")
    listener = server.popen(sys.executable, "-c", LISTENER)
    assert listener.stdout is not None and listener.stdout.readline().strip() == "ready"
    return server, client


@pytest.fixture
def pair(make_netns):
    """(server, client) namespaces joined by veth, with the baseline rules and a listener in the server."""
    server, client = veth_pair(make_netns(), make_netns())
    IpsetBackend(command=server.ipset).ensure()  # the role's baseline creates the sets before the rules
    for tool, name in (("iptables", "mbg_ban_v4"), ("ip6tables", "mbg_ban_v6")):
        server.run(tool, "-w", "-N", "MBG-INPUT")
        server.run(tool, "-w", "-A", "INPUT", "-j", "MBG-INPUT")
        server.run(tool, "-w", "-A", "MBG-INPUT", "-m", "set", "--match-set", name, "src", "-j", "DROP")
    return server, client


def connects(client, address: str, timeout: float = 1.0) -> bool:
    """True when a TCP connect from the client namespace gets the banner; False when it times out."""
    proc = client.run(sys.executable, "-c", CONNECT, address, str(PORT), str(timeout), check=False)
    assert proc.returncode in (0, 2), proc.stderr  # anything else is a broken test, not a ban
    return proc.returncode == 0


@pytest.mark.parametrize(
    ("server_addr", "client_addr"), [(SERVER_V4, CLIENT_V4), (SERVER_V6, CLIENT_V6)], ids=["ipv4", "ipv6"]
)
def test_banned_source_is_dropped_until_unbanned(pair, server_addr, client_addr):
    server, client = pair
    enf = Enforcer(IpsetBackend(command=server.ipset), protected=["192.0.2.10"], use_syslog=False)

    assert connects(client, server_addr), "no connectivity before the ban: the test set-up is broken"

    now = time.time()
    result = enf.ban([Ban(client_addr, now + 600, "12 SASL failures in 240s (postfix)")], now)
    assert [b.address for b in result.added] == [client_addr]
    started = time.monotonic()
    assert not connects(client, server_addr, timeout=1.0), "banned source still connects"
    assert time.monotonic() - started >= 0.9  # dropped (timed out), not refused
    # The drop is by source: the ban counters prove the rule matched.
    tool = "iptables" if ":" not in client_addr else "ip6tables"
    counters = server.run(tool, "-w", "-L", "MBG-INPUT", "-v", "-n", "-x").stdout
    assert int(counters.splitlines()[2].split()[0]) >= 1, counters

    assert enf.unban([client_addr]).removed == (client_addr,)
    assert connects(client, server_addr), "still dropped after unban"


def test_protected_client_is_never_cut_off(pair):
    server, client = pair
    enf = Enforcer(IpsetBackend(command=server.ipset), protected=[CLIENT_V4, CLIENT_V6], use_syslog=False)
    now = time.time()
    result = enf.ban([Ban(CLIENT_V4, now + 600, "r"), Ban("10.200.0.0/24", now + 600, "r")], now)
    assert not result.changed and len(result.refused) == 2
    assert connects(client, SERVER_V4)
