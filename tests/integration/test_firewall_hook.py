"""The iptables ban hook (chain MBG-BAN, one jump at INPUT 1) against the REAL iptables, ip6tables, ipset in
throwaway network namespaces: attach, idempotence, self-healing after other tools' reloads, real drops,
another tool's rules left byte-identical, and firewall-remove."""

from __future__ import annotations

import time

import pytest
from mail_bruteforce_guard.firewall.base import Ban, FirewallError
from mail_bruteforce_guard.firewall.enforce import Enforcer
from mail_bruteforce_guard.firewall.hook import HookSpec
from mail_bruteforce_guard.firewall.ipset import IpsetBackend
from mail_bruteforce_guard.firewall.nftables import NftablesBackend
from mail_bruteforce_guard.firewall.remove import leftovers, remove_all
from test_firewall_drop import CLIENT_V4, PORT, SERVER_V4, connects, veth_pair

# What ufw / fail2ban / an admin keep in the filter table (IPv4; the IPv6 side gets its own below).
FOREIGN_V4 = """*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:f2b-sshd - [0:0]
:ufw-user-input - [0:0]
-A INPUT -p tcp -m multiport --dports 22 -j f2b-sshd
-A INPUT -j ufw-user-input
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A f2b-sshd -s 198.51.100.99/32 -j REJECT --reject-with icmp-port-unreachable
-A f2b-sshd -j RETURN
-A ufw-user-input -p tcp -m tcp --dport 8080 -j DROP
-A ufw-user-input -p tcp -m tcp --dport 443 -j ACCEPT
COMMIT
"""
FOREIGN_V6 = """*filter
:INPUT ACCEPT [0:0]
:ufw6-user-input - [0:0]
-A INPUT -j ufw6-user-input
-A ufw6-user-input -p tcp -m tcp --dport 8080 -j DROP
COMMIT
"""


def backend(ns, **spec) -> IpsetBackend:
    return IpsetBackend(command=ns.ipset, hook=HookSpec(**spec))


def enforcer(ns, **kwargs) -> Enforcer:
    return Enforcer(kwargs.pop("backend", None) or backend(ns), use_syslog=False, **kwargs)


def save(ns, tool: str) -> list[str]:
    """``iptables-save`` without comments and counters."""
    out = ns.run(f"{tool}-save").stdout.splitlines()
    return [line for line in out if not line.startswith("#")]


def foreign(ns, tool: str) -> list[str]:
    """The filter table without anything of ours, in order."""
    return [line for line in save(ns, tool) if "MBG-" not in line]


def input_rules(ns, tool: str = "iptables") -> list[str]:
    return [line for line in ns.run(tool, "-w", "-S", "INPUT").stdout.splitlines() if line.startswith("-A")]


@pytest.fixture
def ns(netns):
    netns.run("iptables-restore", input=FOREIGN_V4)
    netns.run("ip6tables-restore", input=FOREIGN_V6)
    return netns


def test_attach_is_one_jump_at_the_top_idempotent_and_leaves_others_alone(ns):
    before = {tool: foreign(ns, tool) for tool in ("iptables", "ip6tables")}
    enf = enforcer(ns)
    lines = enf.attach()
    assert lines[:2] == [
        "created ipset mbg_ban_v4 (hash:net inet maxelem 1048576)",
        "created ipset mbg_ban_v6 (hash:net inet6 maxelem 1048576)",
    ]
    assert lines[2].startswith(
        "hook attached: iptables chain MBG-BAN at INPUT 1: chain was missing; drop banned"
    )
    assert lines[3].startswith("hook attached: ip6tables chain MBG-BAN at INPUT 1")
    assert enf.attach() == []  # idempotent
    assert enf.backend.hook_state() == "attached"
    for tool in ("iptables", "ip6tables"):
        rules = input_rules(ns, tool)
        assert rules[0] == "-A INPUT -j MBG-BAN" and rules.count("-A INPUT -j MBG-BAN") == 1
        assert foreign(ns, tool) == before[tool]  # byte-identical, same order
    chain = ns.run("iptables", "-w", "-S", "MBG-BAN").stdout
    assert (
        "-p tcp -m multiport --dports 25,465,587,110,995,143,993,4190 -m set --match-set mbg_ban_v4 src"
        in chain
    )
    assert (
        "--hashlimit-above 30/min --hashlimit-burst 60 --hashlimit-mode srcip --hashlimit-name mbg_syn_v4"
        in chain
    )
    assert "--dports 465,587,110,995,143,993,4190 -m hashlimit" in chain  # 25 is not limited by default
    assert "--match-set mbg_ban_v6 src" in ns.run("ip6tables", "-w", "-S", "MBG-BAN").stdout


