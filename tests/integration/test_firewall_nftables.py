"""What only the nftables backend does (one set per prefix length, its hook chain, the first layout's
migration), against the REAL nft inside throwaway network namespaces. The contract both backends keep is
test_firewall_backends.py's."""

from __future__ import annotations

import json
import re
import time

import pytest
from mail_bruteforce_guard.firewall.base import Ban
from mail_bruteforce_guard.firewall.enforce import Enforcer
from mail_bruteforce_guard.firewall.hook import HookSpec
from mail_bruteforce_guard.firewall.nftables import NftablesBackend
from test_firewall_drop import CLIENT_V4, CLIENT_V6, PORT, SERVER_V4, SERVER_V6, connects, veth_pair

CONTROLLER = "192.0.2.10"
TABLE = ("inet", "mail_bruteforce_guard")
# A host's own ruleset, as an nftables.service or firewalld host has one: it must stay byte-identical.
FOREIGN = """
table inet filter {
    set admin_block { type ipv4_addr; elements = { 198.51.100.200 } }
    chain input {
        type filter hook input priority 0; policy accept;
        ct state established,related accept
        ip saddr @admin_block drop
        tcp dport { 22, 80, 443, 8443 } accept
        tcp dport 8080 counter drop
    }
}
table ip nat {
    chain prerouting { type nat hook prerouting priority -100; policy accept; }
}
"""


@pytest.fixture
def ns(nft_tools, make_netns):
    return make_netns()


def backend(ns, **spec) -> NftablesBackend:
    return NftablesBackend(hook=HookSpec(**spec), command=ns.nft)


def enforcer(ns, **kwargs) -> Enforcer:
    kwargs.setdefault("ignore", ["10.0.0.0/8"])
    kwargs.setdefault("protected", [CONTROLLER])
    return Enforcer(kwargs.pop("backend", None) or backend(ns), use_syslog=False, **kwargs)


def held(ns) -> dict[str, int]:
    """What the kernel holds, read with nft itself (not through the code under test's list()): the host sets'
    addresses, the prefix sets' network addresses with their set's length (``ban_v4_p24``: ``/24``)."""
    out: dict[str, int] = {}
    data = json.loads(ns.run("nft", "-j", "list", "table", *TABLE).stdout)
    for item in data["nftables"]:
        found = item.get("set", {})
        match = re.fullmatch(r"ban_v[46](?:_p(\d+))?", found.get("name", ""))
        if match is None:
            continue
        for elem in found.get("elem", []):
            inner = elem.get("elem", {"val": elem}) if isinstance(elem, dict) else {"val": elem}
            suffix = f"/{match.group(1)}" if match.group(1) else ""
            out[inner["val"] + suffix] = inner.get("expires", 0)
    return out


def set_names(ns) -> set[str]:
    data = json.loads(ns.run("nft", "-t", "-j", "list", "sets", "inet").stdout)
    return {i["set"]["name"] for i in data["nftables"] if "set" in i and i["set"]["table"] == TABLE[1]}


def ruleset(ns) -> str:
    return ns.run("nft", "list", "ruleset").stdout


def foreign_part(ns) -> str:
    """The ruleset without our table."""
    return "".join(ns.run("nft", "list", "table", *t).stdout for t in (("inet", "filter"), ("ip", "nat")))


def test_entries_expire_in_the_kernel(ns):
    now = time.time()
    # 5 s: a busy shared machine must not let it expire before the first listing
    enforcer(ns).ban([Ban("203.0.113.5", now + 5, "short"), Ban("2001:db8::5", now + 600, "long")], now)
    assert set(held(ns)) == {"203.0.113.5", "2001:db8::5"}
    deadline = time.monotonic() + 20
    while "203.0.113.5" in held(ns) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert set(held(ns)) == {"2001:db8::5"}  # gone without any process of ours running


