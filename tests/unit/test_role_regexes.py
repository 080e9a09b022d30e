"""The address regexes tasks/validate.yml uses (no ansible.utils) agree with Python's ipaddress."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

ROLE = Path(__file__).resolve().parents[2] / "roles" / "mail_bruteforce_guard"


def _regexes() -> tuple[re.Pattern, re.Pattern]:
    data = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())

    def expand(text: str) -> str:
        """Render the two Jinja forms vars/main.yml uses: ``{{ name }}`` and ``{{ name | join('|') }}``."""

        def value(match: re.Match) -> str:
            item = data[match.group(1)]
            return "|".join(map(expand, item)) if match.group(2) else expand(item)

        return re.sub(r"\{\{ (mail_bruteforce_guard__\w+)( \| join\('\|'\))? \}\}", value, text)

    return re.compile(expand(data["mail_bruteforce_guard__net4_re"])), re.compile(
        expand(data["mail_bruteforce_guard__net6_re"])
    )


NET4, NET6 = _regexes()


def _accepted(text: str) -> bool:
    return bool(NET4.match(text) or NET6.match(text))


@settings(max_examples=300, deadline=None)
@given(st.ip_addresses(), st.booleans(), st.integers(0, 128), st.booleans())
def test_every_valid_address_or_network_is_accepted(address, with_prefix, prefix, compressed):
    text = address.compressed if compressed else address.exploded
    if with_prefix:
        text += f"/{prefix % (address.max_prefixlen + 1)}"
    assert _accepted(text), text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789abcdef:./", max_size=45))
def test_nothing_ipaddress_refuses_is_accepted(text):
    if _accepted(text):
        ipaddress.ip_network(text, strict=False)  # raises if the regex let garbage through


@pytest.mark.parametrize(
    "text",
    [
        "10.0.0.300/8",
        "10.0.0/8",
        "10.0.0.0/33",
        "2001:db8::/129",
        "1:2:3:4:5:6:7:8:9",
        "::ffff:1.2.3",
        "example.com",
        "10.0.0.0/",
        " 10.0.0.0/8",
        "2001:db8:::1",
        "01.2.3.4x",
    ],
)
def test_malformed_networks_are_refused(text):
    assert not _accepted(text)
