"""The ban hook's pure parts: the spec (limits, tag), the iptables chain text and repair transactions, the
reading of ``iptables -S``, firewall-remove's selection of our rules, and the backend choice."""

from __future__ import annotations

import pytest
from mail_bruteforce_guard.errors import ConfigError
from mail_bruteforce_guard.firewall import enforce
from mail_bruteforce_guard.firewall.hook import HookSpec, SynLimit
from mail_bruteforce_guard.firewall.iptables import (
    ChainView,
    IptablesHook,
    may_accept,
    parse_view,
    purge_batch,
)

SETS = {4: "mbg_ban_v4", 6: "mbg_ban_v6"}


def test_limits_follow_syn_ports_and_rates():
    assert HookSpec().limits() == [SynLimit("syn", (465, 587, 110, 995, 143, 993, 4190), 30, 60)]
    both = HookSpec(syn_ports=(25, 587), syn_rate=10, syn_burst=20, syn_rate_smtp=300)
    assert both.limits() == [SynLimit("syn", (587,), 10, 20), SynLimit("smtp", (25,), 300, 20)]
    assert HookSpec(syn_ports=(25, 587), syn_rate=0, syn_rate_smtp=0).limits() == []
    assert HookSpec(syn_ports=()).limits() == []
    assert SynLimit("syn", (587,), 30, 60).idle_seconds == 180  # refill time (2 min) + 1 min
    # the config allows syn_rate 1 with syn_burst 1000000: iptables refuses an expire above 2**32 - 1 ms
    assert SynLimit("syn", (587,), 1, 1_000_000).idle_seconds * 1000 <= 2**32 - 1


def test_tag_changes_with_every_setting():
    base = HookSpec()
    variants = [
        base._replace(scope="all"),
        base._replace(mail_ports=(25,)),
        base._replace(syn_ports=(25,)),
        base._replace(syn_rate=31),
        base._replace(syn_burst=61),
        base._replace(syn_rate_smtp=601),
    ]
    assert len({base.tag, *(v.tag for v in variants)}) == 7
    assert HookSpec.from_config({"mail_ports": [25, 25, 587]}).mail_ports == (25, 587)
    assert HookSpec.from_config({}).tag == base.tag


def test_iptables_rules_text():
    tag = HookSpec().tag
    assert IptablesHook(HookSpec(), SETS).rules(6) == [
        f'-A MBG-BAN -i lo -m comment --comment "mbg-lo {tag}" -j RETURN',
        "-A MBG-BAN -p tcp -m multiport --dports 25,465,587,110,995,143,993,4190"
        f' -m set --match-set mbg_ban_v6 src -m comment --comment "mbg-ban {tag}" -j DROP',
        "-A MBG-BAN -p tcp --syn -m multiport --dports 465,587,110,995,143,993,4190 -m hashlimit "
        "--hashlimit-above 30/minute --hashlimit-burst 60 --hashlimit-mode srcip --hashlimit-name mbg_syn_v6 "
        f'--hashlimit-htable-expire 180000 -m comment --comment "mbg-syn {tag}" -j DROP',
    ]
    spec = HookSpec(scope="all", syn_ports=())
    assert IptablesHook(spec, SETS).rules(4) == [
        f'-A MBG-BAN -i lo -m comment --comment "mbg-lo {spec.tag}" -j RETURN',
        f'-A MBG-BAN -m set --match-set mbg_ban_v4 src -m comment --comment "mbg-ban {spec.tag}" -j DROP',
    ]


def test_repair_batches_touch_input_only_through_our_jump():
    hook = IptablesHook(HookSpec(scope="all", syn_ports=()), SETS)
    rule = "\n".join(hook.rules(4))  # the loopback exemption, then the ban match
    fresh = ChainView(exists=False, current=False, jumps=())
    assert (
        hook.repair_batch(4, fresh) == f"*filter\n:MBG-BAN - [0:0]\n{rule}\n-I INPUT 1 -j MBG-BAN\nCOMMIT\n"
    )
    moved = ChainView(exists=True, current=True, jumps=(3, 5))
    assert hook.repair_batch(4, moved) == (
        "*filter\n-D INPUT -j MBG-BAN\n-D INPUT -j MBG-BAN\n-I INPUT 1 -j MBG-BAN\nCOMMIT\n"
    )
    stale = ChainView(exists=True, current=False, jumps=(1,))
    assert hook.repair_batch(4, stale) == f"*filter\n:MBG-BAN - [0:0]\n{rule}\nCOMMIT\n"
    # below fail2ban's jumps (nothing above may accept): the jump stays, only the chain is rewritten
    below_f2b = ChainView(exists=True, current=False, jumps=(3,))
    assert hook.repair_batch(4, below_f2b) == f"*filter\n:MBG-BAN - [0:0]\n{rule}\nCOMMIT\n"
    shadowed = ChainView(exists=True, current=True, jumps=(2,), shadow="-A INPUT -j ufw-before-input")
    assert not shadowed.in_place
    assert hook.repair_batch(4, shadowed) == "*filter\n-D INPUT -j MBG-BAN\n-I INPUT 1 -j MBG-BAN\nCOMMIT\n"


