"""``api._state_keys`` (only the state keys that differ from their canonical address) read with
``keys.get(a, a)`` gives what the reference table of every ban gave (``{canonical: key}``, the later key
winning), whatever mix of canonical and other spellings the state holds."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from mail_bruteforce_guard.detector import api
from mail_bruteforce_guard.firewall.base import Ban

SPELLINGS = [
    "192.0.2.1",
    "::ffff:192.0.2.1",
    "::ffff:c000:201",
    "2001:db8::1",
    "2001:DB8::1",
    "2001:db8:0::1",
    "198.51.100.0/24",
    "::ffff:198.51.100.0/120",
    "not an address",
    "192.0.2.2",
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(SPELLINGS), max_size=12))
def test_state_keys_read_as_the_reference_table(addresses):
    bans = [Ban(a, 1.0, "") for a in addresses]
    reference = {api._canonical(b.address): b.address for b in bans}
    keys = api._state_keys(bans)
    for spelling in {*SPELLINGS, *(api._canonical(s) for s in SPELLINGS)}:
        assert keys.get(spelling, spelling) == reference.get(spelling, spelling)
    assert all(k != v for k, v in keys.items())  # canonical keys (nearly every ban) take no entry
