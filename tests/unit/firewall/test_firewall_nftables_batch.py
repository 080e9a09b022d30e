"""The nftables batch builders: the exact text fed to ``nft -f``, the planner (checked against a model of the
sets for random nested prefixes with random times), and the parsing of ``nft -j`` elements and listings."""

from __future__ import annotations

import ipaddress
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mail_bruteforce_guard.firewall.base import Ban, FirewallError, parse_target
from mail_bruteforce_guard.firewall.hook import HookSpec
from mail_bruteforce_guard.firewall.nftables import (
    MAX_TIMEOUT,
    TABLE,
    Entry,
    NftablesBackend,
    Overview,
    _block,
    _element,
    _parse_entries,
    _rule_set,
)

NOW = 1_790_000_000.5
T = "inet mail_bruteforce_guard"


HOSTS = frozenset({"ban_v4", "ban_v6"})


def test_table_lines():
    assert NftablesBackend().table_lines() == [
        f"add table {T}",
        f"add set {T} ban_v4 {{ type ipv4_addr; flags timeout; }}",
        f"add set {T} ban_v6 {{ type ipv6_addr; flags timeout; }}",
        f"add chain {T} ban_nets",
    ]


def test_the_tag_covers_the_spec_and_the_layout():
    assert NftablesBackend().tag != HookSpec().tag  # layout 2: an installed first-layout hook is outdated
    assert NftablesBackend().tag == NftablesBackend(HookSpec()).tag
    assert NftablesBackend(HookSpec(scope="all")).tag != NftablesBackend().tag


def test_hook_lines_default_spec():
    backend = NftablesBackend()
    tag = backend.tag
    lines = backend.hook_lines(Overview(frozenset(), chain=False, current=False))
    ports = "{ 25, 465, 587, 110, 995, 143, 993, 4190 }"
    clients = "{ 465, 587, 110, 995, 143, 993, 4190 }"
    syn = "tcp flags & (fin|syn|rst|ack) == syn update"
    meter = "size 65535; flags dynamic, timeout; timeout 180s;"
    assert lines[4:] == [
        f"add chain {T} ban_nets",
        f"flush chain {T} ban_nets",
        f"add set {T} syn_v4 {{ type ipv4_addr; {meter} }}",
        f"add set {T} syn_v6 {{ type ipv6_addr; {meter} }}",
        f"add chain {T} input {{ type filter hook input priority -10; policy accept;"
        f' comment "mbg-hook {tag}"; }}',
        f'add rule {T} input iif "lo" accept comment "mbg-lo {tag}"',
        f'add rule {T} input ip saddr @ban_v4 tcp dport {ports} drop comment "mbg-ban {tag}"',
        f'add rule {T} input ip6 saddr @ban_v6 tcp dport {ports} drop comment "mbg-ban {tag}"',
        f'add rule {T} input tcp dport {ports} jump ban_nets comment "mbg-nets {tag}"',
        f"add rule {T} input meta nfproto ipv4 tcp dport {clients} {syn} @syn_v4"
        f' {{ ip saddr limit rate over 30/minute burst 60 packets }} drop comment "mbg-syn {tag}"',
        f"add rule {T} input meta nfproto ipv6 tcp dport {clients} {syn} @syn_v6"
        f' {{ ip6 saddr limit rate over 30/minute burst 60 packets }} drop comment "mbg-syn {tag}"',
    ]
    assert backend.rule_count() == 6


def test_hook_lines_rewrite_an_outdated_chain_its_meters_and_the_prefix_rules():
    spec = HookSpec(scope="all", syn_ports=(25,), syn_rate=0, syn_rate_smtp=120)
    sets = {"ban_v4", "ban_v4_net", "ban_v6_net", "syn_v4", "syn_v6", "admin_own", "ban_v6_p64", "ban_v4_p24"}
    lines = NftablesBackend(spec).hook_lines(Overview(frozenset(sets), chain=True, current=False))
    tag = NftablesBackend(spec).tag
    assert lines[4:14] == [
        f"flush chain {T} input",
        f"delete chain {T} input",
        f"delete set {T} ban_v4_net",  # the first layout's interval sets (the state re-adds their bans)
        f"delete set {T} ban_v6_net",
        f"delete set {T} syn_v4",
        f"delete set {T} syn_v6",
        f"add chain {T} ban_nets",
        f"flush chain {T} ban_nets",  # rewritten: heals a chain someone flushed
        f'add rule {T} ban_nets ip saddr & 255.255.255.0 @ban_v4_p24 drop comment "mbg-net /24"',
        f'add rule {T} ban_nets ip6 saddr & ffff:ffff:ffff:ffff:: @ban_v6_p64 drop comment "mbg-net /64"',
    ]
    assert not any("admin_own" in line for line in lines)  # never a set that is not ours
    assert f'add rule {T} input ip saddr @ban_v4 drop comment "mbg-ban {tag}"' in lines
    assert f'add rule {T} input jump ban_nets comment "mbg-nets {tag}"' in lines  # ban_scope all
    assert any("tcp dport 25 tcp flags" in line and "rate over 120/minute burst 60" in line for line in lines)
    assert NftablesBackend(spec).rule_count() == 6