def test_parse_view():
    tag = "abc123"
    text = (
        "-P INPUT ACCEPT\n-N MBG-BAN\n-N f2b-sshd\n"
        "-A INPUT -p tcp -m multiport --dports 22 -j f2b-sshd\n"
        "-A INPUT -j MBG-BAN\n"
        f'-A MBG-BAN -m set --match-set mbg_ban_v4 src -m comment --comment "mbg-ban {tag}" -j DROP\n'
        "-A f2b-sshd -j RETURN\n"
    )
    assert parse_view(text, tag, 1) == ChainView(True, True, (2,))
    assert parse_view(text, tag, 1).intact  # below fail2ban's jump, which only rejects or returns
    assert parse_view(text, "other", 1) == ChainView(True, False, (2,))
    assert parse_view(text, tag, 2) == ChainView(True, False, (2,))
    assert parse_view("-P INPUT ACCEPT\n", tag, 1) == ChainView(False, False, ())
    ufw_above = text.replace("-A INPUT -j MBG-BAN\n", "-A INPUT -j ufw-before-input\n-A INPUT -j MBG-BAN\n")
    ufw_above += "-N ufw-before-input\n-A ufw-before-input -i lo -j ACCEPT\n"
    view = parse_view(ufw_above, tag, 1)
    assert view == ChainView(True, True, (3,), "-A INPUT -j ufw-before-input")
    assert not view.in_place and not view.intact
    twice = text + "-A INPUT -j MBG-BAN\n"
    assert parse_view(twice, tag, 1).jumps == (2, 3) and not parse_view(twice, tag, 1).in_place


# What tools keep in the filter table (iptables -S): fail2ban (iptables-multiport), CrowdSec's bouncer, ufw.
TOOLS_TABLE = """-P INPUT DROP
-N f2b-sshd
-N CROWDSEC_CHAIN
-N ufw-before-logging-input
-N ufw-before-input
-N ufw-user-input
-N nested
-N nested-accept
-N empty
-A f2b-sshd -s 198.51.100.7/32 -j REJECT --reject-with icmp-port-unreachable
-A f2b-sshd -j RETURN
-A CROWDSEC_CHAIN -m set --match-set crowdsec-blacklists-0 src -j DROP
-A ufw-before-input -i lo -j ACCEPT
-A ufw-before-input -j ufw-user-input
-A ufw-user-input -p tcp -m tcp --dport 8080 -j DROP
-A ufw-before-logging-input -m limit --limit 3/min -j LOG --log-prefix "[UFW BLOCK] "
-A nested -j f2b-sshd
-A nested -m comment --comment "-j ACCEPT in a comment is no target" -j RETURN
-A nested-accept -j f2b-sshd
-A nested-accept -j ufw-user-input
-A nested-accept -p udp -j NFQUEUE --queue-num 1
"""


@pytest.mark.parametrize(
    ("rule", "accepts"),
    [
        ("-A INPUT -p tcp -m multiport --dports 22 -j f2b-sshd", False),  # REJECT or RETURN to INPUT
        ("-A INPUT -j CROWDSEC_CHAIN", False),
        ("-A INPUT -j ufw-before-logging-input", False),  # LOG goes on to the next rule
        ("-A INPUT -j nested", False),  # user chains all the way down, none accepts
        ("-A INPUT -j empty", False),  # declared, no rules: its end returns
        ("-A INPUT -s 203.0.113.0/24 -j DROP", False),
        ("-A INPUT -p tcp --dport 25", False),  # a counter, no target
        ("-A INPUT -j ufw-before-input", True),  # -i lo -j ACCEPT
        ("-A INPUT -j nested-accept", True),  # NFQUEUE: user space decides, may accept
        ("-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", True),
        ("-A INPUT -p tcp --dport 587 -j RETURN", True),  # RETURN in INPUT: the policy decides
        ("-A INPUT -g f2b-sshd", True),  # a goto's RETURN goes past INPUT: the policy decides
        ("-A INPUT -j DOCKER-USER", True),  # a chain not in the listing: unknown, may accept
        ("-A INPUT -j TPROXY --on-port 1", True),  # an unknown target
    ],
)
def test_may_accept(rule, accepts):
    chains: dict[str, list[str]] = {}
    for line in TOOLS_TABLE.splitlines():
        kind, name = line.split()[:2]
        if kind in ("-N", "-A"):
            chains.setdefault(name, []).extend([line] if kind == "-A" else [])
    assert may_accept(rule, chains) is accepts


