"""The firewall layer's fast paths give exactly what their reference paths give (issue 15's scale work):
the guard's IPv4 shortcut against ``refusal`` of the parsed target, the streamed ipset batch against the
line builder."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st
from mail_bruteforce_guard.firewall.base import Ban, ban_seconds, ended, parse_target
from mail_bruteforce_guard.firewall.guard import SPECIAL_NETWORKS, Guard, Verdict
from mail_bruteforce_guard.firewall.ipset import IpsetBackend, _pieces

NOW = 1_700_000_000.0
IPV4 = st.integers(min_value=0, max_value=(1 << 32) - 1).map(lambda n: str(ipaddress.IPv4Address(n)))
GUARDS = [
    Guard(),
    Guard(ignore=["10.0.0.0/8", "192.0.2.0/24", "2001:db8::/32"], protected=["192.0.2.10", "203.0.113.0/28"]),
    Guard(ignore=["198.51.100.7"], protected=["127.0.0.5", "2001:db8::1"]),
]
EDGES = [
    str(ipaddress.IPv4Address(n))
    for special, _why in SPECIAL_NETWORKS
    if special.version == 4
    for n in (special.first - 1, special.first, special.last, special.last + 1)
    if 0 <= n < 1 << 32
] + ["10.0.0.0", "10.255.255.255", "11.0.0.0", "192.0.2.10", "192.0.2.9", "203.0.113.15", "203.0.113.16"]


def reference(guard: Guard, address: str) -> Verdict:
    """``Guard.check`` without its IPv4 shortcut."""
    target = parse_target(address)
    return Verdict(target.text, guard.refusal(target))


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=(1 << 32) - 1))
def test_guard_ipv4_shortcut_is_refusal_of_the_target(value: int) -> None:
    address = str(ipaddress.IPv4Address(value))
    for guard in GUARDS:
        assert guard.check(address) == reference(guard, address)


def test_guard_ipv4_shortcut_at_every_rule_edge() -> None:
    for guard in GUARDS:
        for address in EDGES:
            assert guard.check(address) == reference(guard, address), address


def reference_add_lines(backend: IpsetBackend, bans: list, now: float) -> list:
    """The line builder as it was before it streamed: every address parsed."""
    lines = []
    for ban in bans:
        net = parse_target(ban.address)
        seconds = ban_seconds(ban.until, now, backend.max_timeout)
        if seconds > 0:
            lines.append(f"add {backend.sets[net.version]} {net.text} timeout {seconds}")
    return lines


# (address, seconds from NOW) pairs of a batch: IPv4, mapped and plain IPv6, networks, bans already ended
BAN_ITEMS = st.lists(
    st.tuples(
        st.one_of(
            IPV4, st.sampled_from(["::ffff:198.51.100.9", "2001:DB8::7", "2001:db8:1:2::/64", "10.1.0.0/16"])
        ),
        st.floats(min_value=-100, max_value=1e9, allow_nan=False),
    ),
    max_size=30,
)


@settings(max_examples=100, deadline=None)
@given(BAN_ITEMS)
def test_streamed_add_lines_are_the_reference_lines(items: list) -> None:
    backend = IpsetBackend()
    bans = [Ban(address, NOW + offset, "r") for address, offset in items]
    assert backend.add_lines(bans, NOW) == reference_add_lines(backend, bans, NOW)


@settings(max_examples=100, deadline=None)
@given(BAN_ITEMS)
def test_lines_of_checked_addresses_are_the_reference_lines(items: list) -> None:
    """The Enforcer's batch (``checked``: each address is the guard's text) writes the same lines."""
    backend = IpsetBackend()
    guard = Guard()
    bans = [Ban(guard.check(address).address, NOW + offset, "r") for address, offset in items]
    assert list(backend.iter_add_lines(bans, NOW, checked=True)) == reference_add_lines(backend, bans, NOW)


FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-3, max_value=3),
    st.sampled_from([0.0, 0.0005, 0.00049999, 0.0004999999999, 0.9995, 0.9994, 1.0, 1.0000001, 0.999999999]),
)


@settings(max_examples=2000, deadline=None)
@given(FLOATS, st.sampled_from([NOW, 0.0, -1.5, 1e9 + 0.25]), st.sampled_from([0, 1, 2, 60, 2147483]))
def test_ended_is_ban_seconds_zero(offset: float, now: float, cap: int) -> None:
    """``ended`` (the batch's expiry test) skips ``ban_seconds``'s rounding only where it cannot matter."""
    for until in (now + offset, offset):
        assert ended(until, now, cap) is (until <= now or ban_seconds(until, now, cap) == 0)


def test_pieces_join_to_the_whole_batch() -> None:
    lines = [f"add mbg_ban_v4 10.0.{i // 250}.{i % 250} timeout 60" for i in range(10_000)]
    it = iter(lines)
    first = lines[:3]
    for _line in first:
        next(it)
    assert b"".join(_pieces(first, it)) == ("\n".join(lines) + "\n").encode()
