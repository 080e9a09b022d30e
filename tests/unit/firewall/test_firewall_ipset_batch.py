"""The ipset batch builder: the exact text fed to ``ipset restore -exist``, and ``ipset save`` parsing."""

from __future__ import annotations

import pytest
from mail_bruteforce_guard.errors import ConfigError
from mail_bruteforce_guard.firewall.base import Ban, FirewallError
from mail_bruteforce_guard.firewall.enforce import make_backend
from mail_bruteforce_guard.firewall.ipset import MAX_TIMEOUT, IpsetBackend, parse_save

NOW = 1_790_000_000.5


def test_create_lines():
    backend = IpsetBackend(v4="ban4", v6="ban6", maxelem=200000)
    assert backend.create_line(4) == "create ban4 hash:net family inet timeout 0 maxelem 200000"
    assert backend.create_line(6) == "create ban6 hash:net family inet6 timeout 0 maxelem 200000"
    assert backend.create_line(4, "tmp") == "create tmp hash:net family inet timeout 0 maxelem 200000"


def test_add_batch_text():
    bans = [
        Ban("203.0.113.5", NOW + 3600, "r"),
        Ban("2001:DB8::1", NOW + 600.25, "r"),
        Ban("203.0.113.0/24", NOW + 86400, "r"),
        Ban("2001:db8:1:2::/64", NOW + 10**9, "capped"),
        Ban("::ffff:198.51.100.7", NOW + 1, "mapped"),
        Ban("198.51.100.8", NOW - 1, "expired"),
        Ban("198.51.100.9", NOW, "expires right now"),
    ]
    assert IpsetBackend().add_lines(bans, NOW) == [
        "add mbg_ban_v4 203.0.113.5 timeout 3600",
        "add mbg_ban_v6 2001:db8::1 timeout 601",
        "add mbg_ban_v4 203.0.113.0/24 timeout 86400",
        f"add mbg_ban_v6 2001:db8:1:2::/64 timeout {MAX_TIMEOUT}",
        "add mbg_ban_v4 198.51.100.7 timeout 1",
    ]


def test_no_line_ever_says_timeout_0():
    bans = [Ban(f"203.0.113.{i}", NOW + i / 10 - 0.5, "r") for i in range(1, 20)]
    lines = IpsetBackend().add_lines(bans, NOW)
    assert lines and not any(line.endswith(" timeout 0") for line in lines)
    assert len(lines) == 14  # until > now for i = 6..19


def test_del_batch_text():
    lines = IpsetBackend(v4="a", v6="b").del_lines(["203.0.113.5", "2001:DB8::1", "203.0.113.0/24"])
    assert lines == ["del a 203.0.113.5", "del b 2001:db8::1", "del a 203.0.113.0/24"]


@pytest.mark.parametrize("address", ["203.0.113.5\nflush mbg_ban_v4", "a b", "", "10.1.2.3/8"])
def test_nothing_unparsed_reaches_the_batch(address):
    with pytest.raises(FirewallError, match=r"^invalid"):
        IpsetBackend().add_lines([Ban(address, NOW + 60, "r")], NOW)
    with pytest.raises(FirewallError, match=r"^invalid"):
        IpsetBackend().del_lines([address])


SAVE = """\
create mbg_ban_v4 hash:net family inet hashsize 1024 maxelem 1048576 timeout 0 bucketsize 12 initval 0x1
add mbg_ban_v4 203.0.113.0/24 timeout 3599
add mbg_ban_v4 198.51.100.7 timeout 12
add mbg_ban_v4 192.0.2.1 timeout 0
add other 198.51.100.99 timeout 5
add mbg_ban_v4 198.51.100.8
create mbg_ban_v6 hash:net family inet6 hashsize 1024 maxelem 1048576 timeout 0 bucketsize 12 initval 0x2
add mbg_ban_v6 2001:db8::1 timeout 600
"""


def test_parse_save():
    assert parse_save(SAVE, "mbg_ban_v4") == {
        "203.0.113.0/24": 3599,
        "198.51.100.7": 12,
        "192.0.2.1": 0,
        "198.51.100.8": 0,
    }
    assert parse_save(SAVE, "mbg_ban_v6") == {"2001:db8::1": 600}
    assert parse_save("", "mbg_ban_v4") == {}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"firewall_backend": "pf"}, "^firewall_backend: 'pf' is not supported"),
        ({"firewall_backend": None}, "^firewall_backend: None is not supported"),
        ({"ipset_v4": "x" * 32}, "^ipset_v4: 'x{32}' is not a valid ipset name"),
        ({"ipset_v6": "bad name"}, "^ipset_v6: 'bad name' is not a valid ipset name"),
        ({"ipset_v4": "same", "ipset_v6": "same"}, "^ipset_v4 and ipset_v6 must differ"),
        ({"ipset_maxelem": 0}, "^ipset_maxelem: 0 is not an integer"),
        ({"ipset_maxelem": "1048576"}, "^ipset_maxelem: '1048576' is not an integer"),
        ({"ipset_maxelem": True}, "^ipset_maxelem: True is not an integer"),
    ],
)
def test_bad_config_is_a_config_error(config, message):
    with pytest.raises(ConfigError, match=message):
        make_backend({"firewall_backend": "iptables", **config})


def test_make_backend_defaults_and_config():
    backend = make_backend({})
    assert isinstance(backend, IpsetBackend)
    assert (backend.sets, backend.maxelem) == ({4: "mbg_ban_v4", 6: "mbg_ban_v6"}, 1048576)
    backend = make_backend(
        {"firewall_backend": "ipset", "ipset_v4": "a", "ipset_v6": "b", "ipset_maxelem": 5}
    )
    assert (backend.sets, backend.maxelem) == ({4: "a", 6: "b"}, 5)
    assert backend.max_timeout == MAX_TIMEOUT == 2147483