def test_a_chain_that_calls_itself_is_judged_as_may_accept():
    # iptables refuses loops; a hand-made listing must still end
    assert may_accept("-A INPUT -j loop", {"loop": ["-A loop -j loop"]}) is True


def test_purge_batch_selects_only_our_rules_and_chains():
    text = (
        "-P INPUT DROP\n-N MBG-BAN\n-N MBG-LOCKDOWN\n-N f2b-sshd\n-N ufw-user-input\n"
        "-A INPUT -j MBG-BAN\n"
        "-A INPUT -j f2b-sshd\n"
        '-A INPUT -p tcp -m multiport --dports 22 -m comment --comment "mbg ssh" -j ACCEPT\n'
        '-A INPUT -p tcp --dport 80 -m comment --comment "mbgx is not ours" -j ACCEPT\n'
        '-A INPUT -p tcp --dport 81 -m comment --comment "web: mbg-like but not ours" -j ACCEPT\n'
        "-A INPUT -j MBG-LOCKDOWN\n"
        "-A FORWARD -j MBG-BAN\n"
        "-A f2b-sshd -j MBG-BAN\n"  # inside another tool's chain: theirs to keep; our chain is deleted below
        "-A MBG-LOCKDOWN -p tcp --dport 22 -j ACCEPT\n"
    )
    assert purge_batch(text) == (
        "*filter\n"
        "-D INPUT -j MBG-BAN\n"
        '-D INPUT -p tcp -m multiport --dports 22 -m comment --comment "mbg ssh" -j ACCEPT\n'
        "-D INPUT -j MBG-LOCKDOWN\n"
        "-D FORWARD -j MBG-BAN\n"
        "-F MBG-BAN\n-F MBG-LOCKDOWN\n-X MBG-BAN\n-X MBG-LOCKDOWN\n"
        "COMMIT\n"
    )
    assert purge_batch("-P INPUT ACCEPT\n-N f2b-sshd\n-A INPUT -j f2b-sshd\n") is None


@pytest.mark.parametrize(
    ("name", "expected"), [("iptables", "iptables"), ("ipset", "iptables"), ("nftables", "nftables")]
)
def test_explicit_backend_names(name, expected):
    assert enforce.resolve_backend(name) == expected


def test_unknown_backend_name():
    with pytest.raises(ConfigError, match=r"^firewall_backend: 'pf' is not supported"):
        enforce.resolve_backend("pf")


@pytest.mark.parametrize(
    ("tools", "units", "conf", "expected"),
    [
        ({"nft", "ipset"}, {}, "", "iptables"),
        ({"ipset"}, {}, "", "iptables"),  # no nft at all
        ({"nft"}, {}, "", "nftables"),  # no ipset to use
        ({"nft", "ipset", "firewalld"}, {("is-active", "firewalld"): "active"}, "", "nftables"),
        ({"nft", "ipset", "firewalld"}, {("is-active", "firewalld"): "inactive"}, "", "iptables"),
        ({"nft", "ipset"}, {("is-enabled", "nftables"): "enabled"}, "table inet filter {\n}\n", "nftables"),
        ({"nft", "ipset"}, {("is-enabled", "nftables"): "disabled"}, "table inet filter {\n}\n", "iptables"),
        ({"nft", "ipset"}, {("is-enabled", "nftables"): "enabled"}, "flush ruleset\n# table x\n", "iptables"),
    ],
)
def test_auto_picks_nftables_on_nftables_native_hosts(monkeypatch, tmp_path, tools, units, conf, expected):  # noqa: PLR0917
    monkeypatch.setattr(enforce.shutil, "which", lambda tool: f"/usr/sbin/{tool}" if tool in tools else None)
    monkeypatch.setattr(enforce, "_systemctl", lambda verb, unit: units.get((verb, unit), "unknown"))
    path = tmp_path / "nftables.conf"
    path.write_text(conf)
    monkeypatch.setattr(enforce, "NFTABLES_CONF", str(path))
    assert enforce.resolve_backend("auto") == expected
    assert enforce.make_backend({"firewall_backend": "auto"}).name == expected
