"""The nftables batch builders: the exact text fed to ``nft -f``, the overlap planner (checked against a model
of the sets for random prefixes), and the parsing of ``nft -j`` elements and listings."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mail_bruteforce_guard.firewall.base import Ban, FirewallError, parse_target
from mail_bruteforce_guard.firewall.hook import HookSpec
from mail_bruteforce_guard.firewall.nftables import (
    MAX_TIMEOUT,
    Element,
    NftablesBackend,
    Overview,
    _block,
    _element,
)

NOW = 1_790_000_000.5
T = "inet mail_bruteforce_guard"


def element(text: str, seconds: int = 100) -> Element:
    net = parse_target(text)
    return Element(net.version, net.first, net.last, net.prefixlen, net.text, seconds)


def test_table_lines():
    assert NftablesBackend().table_lines() == [
        f"add table {T}",
        f"add set {T} ban_v4 {{ type ipv4_addr; flags timeout; }}",
        f"add set {T} ban_v4_net {{ type ipv4_addr; flags interval, timeout; }}",
        f"add set {T} ban_v6 {{ type ipv6_addr; flags timeout; }}",
        f"add set {T} ban_v6_net {{ type ipv6_addr; flags interval, timeout; }}",
    ]


def test_hook_lines_default_spec():
    backend = NftablesBackend()
    tag = HookSpec().tag
    lines = backend.hook_lines(Overview(frozenset(), chain=False, current=False))
    ports = "{ 25, 465, 587, 110, 995, 143, 993, 4190 }"
    clients = "{ 465, 587, 110, 995, 143, 993, 4190 }"
    syn = "tcp flags & (fin|syn|rst|ack) == syn update"
    meter = "size 65535; flags dynamic, timeout; timeout 180s;"
    assert lines[5:] == [
        f"add set {T} syn_v4 {{ type ipv4_addr; {meter} }}",
        f"add set {T} syn_v6 {{ type ipv6_addr; {meter} }}",
        f"add chain {T} input {{ type filter hook input priority -10; policy accept;"
        f' comment "mbg-hook {tag}"; }}',
        f'add rule {T} input iif "lo" accept comment "mbg-lo {tag}"',
        f'add rule {T} input ip saddr @ban_v4 tcp dport {ports} drop comment "mbg-ban {tag}"',
        f'add rule {T} input ip saddr @ban_v4_net tcp dport {ports} drop comment "mbg-ban {tag}"',
        f'add rule {T} input ip6 saddr @ban_v6 tcp dport {ports} drop comment "mbg-ban {tag}"',
        f'add rule {T} input ip6 saddr @ban_v6_net tcp dport {ports} drop comment "mbg-ban {tag}"',
        f"add rule {T} input meta nfproto ipv4 tcp dport {clients} {syn} @syn_v4"
        f' {{ ip saddr limit rate over 30/minute burst 60 packets }} drop comment "mbg-syn {tag}"',
        f"add rule {T} input meta nfproto ipv6 tcp dport {clients} {syn} @syn_v6"
        f' {{ ip6 saddr limit rate over 30/minute burst 60 packets }} drop comment "mbg-syn {tag}"',
    ]
    assert backend.rule_count() == 7


def test_hook_lines_rewrite_an_outdated_chain_and_its_meters():
    spec = HookSpec(scope="all", syn_ports=(25,), syn_rate=0, syn_rate_smtp=120)
    existing = Overview(frozenset({"ban_v4", "syn_v4", "syn_v6", "admin_own"}), chain=True, current=False)
    lines = NftablesBackend(spec).hook_lines(existing)
    assert lines[5:9] == [
        f"flush chain {T} input",
        f"delete chain {T} input",
        f"delete set {T} syn_v4",
        f"delete set {T} syn_v6",
    ]
    assert not any("admin_own" in line for line in lines)  # never a set that is not ours
    assert f'add rule {T} input ip saddr @ban_v4 drop comment "mbg-ban {spec.tag}"' in lines
    assert any("tcp dport 25 tcp flags" in line and "rate over 120/minute burst 60" in line for line in lines)
    assert NftablesBackend(spec).rule_count() == 7


def test_plan_adds_refreshes_and_resolves_prefix_overlaps():
    nets = [element("198.51.100.64/26"), element("2001:db8::/32"), element("203.0.113.5")]  # a host: ignored
    bans = [
        Ban("203.0.113.5", NOW + 3600, "refresh"),
        Ban("203.0.113.6", NOW + 60.2, "new host"),
        Ban("198.51.100.0/24", NOW + 600, "covers the /26"),
        Ban("198.51.100.128/25", NOW + 600, "inside the new /24"),
        Ban("2001:db8:1::/48", NOW + 600, "inside the held /32"),
        Ban("2001:db8:1::7", NOW + 10**9, "a host, capped"),
        Ban("192.0.2.99", NOW - 1, "expired"),
    ]
    assert NftablesBackend().plan(bans, NOW, nets) == [
        [f"delete element {T} ban_v4_net {{ 198.51.100.64/26 }}"],  # first: nft 0.9 checks the old set
        [  # hosts touched first: their delete is then always safe
            f"add element {T} ban_v4 {{ 203.0.113.5 timeout 1s, 203.0.113.6 timeout 1s }}",
            f"add element {T} ban_v6 {{ 2001:db8:1::7 timeout 1s }}",
            f"delete element {T} ban_v4 {{ 203.0.113.5, 203.0.113.6 }}",
            f"delete element {T} ban_v6 {{ 2001:db8:1::7 }}",
            f"add element {T} ban_v4 {{ 203.0.113.5 timeout 3600s, 203.0.113.6 timeout 61s }}",
            f"add element {T} ban_v6 {{ 2001:db8:1::7 timeout {MAX_TIMEOUT}s }}",
            f"add element {T} ban_v4_net {{ 198.51.100.0/24 timeout 600s }}",
        ],
    ]


def test_plan_chunks_large_batches():
    bans = [Ban(f"198.18.{i // 250}.{i % 250 + 1}", NOW + 60, "r") for i in range(2500)]
    (lines,) = NftablesBackend().plan(bans, NOW, [])
    assert [line.split(" {")[0] for line in lines] == [f"add element {T} ban_v4"] * 3 + [
        f"delete element {T} ban_v4"
    ] * 3 + [f"add element {T} ban_v4"] * 3
    assert sum(line.count("timeout 60s") for line in lines) == 2500


def test_plan_refuses_garbage_with_a_firewall_error():
    with pytest.raises(FirewallError, match="invalid address"):
        NftablesBackend().plan([Ban("not-an-ip", NOW + 60, "r")], NOW, [])


prefixes = st.builds(
    lambda a, n: str(ipaddress.ip_network(f"{ipaddress.IPv4Address(a)}/{n}", strict=False)),
    st.integers(0x0A000000, 0x0A00FFFF),
    st.integers(16, 32),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(prefixes, max_size=12, unique=True), st.lists(prefixes, min_size=1, max_size=12))
def test_plan_never_leaves_overlapping_prefixes(held_texts, wanted):
    """Apply the plan to a model of the sets: the interval set never holds two overlapping entries (nft
    would refuse the batch), and every wanted address ends up banned."""
    model: dict[str, set[str]] = {"ban_v4": set(), "ban_v4_net": set()}
    current = []
    for text in held_texts:  # the held entries themselves do not overlap (the kernel guarantees it)
        net = ipaddress.ip_network(text)
        name = "ban_v4" if net.prefixlen == 32 else "ban_v4_net"
        nets = [ipaddress.ip_network(t) for t in model["ban_v4_net"]]
        if name == "ban_v4_net" and any(net.overlaps(other) for other in nets):
            continue
        model[name].add(parse_target(text).text)
        current.append(element(text))  # hosts too: plan must ignore them
    batches = NftablesBackend().plan([Ban(t, NOW + 60, "r") for t in wanted], NOW, current)
    for line in (line for batch in batches for line in batch):
        verb, _, _, _, name, body = line.split(" ", 5)
        items = [item.split()[0] for item in body.strip("{} ").split(", ")]
        if verb == "delete":
            assert set(items) <= model[name]  # deleting an absent element would fail the batch
            model[name] -= set(items)
        else:
            model[name] |= set(items)
    nets = [ipaddress.ip_network(t) for t in model["ban_v4_net"]]
    for i, a in enumerate(nets):
        assert not any(a.overlaps(b) for b in nets[i + 1 :]), nets
    banned = [ipaddress.ip_network(t) for t in model["ban_v4"]] + nets
    for text in wanted:
        net = ipaddress.ip_network(text)
        assert any(net.subnet_of(b) for b in banned), (text, banned)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("203.0.113.5", ("203.0.113.5", 0)),
        ({"prefix": {"addr": "2001:db8::", "len": 32}}, ("2001:db8::/32", 0)),
        ({"elem": {"val": "203.0.113.5", "timeout": 3600, "expires": 3599}}, ("203.0.113.5", 3599)),
        ({"elem": {"val": "203.0.113.5", "timeout": 3600, "expires": 0}}, ("203.0.113.5", 1)),
        ({"elem": {"val": {"prefix": {"addr": "10.0.0.0", "len": 8}}, "timeout": 9}}, ("10.0.0.0/8", 1)),
        ({"range": ["10.0.0.3", "10.0.0.9"]}, (None, 0)),
    ],
)
def test_json_elements(raw, expected):
    parsed = _element(raw)
    assert (parsed.text, parsed.seconds) == expected


@pytest.mark.parametrize("raw", [{"concat": [1, 2]}, {"prefix": {"addr": "bogus", "len": 8}}, 7, None])
def test_unknown_json_elements_are_skipped(raw):
    assert _element(raw) is None


def test_block_finds_a_nested_body():
    text = "table inet a {\n\tchain input {\n\t\ttype filter;\n\t}\n}\ntable inet b {\n\tchain x {\n\t}\n}\n"
    assert _block(text, "table inet b") == "\n\tchain x {\n\t}\n"
    assert _block(_block(text, "table inet a"), "chain input") == "\n\t\ttype filter;\n\t"
    assert _block(text, "table inet c") is None


def test_missing_nft_is_a_clear_error():
    with pytest.raises(FirewallError, match="not found: install the nftables package"):
        NftablesBackend(command=("/nonexistent/nft",)).list()


def test_plan_skips_the_touch_for_hosts_a_listing_just_showed_absent():
    bans = [Ban("203.0.113.5", NOW + 60, "held"), Ban("203.0.113.6", NOW + 60, "new")]
    assert NftablesBackend().plan(bans, NOW, [], present=frozenset({"203.0.113.5"})) == [
        [
            f"add element {T} ban_v4 {{ 203.0.113.5 timeout 1s }}",
            f"delete element {T} ban_v4 {{ 203.0.113.5 }}",
            f"add element {T} ban_v4 {{ 203.0.113.5 timeout 60s, 203.0.113.6 timeout 60s }}",
        ]
    ]


@pytest.mark.xfail(
    strict=True,
    reason="known defect: an interval set holds no overlapping entries, and plan() resolves overlaps by "
    "prefix length alone, so a nested ban with a longer end is dropped (held by a shorter cover) or deleted "
    "(giving way to a shorter broader ban) while the state marks it enforced; a fix must split the shorter "
    "entry around the longer one, and unban must lift such pieces (see the review report)",
)
@pytest.mark.parametrize(
    ("held_text", "held_seconds", "wanted_text", "wanted_seconds"),
    [
        ("10.0.0.0/16", 3600, "10.0.5.0/24", 30 * 86400),  # held cover ends first: the /24 is not written
        ("10.0.5.0/24", 30 * 86400, "10.0.0.0/16", 3600),  # the /24 gives way to a /16 that ends first
    ],
    ids=["shorter-cover-holds-a-longer-ban", "longer-ban-gives-way-to-a-shorter-cover"],
)
def test_plan_keeps_every_nested_ban_for_its_whole_time(held_text, held_seconds, wanted_text, wanted_seconds):
    batches = NftablesBackend().plan(
        [Ban(wanted_text, NOW + wanted_seconds, "r")], NOW, [element(held_text, held_seconds)]
    )
    model = {parse_target(held_text).text: held_seconds}
    for line in (line for batch in batches for line in batch):
        verb, body = line.split(" ")[0], line.split("{", 1)[1].strip("} ")
        for item in body.split(", "):
            words = item.split()
            if verb == "delete":
                model.pop(words[0], None)
            else:
                model[words[0]] = int(words[2].rstrip("s"))
    for text, seconds in ((held_text, held_seconds), (wanted_text, wanted_seconds)):
        net = ipaddress.ip_network(text)
        for address in (net.network_address, net.broadcast_address):
            longest = max(
                (s for t, s in model.items() if address in ipaddress.ip_network(t)),
                default=0,
            )
            assert longest >= seconds, (text, str(address), model)