def test_the_hook_heals_after_other_tools_reloads(ns):
    enf = enforcer(ns)
    enf.attach()
    before = foreign(ns, "iptables")

    ns.run("iptables", "-w", "-D", "INPUT", "-j", "MBG-BAN")  # ufw reload / netfilter-persistent reload
    assert enf.backend.hook_state() == "missing"
    assert "jump from INPUT was missing" in enf.attach(again=True)[0]
    assert enf.attach(again=True) == []

    ns.run(
        "iptables", "-w", "-I", "INPUT", "1", "-p", "tcp", "--dport", "587", "-j", "ACCEPT"
    )  # inserted above us
    assert "jump moved from INPUT position 2 to 1" in enf.attach(again=True)[0]
    assert input_rules(ns)[:2] == ["-A INPUT -j MBG-BAN", "-A INPUT -p tcp -m tcp --dport 587 -j ACCEPT"]
    ns.run("iptables", "-w", "-D", "INPUT", "-p", "tcp", "--dport", "587", "-j", "ACCEPT")

    ns.run("iptables", "-w", "-F", "MBG-BAN")
    assert "rules were missing or outdated" in enf.attach(again=True)[0]

    ns.run("iptables-restore", input=FOREIGN_V4)  # a full reload of someone's rules file: ours are gone
    ns.run("ip6tables-restore", input=FOREIGN_V6)
    lines = enf.attach(again=True)
    assert [line.split(":")[0] for line in lines] == ["hook re-attached", "hook re-attached"]
    assert "chain was missing" in lines[0]
    assert foreign(ns, "iptables") == before
    assert enf.backend.hook_state() == "attached"

    # a changed spec rewrites our chain only
    other = enforcer(ns, backend=backend(ns, scope="all", syn_ports=(25, 587), syn_rate_smtp=120))
    assert other.attach()
    chain = ns.run("iptables", "-w", "-S", "MBG-BAN").stdout
    assert "-A MBG-BAN -m set --match-set mbg_ban_v4 src" in chain
    assert "--dports 25 -m hashlimit --hashlimit-above 2/sec" in chain  # 120/minute, as iptables prints it
    assert foreign(ns, "iptables") == before


@pytest.fixture
def pair(make_netns):
    server, client = veth_pair(make_netns(), make_netns())
    return server, client


def test_the_hook_stays_below_drop_only_jumps_and_moves_above_an_accepting_one(pair):
    """fail2ban inserts its jump at INPUT 1 when it starts a jail: ours stays below it (no fight for INPUT 1)
    and still drops. A rule above ours that accepts lets a banned address through: ours is moved to the top
    once, and stays there; the other tools' rules keep their order."""
    server, client = pair
    enf = enforcer(server, backend=backend(server, mail_ports=(PORT,), syn_ports=()))
    enf.attach()
    now = time.time()
    enf.ban([Ban(CLIENT_V4, now + 600, "r")], now)
    assert not connects(client, SERVER_V4)

    for rule in (  # what fail2ban's iptables-multiport action adds at a jail's first ban (another address)
        "-N f2b-postfix",
        "-A f2b-postfix -s 198.51.100.99/32 -j REJECT --reject-with icmp-port-unreachable",
        "-A f2b-postfix -j RETURN",
        f"-I INPUT 1 -p tcp -m multiport --dports 25,465,{PORT} -j f2b-postfix",
    ):
        server.run("iptables", "-w", *rule.split())
    assert enf.backend.hook_state() == "attached"
    assert enf.attach(again=True) == []  # left below fail2ban's jump
    assert input_rules(server)[1] == "-A INPUT -j MBG-BAN"
    assert not connects(client, SERVER_V4), "banned source connects below fail2ban's jump"

    for rule in (
        "-N web-accept",
        f"-A web-accept -p tcp --dport {PORT} -j ACCEPT",
        "-I INPUT 1 -j web-accept",
    ):
        server.run("iptables", "-w", *rule.split())
    assert connects(client, SERVER_V4), "the accepting rule above ours does not shadow it: the test is broken"
    assert enf.backend.hook_state() == "missing"
    lines = enf.attach(again=True)
    assert (
        len(lines) == 1
        and "jump moved from INPUT position 3 to 1, above '-A INPUT -j web-accept'" in lines[0]
    )
    assert not connects(client, SERVER_V4)
    assert enf.attach(again=True) == []  # once: no fight
    assert [rule for rule in input_rules(server) if "MBG-" not in rule] == [
        "-A INPUT -j web-accept",
        f"-A INPUT -p tcp -m multiport --dports 25,465,{PORT} -j f2b-postfix",
    ]


