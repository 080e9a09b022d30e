"""The ban hook never touches loopback traffic, on either backend: a webmail (Roundcube, Horde, Plesk's)
opens a new IMAP/SMTP connection to 127.0.0.1 or ::1 for nearly every page it serves, and local programs
reach the host's own public address over ``lo`` too. A per-source SYN limit there would cut every webmail
user off at once; a ban of the host's own address (users' failures relayed by a local webmail) would too."""

from __future__ import annotations

import time

import pytest
from mail_bruteforce_guard.firewall.base import Ban
from mail_bruteforce_guard.firewall.enforce import Enforcer
from mail_bruteforce_guard.firewall.hook import HookSpec
from mail_bruteforce_guard.firewall.ipset import IpsetBackend
from mail_bruteforce_guard.firewall.nftables import NftablesBackend
from test_firewall_drop import CLIENT_V4, PORT, SERVER_V4, connects, veth_pair

TIGHT = {"mail_ports": (PORT,), "syn_ports": (PORT,), "syn_rate": 1, "syn_burst": 2}


def make(kind: str, ns) -> Enforcer:
    spec = HookSpec(**TIGHT)
    if kind == "nftables":
        backend = NftablesBackend(hook=spec, command=ns.nft)
    else:
        backend = IpsetBackend(command=ns.ipset, hook=spec)
    return Enforcer(backend, use_syslog=False)


@pytest.fixture(params=["iptables", "nftables"])
def kind(request, netns_tools):
    if request.param == "nftables":
        request.getfixturevalue("nft_tools")
    return request.param


def test_loopback_is_neither_rate_limited_nor_banned(kind, make_netns):
    server, client = veth_pair(make_netns(), make_netns())
    enf = make(kind, server)
    enf.attach()
    for address in ("127.0.0.1", "::1"):  # 4 new connections each > burst 2, rate 1/minute
        answered = [connects(server, address, timeout=1.5) for _ in range(4)]
        assert answered == [True] * 4, f"loopback connections to {address} rate-limited: {answered}"
    now = time.time()
    # the host's own address banned (e.g. failures a local webmail relayed): local programs still connect
    assert enf.ban([Ban(SERVER_V4, now + 600, "relayed by the local webmail")], now).changed
    assert connects(server, SERVER_V4, timeout=1.5), "a local program was dropped by a ban of the host itself"
    # the limit and bans still hold for a remote source
    answered = [connects(client, SERVER_V4, timeout=1.5) for _ in range(4)]
    assert answered[:2] == [True, True] and answered[3] is False, answered
    assert enf.ban([Ban(CLIENT_V4, now + 600, "r")], now).changed
    assert not connects(client, SERVER_V4, timeout=1.0)