def test_plan_adds_refreshes_and_creates_prefix_sets_on_demand():
    held = {
        "ban_v4": frozenset({"203.0.113.5"}),
        "ban_v6": frozenset(),
        "ban_v4_p26": frozenset({"198.51.100.64/26"}),
        "ban_v6_p32": frozenset({"2001:db8::/32"}),
    }
    bans = [
        Ban("203.0.113.5", NOW + 3600, "refresh"),
        Ban("203.0.113.6", NOW + 60.2, "new host"),
        Ban("198.51.100.0/24", NOW + 600, "covers the held /26: both stay, each with its own end"),
        Ban("198.51.100.64/26", NOW + 60, "refresh, shorter"),
        Ban("2001:db8:1::/48", NOW + 600, "inside the held /32"),
        Ban("2001:db8:1::7", NOW + 10**9, "a host, capped"),
        Ban("192.0.2.99", NOW - 1, "expired"),
    ]
    nets = f"{T} ban_nets"
    assert NftablesBackend().plan(bans, NOW, held.keys(), held) == [
        f"add table {T}",
        f"add set {T} ban_v4_p24 {{ type ipv4_addr; flags timeout; }}",
        f"add set {T} ban_v4_p26 {{ type ipv4_addr; flags timeout; }}",
        f"add set {T} ban_v6_p32 {{ type ipv6_addr; flags timeout; }}",
        f"add set {T} ban_v6_p48 {{ type ipv6_addr; flags timeout; }}",
        f"add chain {nets}",
        f"flush chain {nets}",
        f'add rule {nets} ip saddr & 255.255.255.0 @ban_v4_p24 drop comment "mbg-net /24"',
        f'add rule {nets} ip saddr & 255.255.255.192 @ban_v4_p26 drop comment "mbg-net /26"',
        f'add rule {nets} ip6 saddr & ffff:ffff:: @ban_v6_p32 drop comment "mbg-net /32"',
        f'add rule {nets} ip6 saddr & ffff:ffff:ffff:: @ban_v6_p48 drop comment "mbg-net /48"',
        # entries the listing showed are touched first: their delete is then always safe
        f"add element {T} ban_v4 {{ 203.0.113.5 timeout 1s }}",
        f"add element {T} ban_v4_p26 {{ 198.51.100.64 timeout 1s }}",
        f"delete element {T} ban_v4 {{ 203.0.113.5 }}",
        f"delete element {T} ban_v4_p26 {{ 198.51.100.64 }}",
        f"add element {T} ban_v4 {{ 203.0.113.5 timeout 3600s, 203.0.113.6 timeout 61s }}",
        f"add element {T} ban_v4_p24 {{ 198.51.100.0 timeout 600s }}",
        f"add element {T} ban_v4_p26 {{ 198.51.100.64 timeout 60s }}",
        f"add element {T} ban_v6 {{ 2001:db8:1::7 timeout {MAX_TIMEOUT}s }}",
        f"add element {T} ban_v6_p48 {{ 2001:db8:1:: timeout 600s }}",
    ]


def test_plan_without_a_listing_touches_every_entry_whose_set_exists():
    bans = [
        Ban("203.0.113.5", NOW + 60, "h"),
        Ban("10.0.5.0/24", NOW + 60, "held set"),
        Ban("10.0.0.0/16", NOW + 9, "new set"),
    ]
    lines = NftablesBackend().plan(bans, NOW, HOSTS | {"ban_v4_p24", "ban_v6_p64"})
    assert f"add element {T} ban_v4 {{ 203.0.113.5 timeout 1s }}" in lines
    assert f"add element {T} ban_v4_p24 {{ 10.0.5.0 timeout 1s }}" in lines
    assert f"delete element {T} ban_v4_p24 {{ 10.0.5.0 }}" in lines
    assert not any(
        "ban_v4_p16 { 10.0.0.0 timeout 1s" in line or ("delete element" in line and "p16" in line)
        for line in lines
    )
    assert f"add element {T} ban_v4_p16 {{ 10.0.0.0 timeout 9s }}" in lines
    assert not any(line.startswith("delete set") for line in lines)  # no listing: nothing is known empty
    assert (
        f'add rule {T} ban_nets ip6 saddr & ffff:ffff:ffff:ffff:: @ban_v6_p64 drop comment "mbg-net /64"'
        in lines
    )


