"""What only the ipset backend does (growing sets in place, a full set, streamed batches, nested hash:net
entries), against the REAL ipset inside throwaway network namespaces. The contract both backends keep is
test_firewall_backends.py's."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from mail_bruteforce_guard.errors import ConfigError
from mail_bruteforce_guard.firewall.base import Ban, FirewallError
from mail_bruteforce_guard.firewall.enforce import Enforcer
from mail_bruteforce_guard.firewall.ipset import _PIECE_LINES, MAX_TIMEOUT, IpsetBackend, parse_save

CONTROLLER = "192.0.2.10"


def enforcer(ns, **kwargs) -> Enforcer:
    backend = IpsetBackend(command=ns.ipset, maxelem=kwargs.pop("maxelem", 1048576))
    kwargs.setdefault("ignore", ["10.0.0.0/8"])
    kwargs.setdefault("protected", [CONTROLLER])
    return Enforcer(backend, use_syslog=False, **kwargs)


def entries(ns, name: str) -> dict[str, int]:
    """What the kernel holds, read with ipset itself (not through the code under test's list())."""
    return parse_save(ns.run("ipset", "save", name).stdout, name)


def header(ns, name: str) -> str:
    return next(
        line for line in ns.run("ipset", "save", name).stdout.splitlines() if line.startswith("create")
    )


def test_nested_bans_each_keep_their_own_time(netns):
    """hash:net holds nested prefixes side by side: a /24 for 20 days inside a /16 for a few seconds
    outlives it in the kernel, and unbanning either one keeps the other (the nftables backend's prefix sets
    per length give the same; test_firewall_nftables.py)."""
    now = time.time()
    enf = enforcer(netns, ignore=[])
    enf.ban(
        [Ban("198.51.0.0/16", now + 4, "short cover"), Ban("198.51.100.0/24", now + 20 * 86400, "long")], now
    )
    enf.ban([Ban("203.0.0.0/16", now + 3600, "cover"), Ban("203.0.113.0/24", now + 3600, "inside")], now)
    got = entries(netns, "mbg_ban_v4")
    assert set(got) == {"198.51.0.0/16", "198.51.100.0/24", "203.0.0.0/16", "203.0.113.0/24"}
    assert got["198.51.100.0/24"] >= 20 * 86400 - 5
    assert enf.unban(["203.0.0.0/16"]).removed == ("203.0.0.0/16",)
    assert "203.0.113.0/24" in entries(netns, "mbg_ban_v4")
    enf.ban([Ban("203.0.0.0/16", now + 3600, "cover again")], now)
    assert enf.unban(["203.0.113.0/24"]).removed == ("203.0.113.0/24",)
    assert "203.0.0.0/16" in entries(netns, "mbg_ban_v4")
    deadline = time.monotonic() + 30
    while "198.51.0.0/16" in entries(netns, "mbg_ban_v4") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert set(entries(netns, "mbg_ban_v4")) == {"198.51.100.0/24", "203.0.0.0/16"}
    assert netns.run("ipset", "test", "mbg_ban_v4", "198.51.100.7", check=False).returncode == 0


def test_ensure_grows_a_small_set_in_place_keeping_entries_and_rules(netns):
    netns.run("ipset", "create", "mbg_ban_v4", "hash:net", "family", "inet", "maxelem", "65536")
    netns.run("ipset", "add", "mbg_ban_v4", "203.0.113.0/24")
    netns.run("iptables", "-I", "INPUT", "-m", "set", "--match-set", "mbg_ban_v4", "src", "-j", "DROP")
    done = IpsetBackend(command=netns.ipset).ensure()
    assert done == [
        "resized ipset mbg_ban_v4 (maxelem 65536 -> 1048576, per-entry timeouts enabled)",
        "created ipset mbg_ban_v6 (hash:net inet6 maxelem 1048576)",
    ]
    assert "maxelem 1048576 timeout 0" in header(netns, "mbg_ban_v4")
    assert entries(netns, "mbg_ban_v4") == {"203.0.113.0/24": 0}  # kept, still permanent
    assert "--match-set mbg_ban_v4 src -j DROP" in netns.run("iptables", "-S", "INPUT").stdout
    assert IpsetBackend(command=netns.ipset).ensure() == []  # idempotent
    assert netns.run("ipset", "list", "-n").stdout.split() == ["mbg_ban_v4", "mbg_ban_v6"]


def test_a_set_of_another_type_is_a_clear_error(netns):
    netns.run("ipset", "create", "mbg_ban_v4", "hash:ip")
    with pytest.raises(FirewallError, match=r"^ipset mbg_ban_v4 exists as hash:ip family inet, expected"):
        IpsetBackend(command=netns.ipset).ensure()


def test_a_full_set_fails_with_one_line(netns):
    now = time.time()
    enf = enforcer(netns, maxelem=4)
    with pytest.raises(FirewallError) as err:
        enf.ban([Ban(f"203.0.113.{i}", now + 60, "r") for i in range(1, 10)], now)
    assert "\n" not in str(err.value)
    assert str(err.value).startswith("ipset restore failed: Error in line 5:")
    assert str(err.value).endswith("(raise ipset_maxelem, now 4)")


def test_missing_ipset_binary_is_a_clear_error():
    backend = IpsetBackend(command=("/nonexistent/ipset",))
    with pytest.raises(FirewallError, match="not found: install the ipset package"):
        backend.list()


def test_bad_config_values_are_config_errors():
    with pytest.raises(ConfigError, match="ipset_v4"):
        IpsetBackend(v4="bad name\nflush")
    with pytest.raises(ConfigError, match="ipset_maxelem"):
        IpsetBackend(maxelem=0)


def test_a_capped_ban_is_topped_up_once_a_day_not_every_scan(netns):
    now = time.time()
    enf = enforcer(netns)
    enf.backend.ensure()
    netns.run("ipset", "add", "mbg_ban_v4", "203.0.113.5", "timeout", str(MAX_TIMEOUT - 3600))
    netns.run("ipset", "add", "mbg_ban_v4", "203.0.113.6", "timeout", str(MAX_TIMEOUT - 90000))
    netns.run("ipset", "add", "mbg_ban_v4", "203.0.113.7")  # an admin's permanent entry
    far = now + 100 * 86400  # a 100-day ban: longer than the kernel's per-entry limit
    result = enf.ban([Ban(f"203.0.113.{i}", far, "long") for i in (5, 6, 7)], now)
    assert [b.address for b in result.unchanged] == ["203.0.113.5", "203.0.113.7"]
    assert [b.address for b in result.added] == ["203.0.113.6"]
    held = entries(netns, "mbg_ban_v4")
    assert held["203.0.113.6"] >= MAX_TIMEOUT - 3 and held["203.0.113.7"] == 0


def test_ensure_grows_maxelem_of_a_timeout_set_keeping_timeouts(netns):
    netns.run(
        "ipset", "create", "mbg_ban_v6", "hash:net", "family", "inet6", "timeout", "0", "maxelem", "1024"
    )
    netns.run("ipset", "add", "mbg_ban_v6", "2001:db8::/64", "timeout", "5000")
    done = IpsetBackend(command=netns.ipset, maxelem=2048).ensure()
    assert done == [
        "created ipset mbg_ban_v4 (hash:net inet maxelem 2048)",
        "resized ipset mbg_ban_v6 (maxelem 1024 -> 2048)",
    ]
    assert "maxelem 2048 timeout 0" in header(netns, "mbg_ban_v6")
    assert 4995 <= entries(netns, "mbg_ban_v6")["2001:db8::/64"] <= 5000
    assert IpsetBackend(command=netns.ipset, maxelem=1024).ensure() == []  # never shrinks


def test_sets_are_per_network_namespace(netns):
    """The premise of every test here: a set made inside a namespace is invisible on the host."""
    netns.run("ipset", "create", "mbgt_probe", "hash:net", "timeout", "0")
    assert "mbgt_probe" in netns.run("ipset", "list", "-n").stdout.split()
    host = subprocess.run(["ipset", "list", "-n"], capture_output=True, text=True, check=True).stdout
    assert "mbgt_probe" not in host.split()


def test_both_sets_grown_in_one_batch_even_with_a_leftover_temporary_set(netns):
    netns.run("ipset", "create", f"mbgtmp{os.getpid()}", "hash:net")  # as if a previous run was killed
    netns.run("ipset", "create", "mbg_ban_v4", "hash:net", "family", "inet", "maxelem", "100")
    netns.run("ipset", "create", "mbg_ban_v6", "hash:net", "family", "inet6", "maxelem", "100")
    netns.run("ipset", "add", "mbg_ban_v6", "2001:db8::1")
    assert len(IpsetBackend(command=netns.ipset).ensure()) == 2
    assert sorted(netns.run("ipset", "list", "-n").stdout.split()) == ["mbg_ban_v4", "mbg_ban_v6"]
    assert entries(netns, "mbg_ban_v6") == {"2001:db8::1": 0}


def test_a_batch_larger_than_one_piece_is_written_whole_and_a_bad_address_applies_nothing(netns):
    """``add`` streams its lines to ipset in pieces (issue 15): every line arrives; an invalid address
    (the guard refuses those before the backend sees them) still stops the batch before ipset starts."""
    now = time.time()
    backend = IpsetBackend(command=netns.ipset, maxelem=65536)
    backend.ensure()
    count = 2 * _PIECE_LINES + 7
    backend.add([Ban(f"198.18.{i // 250}.{i % 250 + 1}", now + 600, "r") for i in range(count)], now)
    held = entries(netns, "mbg_ban_v4")
    assert len(held) == count and all(590 <= s <= 600 for s in held.values())
    with pytest.raises(FirewallError):
        backend.add([Ban("198.19.0.1", now + 600, "r"), Ban("not-an-ip", now + 600, "r")], now)
    assert "198.19.0.1" not in entries(netns, "mbg_ban_v4")