def test_nested_bans_each_keep_their_own_time_and_unban_lifts_only_one(ns):
    """A /24 banned for 20 days inside a /16 banned for an hour (and the reverse order, and hosts inside
    both): every entry is held with its own time; unbanning the /16 keeps the /24, and the other way."""
    now = time.time()
    enf = enforcer(ns, ignore=[])
    assert enf.ban(
        [Ban("198.51.0.0/16", now + 3600, "short cover"), Ban("203.0.113.0/24", now + 20 * 86400, "long")],
        now,
    ).changed
    result = enf.ban(
        [
            Ban("198.51.100.0/24", now + 20 * 86400, "inside the held /16, longer"),
            Ban("203.0.0.0/16", now + 3600, "around the held /24, shorter"),
            Ban("198.51.100.7", now + 60, "a host inside both"),
            Ban("2001:db8::/32", now + 3600, "v6 cover"),
            Ban("2001:db8:0:1::/64", now + 20 * 86400, "inside it, longer"),
        ],
        now,
    )
    assert len(result.added) == 5
    got = held(ns)
    expected = {
        "198.51.0.0/16": 3600,
        "198.51.100.0/24": 20 * 86400,
        "203.0.113.0/24": 20 * 86400,
        "203.0.0.0/16": 3600,
        "198.51.100.7": 60,
        "2001:db8::/32": 3600,
        "2001:db8:0:1::/64": 20 * 86400,
    }
    assert got.keys() == expected.keys()
    assert all(expected[a] - 3 <= s <= expected[a] for a, s in got.items()), got
    assert enf.active().keys() == expected.keys()
    assert enf.ban([Ban(a, now + s, "again") for a, s in expected.items()], now + 1).changed is False
    # unban the /16: the /24 inside it stays (and the other way round)
    assert enf.unban(["198.51.0.0/16", "203.0.113.0/24"]).removed == ("198.51.0.0/16", "203.0.113.0/24")
    got = held(ns)
    assert "198.51.100.0/24" in got and "203.0.0.0/16" in got
    assert "198.51.0.0/16" not in got and "203.0.113.0/24" not in got
    assert got["198.51.100.0/24"] >= 20 * 86400 - 5
    gone = enf.unban(
        ["198.51.100.0/24", "203.0.0.0/16", "2001:db8::/32", "2001:db8:0:1::/64", "198.51.100.7"]
    )
    assert len(gone.removed) == 5
    assert held(ns) == {}
    assert set_names(ns) == {"ban_v4", "ban_v6"}  # the emptied prefix sets went with their rules
    assert ns.run("nft", "list", "chain", *TABLE, "ban_nets").stdout.count("@ban_") == 0


def test_an_expired_prefix_set_is_collected_at_the_next_ban(ns):
    now = time.time()
    enf = enforcer(ns, ignore=[])
    enf.attach()
    enf.ban([Ban("198.51.100.0/24", now + 3, "short"), Ban("2001:db8::/48", now + 600, "long")], now)
    assert {"ban_v4_p24", "ban_v6_p48"} <= set_names(ns)
    deadline = time.monotonic() + 20
    while "198.51.100.0/24" in held(ns) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert "198.51.100.0/24" not in held(ns)  # the kernel's expiry empties the set but keeps it
    now = time.time()
    enf.ban([Ban("203.0.113.5", now + 60, "a host")], now)
    assert set_names(ns) == {"ban_v4", "ban_v6", "ban_v6_p48", "syn_v4", "syn_v6"}
    chain = ns.run("nft", "list", "chain", *TABLE, "ban_nets").stdout
    assert "@ban_v6_p48" in chain and "@ban_v4_p24" not in chain
    assert enf.backend.hook_state() == "attached"


def test_restore_after_flush_ruleset_brings_back_bans_and_hook(ns):
    now = time.time()
    enf = enforcer(ns)
    state = [
        Ban("203.0.113.5", now + 3600, "a"),
        Ban("203.0.113.16/28", now + 500, "b"),
        Ban("2001:db8::9", now + 86400, "c"),
        Ban("198.51.100.3", now - 1, "expired while the host was down"),
    ]
    enf.ban(state, now)
    assert enf.attach()[0].startswith("hook attached: table inet mail_bruteforce_guard chain input")
    ns.run("nft", "flush", "ruleset")  # what `nft -f /etc/nftables.conf` with its `flush ruleset` does
    assert enf.backend.hook_state() == "missing"
    result = enf.restore(state, now + 30)
    lines = enf.attach(again=True)
    assert set(held(ns)) == {"203.0.113.5", "203.0.113.16/28", "2001:db8::9"}
    assert [b.address for b in result.expired] == ["198.51.100.3"]
    assert lines[0].startswith("hook re-attached: table inet mail_bruteforce_guard chain input")
    assert "table was missing" in lines[0] or "chain was missing" in lines[0]
    assert enf.backend.hook_state() == "attached"