def test_plan_deletes_prefix_sets_a_listing_showed_empty():
    held = {
        "ban_v4": frozenset(),
        "ban_v6": frozenset(),
        "ban_v4_p16": frozenset(),
        "ban_v4_p24": frozenset(),
    }
    lines = NftablesBackend().plan([Ban("10.0.5.0/24", NOW + 60, "r")], NOW, held.keys(), held)
    assert lines[-2:] == [
        f"delete set {T} ban_v4_p16",
        f"add element {T} ban_v4_p24 {{ 10.0.5.0 timeout 60s }}",
    ]
    assert f"add set {T} ban_v4_p16 {{ type ipv4_addr; flags timeout; }}" in lines  # the delete never fails
    assert not any("@ban_v4_p16" in line for line in lines)
    # only hosts to write and nothing empty: the prefix rules are left alone
    held = {"ban_v4": frozenset(), "ban_v6": frozenset(), "ban_v4_p24": frozenset({"10.0.5.0/24"})}
    assert NftablesBackend().plan([Ban("203.0.113.5", NOW + 60, "r")], NOW, held.keys(), held) == [
        f"add element {T} ban_v4 {{ 203.0.113.5 timeout 60s }}"
    ]


def test_plan_chunks_large_batches():
    bans = [Ban(f"198.18.{i // 250}.{i % 250 + 1}", NOW + 60, "r") for i in range(2500)]
    lines = NftablesBackend().plan(bans, NOW, HOSTS)
    assert [line.split(" {")[0] for line in lines] == [f"add element {T} ban_v4"] * 3 + [
        f"delete element {T} ban_v4"
    ] * 3 + [f"add element {T} ban_v4"] * 3
    assert sum(line.count("timeout 60s") for line in lines) == 2500


def test_plan_refuses_garbage_with_a_firewall_error():
    with pytest.raises(FirewallError, match="invalid address"):
        NftablesBackend().plan([Ban("not-an-ip", NOW + 60, "r")], NOW, HOSTS)


def test_plan_skips_the_touch_for_entries_a_listing_just_showed_absent():
    bans = [Ban("203.0.113.5", NOW + 60, "held"), Ban("203.0.113.6", NOW + 60, "new")]
    held = {"ban_v4": frozenset({"203.0.113.5"}), "ban_v6": frozenset()}
    assert NftablesBackend().plan(bans, NOW, held.keys(), held) == [
        f"add element {T} ban_v4 {{ 203.0.113.5 timeout 1s }}",
        f"delete element {T} ban_v4 {{ 203.0.113.5 }}",
        f"add element {T} ban_v4 {{ 203.0.113.5 timeout 60s, 203.0.113.6 timeout 60s }}",
    ]


def test_unplan_deletes_only_the_named_entry_and_collects_a_set_it_empties():
    held = {
        "ban_v4": frozenset({"203.0.113.5"}),
        "ban_v6": frozenset(),
        "ban_v4_p16": frozenset({"10.0.0.0/16"}),
        "ban_v4_p24": frozenset({"10.0.5.0/24", "10.0.6.0/24"}),
    }
    backend = NftablesBackend()
    assert backend.unplan(["10.0.5.0/24", "192.0.2.0/24", "203.0.113.9"], held.keys(), held) == [
        f"add element {T} ban_v4_p24 {{ 10.0.5.0 timeout 1s }}",  # the /16 is another entry: untouched
        f"delete element {T} ban_v4_p24 {{ 10.0.5.0 }}",
    ]
    lines = backend.unplan(["10.0.0.0/16"], held.keys(), held)  # the last /16: its set and rule go
    assert lines[-1] == f"delete set {T} ban_v4_p16"
    assert f'add rule {T} ban_nets ip saddr & 255.255.255.0 @ban_v4_p24 drop comment "mbg-net /24"' in lines
    assert not any("@ban_v4_p16" in line or "element" in line for line in lines)
    # without a listing: every entry whose set exists is touched and deleted, no set is collected
    assert backend.unplan(["10.0.0.0/16", "10.9.0.0/16", "2001:db8::/64"], held.keys()) == [
        f"add element {T} ban_v4_p16 {{ 10.0.0.0 timeout 1s, 10.9.0.0 timeout 1s }}",
        f"delete element {T} ban_v4_p16 {{ 10.0.0.0, 10.9.0.0 }}",
    ]