def test_firewall_remove_leaves_nothing_of_ours_and_everything_else(nft_tools, ns):
    before = {tool: foreign(ns, tool) for tool in ("iptables", "ip6tables")}
    enforcer(ns).attach()
    ns.run("iptables", "-w", "-N", "MBG-LOCKDOWN")  # the role's opt-in lockdown chain
    ns.run("iptables", "-w", "-A", "INPUT", "-j", "MBG-LOCKDOWN")
    ns.run("iptables", "-w", "-A", "MBG-LOCKDOWN", "-p", "tcp", "--dport", "22", "-j", "ACCEPT")
    ns.run("nft", "add", "table", "inet", "mail_bruteforce_guard")
    done = remove_all({}, prefix=ns.prefix)
    assert (
        "destroyed ipset mbg_ban_v4" in done and "removed nftables table inet mail_bruteforce_guard" in done
    )
    assert remove_all({}, prefix=ns.prefix) == []  # idempotent
    assert leftovers({}, prefix=ns.prefix) == []
    for tool in ("iptables", "ip6tables"):
        assert save(ns, tool) == before[tool]
    assert ns.run("ipset", "list", "-n").stdout.split() == []


def test_firewall_remove_names_a_set_another_rule_still_uses(nft_tools, ns):
    enforcer(ns).attach()
    ns.run("iptables", "-w", "-A", "FORWARD", "-m", "set", "--match-set", "mbg_ban_v4", "src", "-j", "DROP")
    with pytest.raises(FirewallError, match="still matched by a rule that is not ours"):
        remove_all({}, prefix=ns.prefix)
    assert input_rules(ns)[0] != "-A INPUT -j MBG-BAN"  # the hook itself is gone


@pytest.mark.parametrize("kind", ["iptables", "nftables"])
def test_the_extreme_syn_settings_the_config_allows_attach(ns, kind, request):
    """syn_rate 1 with syn_burst 1000000 passes validation: both tools must take the rules it renders."""
    if kind == "nftables":
        request.getfixturevalue("nft_tools")
    spec = HookSpec(syn_rate=1, syn_burst=1_000_000, syn_ports=(25, 587), syn_rate_smtp=1_000_000)
    if kind == "nftables":
        chosen = NftablesBackend(hook=spec, command=ns.nft)
    else:
        chosen = IpsetBackend(command=ns.ipset, hook=spec)
    enf = enforcer(ns, backend=chosen)
    assert enf.attach()
    assert enf.backend.hook_state() == "attached"


def test_firewall_remove_also_cleans_the_legacy_variant_and_creates_no_legacy_table(nft_tools, ns):
    """A host switched ``update-alternatives --set iptables`` after the hook was attached: our chain lives
    in the other variant, and the kernel still runs it. Listing a legacy table that is not loaded would
    create it, so a host without legacy tables must still have none afterwards."""
    enforcer(ns).attach()
    assert remove_all({}, prefix=ns.prefix)
    assert ns.run("cat", "/proc/net/ip_tables_names").stdout == ""  # no legacy table created
    enforcer(ns).attach()
    ns.run("iptables-legacy", "-w", "-N", "MBG-BAN")  # what the same hook left in the legacy variant
    ns.run(
        "iptables-legacy",
        "-w",
        "-A",
        "MBG-BAN",
        "-m",
        "set",
        "--match-set",
        "mbg_ban_v4",
        "src",
        "-j",
        "DROP",
    )
    ns.run("iptables-legacy", "-w", "-I", "INPUT", "1", "-j", "MBG-BAN")
    ns.run("iptables-legacy", "-w", "-A", "INPUT", "-p", "tcp", "--dport", "8080", "-j", "DROP")  # not ours
    done = remove_all({}, prefix=ns.prefix)
    assert "removed 2 rules and chains of ours from iptables-legacy (IPv4)" in done
    assert "destroyed ipset mbg_ban_v4" in done
    assert ns.run("iptables-legacy", "-w", "-S").stdout.splitlines()[3:] == [
        "-A INPUT -p tcp -m tcp --dport 8080 -j DROP"
    ]
    assert leftovers({}, prefix=ns.prefix) == []


def test_firewall_remove_leaves_an_admin_set_that_only_shares_our_name(nft_tools, ns):
    """An ipset of another type under our default name is the admin's (restore refuses to use it)."""
    ns.run("ipset", "create", "mbg_ban_v4", "hash:ip")
    ns.run("ipset", "add", "mbg_ban_v4", "198.51.100.7")
    enforcer(ns, backend=IpsetBackend(v4="custom_v4", v6="custom_v6", command=ns.ipset)).attach()
    done = remove_all({"ipset_v4": "custom_v4", "ipset_v6": "custom_v6"}, prefix=ns.prefix)
    assert "destroyed ipset custom_v4" in done and "destroyed ipset mbg_ban_v4" not in done
    assert ns.run("ipset", "list", "-n").stdout.split() == ["mbg_ban_v4"]
    assert "198.51.100.7" in ns.run("ipset", "save", "mbg_ban_v4").stdout
    assert leftovers({}, prefix=ns.prefix) == []