def test_hook_is_idempotent_self_healing_and_leaves_a_foreign_ruleset_alone(ns):
    ns.run("nft", "-f", "-", input=FOREIGN)
    before = foreign_part(ns)
    enf = enforcer(ns)
    assert enf.attach()  # first attach
    assert enf.attach() == []  # idempotent: one terse listing, no change
    chain = ns.run("nft", "list", "chain", *TABLE, "input").stdout
    assert "type filter hook input priority filter - 10; policy accept;" in chain
    assert "ip saddr @ban_v4 tcp dport { 25, 110, 143, 465, 587, 993, 995, 4190 } drop" in chain
    assert "tcp dport { 25, 110, 143, 465, 587, 993, 995, 4190 } jump ban_nets" in chain
    assert "update @syn_v4 { ip saddr limit rate over 30/minute burst 60 packets } drop" in chain
    assert "dport 25 " not in chain.split("update", 1)[1]  # port 25 is not SYN-limited by default

    ns.run("nft", "delete", "chain", *TABLE, "input")  # another tool's clean-up
    assert "chain was missing" in enf.attach(again=True)[0]
    listing = ns.run("nft", "-a", "list", "chain", *TABLE, "input").stdout
    handle = re.search(r'comment "mbg-ban \w+" # handle (\d+)', listing).group(1)
    ns.run("nft", "delete", "rule", *TABLE, "input", "handle", handle)
    # one rule deleted by hand: the per-scan check (chain headers only) cannot see it, status and restore can
    assert enf.attach(again=True) == []
    assert enf.backend.hook_state() == "missing"
    assert "rules were missing or outdated" in enf.attach(again=True, thorough=True)[0]
    assert enf.backend.hook_state() == "attached"
    # the prefix rules flushed by hand: the same (status and restore see it, restore rewrites them)
    now = time.time()
    enf.ban([Ban("198.51.100.0/24", now + 600, "a prefix")], now)
    ns.run("nft", "flush", "chain", *TABLE, "ban_nets")
    assert enf.backend.hook_state() == "missing"
    assert "rules were missing or outdated" in enf.attach(again=True, thorough=True)[0]
    assert (
        "ip saddr & 255.255.255.0 == @ban_v4_p24 drop"
        in ns.run("nft", "list", "chain", *TABLE, "ban_nets").stdout
    )
    assert enf.backend.hook_state() == "attached"
    ns.run("nft", "delete", "table", *TABLE)
    assert "table was missing" in enf.attach(again=True)[0]
    assert enf.backend.hook_state() == "attached"

    # a changed spec (ban_scope all, port 25 limited) rewrites the chain and its meters in one go
    other = enforcer(ns, backend=backend(ns, scope="all", syn_ports=(25, 587), syn_rate_smtp=120))
    assert other.attach()
    chain = ns.run("nft", "list", "chain", *TABLE, "input").stdout
    assert "ip saddr @ban_v4 drop" in chain and "\t\tjump ban_nets comment" in chain
    assert "tcp dport 25 tcp flags syn / fin,syn,rst,ack update @smtp_v4" in chain
    assert "limit rate over 120/minute" in chain
    assert enf.backend.hook_state() == "missing" and other.backend.hook_state() == "attached"

    assert foreign_part(ns) == before
    assert enf.backend.purge() == ["removed nftables table inet mail_bruteforce_guard"]
    assert enf.backend.purge() == []
    assert "mail_bruteforce_guard" not in ruleset(ns)
    assert foreign_part(ns) == before