class Model:
    """The ban sets as the kernel would hold them after a transaction: set -> value -> seconds. Deleting an
    absent element, or writing to a set that does not exist, fails (as nft fails the batch)."""

    def __init__(self, held: dict[str, int]) -> None:
        self.sets: dict[str, dict[str, int]] = {"ban_v4": {}, "ban_v6": {}}
        for text, seconds in held.items():
            net = parse_target(text)
            name = "ban_v4" if net.prefixlen == 32 else f"ban_v4_p{net.prefixlen}"
            self.sets.setdefault(name, {})[text.split("/")[0]] = seconds

    def apply(self, lines: list[str]) -> None:
        for line in lines:
            words = line.split()
            if words[:2] == ["add", "set"]:
                self.sets.setdefault(words[4], {})
            elif words[:2] == ["delete", "set"]:
                del self.sets[words[4]]
            elif words[1] == "element":
                body = line.split("{", 1)[1].rsplit("}", 1)[0]
                for item in body.split(","):
                    value, *rest = item.split()
                    if words[0] == "delete":
                        del self.sets[words[4]][value]  # KeyError: nft would fail the batch
                    else:
                        self.sets[words[4]][value] = int(rest[1].rstrip("s"))

    def banned(self) -> dict[str, int]:
        """Ban text -> seconds."""
        out = {}
        for name, values in self.sets.items():
            suffix = "" if name in HOSTS else "/" + name.rsplit("_p", 1)[1]
            out.update({f"{v}{suffix}": s for v, s in values.items()})
        return out

    def longest(self, address: str) -> int:
        """The longest time any entry bans ``address``."""
        ip = ipaddress.ip_address(address)
        return max((s for t, s in self.banned().items() if ip in ipaddress.ip_network(t)), default=0)


@pytest.mark.parametrize(
    ("held_text", "held_seconds", "wanted_text", "wanted_seconds"),
    [
        ("10.0.0.0/16", 3600, "10.0.5.0/24", 30 * 86400),  # a longer ban inside a held shorter cover
        ("10.0.5.0/24", 20 * 86400, "10.0.0.0/16", 3600),  # a shorter cover around a held longer ban
    ],
    ids=["shorter-cover-holds-a-longer-ban", "longer-ban-gets-a-shorter-cover"],
)
@pytest.mark.parametrize("listed", [True, False], ids=["listed", "unlisted"])
def test_plan_keeps_every_nested_ban_for_its_whole_time(
    held_text, held_seconds, wanted_text, wanted_seconds, listed
):
    model = Model({held_text: held_seconds})
    held = {name: frozenset(t for t in model.banned() if _in_set(t, name)) for name in model.sets}
    backend = NftablesBackend()
    model.apply(
        backend.plan(
            [Ban(wanted_text, NOW + wanted_seconds, "r")], NOW, held.keys(), held if listed else None
        )
    )
    wanted_seconds = min(wanted_seconds, MAX_TIMEOUT)  # capped like every ban (the enforcer tops it up)
    assert model.banned() == {held_text: held_seconds, wanted_text: wanted_seconds}
    for text, seconds in ((held_text, held_seconds), (wanted_text, wanted_seconds)):
        net = ipaddress.ip_network(text)
        for address in (net.network_address, net.broadcast_address):
            assert model.longest(str(address)) >= seconds, (text, str(address), model.sets)
    # unban either one: the other stays, whole, with its own time
    for gone, kept in ((held_text, wanted_text), (wanted_text, held_text)):
        after = Model(model.banned())
        listing = {name: frozenset(t for t in after.banned() if _in_set(t, name)) for name in after.sets}
        after.apply(backend.unplan([gone], listing.keys(), listing if listed else None))
        assert after.banned() == {kept: model.banned()[kept]}


def _in_set(text: str, name: str) -> bool:
    net = parse_target(text)
    return name == ("ban_v4" if net.prefixlen == 32 else f"ban_v4_p{net.prefixlen}")


prefixes = st.builds(
    lambda a, n: str(ipaddress.ip_network(f"{ipaddress.IPv4Address(a)}/{n}", strict=False)),
    st.integers(0x0A000000, 0x0A00FFFF),
    st.integers(16, 32),
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(prefixes, st.integers(1, 10**6), max_size=12),
    st.lists(st.tuples(prefixes, st.integers(1, 10**6)), min_size=1, max_size=12),
    st.booleans(),
)
def test_plan_gives_every_ban_its_own_entry_and_time(held_bans, wanted, listed):
    """Apply the plan to a model of the sets: no batch fails (no delete of an absent element, no write to a
    missing set), every wanted ban is held with exactly its (longest) time, every other held ban is kept."""
    model = Model({parse_target(t).text: s for t, s in held_bans.items()})
    before = model.banned()
    held = {name: frozenset(t for t in before if _in_set(t, name)) for name in model.sets}
    bans = [Ban(t, NOW + s, "r") for t, s in wanted]
    model.apply(NftablesBackend().plan(bans, NOW, held.keys(), held if listed else None))
    expected = dict(before)
    longest: dict[str, int] = {}
    for text, seconds in wanted:
        key = parse_target(text).text
        longest[key] = max(longest.get(key, 0), seconds)
    expected.update(longest)
    assert model.banned() == expected


