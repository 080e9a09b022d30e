"""The ``network`` Jinja test the role validates addresses with: it agrees with Python's ipaddress."""

from __future__ import annotations

import ipaddress

import plugin_helpers  # noqa: F401  # pylint: disable=unused-import  # puts the collection on sys.path
import pytest
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.test import network as network_plugin
from hypothesis import given, settings
from hypothesis import strategies as st

network = network_plugin.network


@pytest.mark.parametrize(
    "value",
    ["10.0.0.0/8", "192.0.2.10", "10.1.2.3/8", "2001:db8::/32", "::1", "::ffff:192.0.2.1", "0.0.0.0/0"],
)
def test_accepts_addresses_and_networks(value):
    assert network(value)


@pytest.mark.parametrize(
    "value",
    [
        "10.0.0.300/8",
        "10.0.0.0/33",
        "2001:db8::/129",
        "example.com",
        "",
        " 10.0.0.0/8",
        "1.2.3",
        None,
        8,
        ["10/8"],
    ],
)
def test_rejects_everything_else(value):
    assert not network(value)


def test_registered_under_its_name():
    assert network_plugin.TestModule().tests() == {"network": network}


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.ip_addresses().map(str), st.text(alphabet="0123456789abcdef:./", max_size=45)))
def test_agrees_with_ipaddress(text):
    try:
        ipaddress.ip_network(text, strict=False)
        expected = True
    except ValueError:
        expected = False
    assert network(text) is expected