@pytest.fixture
def pair(ns, make_netns):
    """(server, client) joined by veth, a listener on PORT in the server; the hook guards PORT."""
    client = make_netns()
    return veth_pair(ns, client)


@pytest.mark.parametrize(
    ("server_addr", "client_addr", "cover", "inner"),
    [
        (SERVER_V4, CLIENT_V4, "10.200.0.0/16", "10.200.0.0/24"),
        (SERVER_V6, CLIENT_V6, "fd00:200::/32", "fd00:200::/64"),
    ],
    ids=["ipv4", "ipv6"],
)
def test_a_nested_ban_still_drops_after_its_shorter_cover_expired(
    pair, server_addr, client_addr, cover, inner
):
    """The kernel expires the cover (a few seconds) and keeps the longer nested ban: the client stays
    dropped until that one is unbanned; unbanning the /24 alone while the cover holds changes nothing."""
    server, client = pair
    enf = enforcer(server, backend=backend(server, mail_ports=(PORT,), syn_ports=()), ignore=[])
    enf.attach()
    assert connects(client, server_addr), "no connectivity before the ban: the test set-up is broken"
    now = time.time()
    enf.ban([Ban(cover, now + 600, "cover"), Ban(inner, now + 600, "inner")], now)
    assert enf.unban([inner]).removed == (inner,)
    assert not connects(client, server_addr), "the cover no longer drops once the nested ban is lifted"
    enf.unban([cover])
    assert connects(client, server_addr)
    now = time.time()
    # 4 s: a busy shared machine must not let it expire before the first check
    enf.ban([Ban(cover, now + 4, "short cover"), Ban(inner, now + 600, "long, inside it")], now)
    assert set(held(server)) == {cover, inner}
    assert not connects(client, server_addr)
    deadline = time.monotonic() + 30
    while cover in held(server) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert set(held(server)) == {inner}, "the cover did not expire in the kernel"
    assert not connects(client, server_addr), "the longer nested ban ended with its cover"
    assert enf.unban([inner]).removed == (inner,)
    assert connects(client, server_addr), "still dropped after unban"


# The first layout of this backend (interval sets ban_v4_net/ban_v6_net, matched straight from ``input``).
FIRST_LAYOUT = """
table inet mail_bruteforce_guard {
    set ban_v4 { type ipv4_addr; flags timeout; elements = { 203.0.113.5 timeout 1h } }
    set ban_v6 { type ipv6_addr; flags timeout; }
    set ban_v4_net { type ipv4_addr; flags interval, timeout; elements = { 198.51.100.0/24 timeout 1h } }
    set ban_v6_net { type ipv6_addr; flags interval, timeout; }
    chain input {
        type filter hook input priority -10; policy accept; comment "mbg-hook 0123456789";
        iif "lo" accept comment "mbg-lo 0123456789"
        ip saddr @ban_v4 drop comment "mbg-ban 0123456789"
        ip saddr @ban_v4_net drop comment "mbg-ban 0123456789"
        ip6 saddr @ban_v6 drop comment "mbg-ban 0123456789"
        ip6 saddr @ban_v6_net drop comment "mbg-ban 0123456789"
    }
}
"""


def test_restore_moves_a_first_layout_table_to_the_prefix_sets(ns):
    ns.run("nft", "-f", "-", input=FIRST_LAYOUT)
    now = time.time()
    enf = enforcer(ns)
    state = [Ban("203.0.113.5", now + 3600, "host"), Ban("198.51.100.0/24", now + 3600, "prefix")]
    result = enf.restore(state, now)  # boot, or the converge after an upgrade: the state is the truth
    lines = enf.attach(thorough=True)
    assert [b.address for b in result.added] == ["198.51.100.0/24"] and result.unchanged[
        0
    ].address == "203.0.113.5"
    assert "rules were missing or outdated" in lines[0]
    assert set_names(ns) == {"ban_v4", "ban_v6", "ban_v4_p24", "syn_v4", "syn_v6"}  # ban_v*_net are gone
    assert set(held(ns)) == {"203.0.113.5", "198.51.100.0/24"}
    assert enf.backend.hook_state() == "attached"