@pytest.mark.parametrize(
    ("raw", "suffix", "expected"),
    [
        ("203.0.113.5", "", ("203.0.113.5", 0)),
        ("2001:db8::", "/32", ("2001:db8::/32", 0)),
        ({"elem": {"val": "203.0.113.5", "timeout": 3600, "expires": 3599}}, "", ("203.0.113.5", 3599)),
        ({"elem": {"val": "203.0.113.5", "timeout": 3600, "expires": 0}}, "", ("203.0.113.5", 1)),
        ({"elem": {"val": "10.0.0.0", "timeout": 9}}, "/8", ("10.0.0.0/8", 1)),
    ],
)
def test_json_elements(raw, suffix, expected):
    assert _element(raw, suffix) == expected


@pytest.mark.parametrize(
    ("raw", "suffix"),
    [
        ({"concat": [1, 2]}, ""),
        ({"prefix": {"addr": "10.0.0.0", "len": 8}}, ""),
        (7, ""),
        (None, ""),
        ("10.0.6.1", "/24"),
        ("bogus", ""),
    ],
)
def test_unknown_json_elements_are_skipped(raw, suffix):
    assert _element(raw, suffix) is None  # 10.0.6.1 in a /24 set: host bits set, never ours, never matches


def test_listing_reads_host_and_prefix_sets_and_leaves_others_out():
    text = json.dumps(
        {
            "nftables": [
                {"metainfo": {"version": "1.0.6"}},
                {"set": {"table": TABLE, "name": "ban_v4", "elem": ["203.0.113.5"]}},
                {
                    "set": {
                        "table": TABLE,
                        "name": "ban_v6_p64",
                        "elem": [{"elem": {"val": "2001:db8:1:2::", "timeout": 60, "expires": 59}}],
                    }
                },
                {"set": {"table": TABLE, "name": "ban_v4_p24"}},  # empty: named, so that it is collected
                {"set": {"table": TABLE, "name": "syn_v4", "elem": ["198.51.100.1"]}},
                {
                    "set": {
                        "table": TABLE,
                        "name": "ban_v4_net",
                        "elem": [{"prefix": {"addr": "10.0.0.0", "len": 8}}],
                    }
                },
                {"set": {"table": "other", "name": "ban_v4", "elem": ["198.51.100.2"]}},
            ]
        }
    )
    names, entries = _parse_entries(text)
    assert names == {"ban_v4", "ban_v6_p64", "ban_v4_p24"}
    assert entries == [Entry("ban_v4", "203.0.113.5", 0), Entry("ban_v6_p64", "2001:db8:1:2::/64", 59)]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('ip saddr & 255.255.255.0 == @ban_v4_p24 drop comment "mbg-net /24"', "ban_v4_p24"),
        ('ip6 saddr & ffff:ffff:ffff:ffff:: == @ban_v6_p64 drop comment "mbg-net /64"', "ban_v6_p64"),
        ('ip saddr & 255.255.0.0 == @ban_v4_p24 drop comment "mbg-net /24"', None),  # wrong mask
        ('ip saddr & 255.255.255.0 == @ban_v4_p24 accept comment "mbg-net /24"', None),
        ('ip saddr @ban_v4 drop comment "mbg-net /24"', None),
    ],
)
def test_prefix_rules_are_recognised_only_when_exactly_ours(line, expected):
    assert _rule_set(line) == expected


def test_block_finds_a_nested_body():
    text = "table inet a {\n\tchain input {\n\t\ttype filter;\n\t}\n}\ntable inet b {\n\tchain x {\n\t}\n}\n"
    assert _block(text, "table inet b") == "\n\tchain x {\n\t}\n"
    assert _block(_block(text, "table inet a"), "chain input") == "\n\t\ttype filter;\n\t"
    assert _block(text, "table inet c") is None


def test_missing_nft_is_a_clear_error():
    with pytest.raises(FirewallError, match="not found: install the nftables package"):
        NftablesBackend(command=("/nonexistent/nft",)).list()
