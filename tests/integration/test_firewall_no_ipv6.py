"""A kernel booted with ``ipv6.disable=1`` (common on hosting servers): ip6tables cannot work there, and
there is no IPv6 traffic to guard. The hook, status and firewall-remove must then do the IPv4 side and
succeed. The kernel condition cannot be produced in a namespace, so ip6tables alone is replaced by what it
prints on such a kernel; iptables, ipset and nft are the real ones in a throwaway namespace."""

from __future__ import annotations

import stat

import pytest
from mail_bruteforce_guard.firewall.enforce import Enforcer
from mail_bruteforce_guard.firewall.ipset import IpsetBackend
from mail_bruteforce_guard.firewall.remove import leftovers, remove_all

# ip6tables 1.8.9 (legacy) on a kernel without IPv6; the nf_tables variant ends its message the same way
NO_IPV6 = (
    "ip6tables v1.8.9 (legacy): can't initialize ip6tables table `filter': "
    "Address family not supported by protocol\nPerhaps ip6tables or your kernel needs to be upgraded.\n"
)


@pytest.fixture
def prefix(nft_tools, netns, tmp_path) -> tuple[str, ...]:
    """Runs a tool in the namespace, except ip6tables/ip6tables-restore, which fail as without IPv6."""
    (tmp_path / "no-ipv6.txt").write_text(NO_IPV6)
    wrapper = tmp_path / "run"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'case "$1" in ip6tables*) cat {tmp_path / "no-ipv6.txt"} >&2; exit 3;; esac\n'
        f'exec ip netns exec {netns.name} "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return (str(wrapper),)


def test_hook_and_firewall_remove_work_without_ipv6(netns, prefix):
    enf = Enforcer(IpsetBackend(command=(*prefix, "ipset")), use_syslog=False)
    lines = enf.attach()
    assert [line for line in lines if "ip6tables" in line] == []
    assert any(line.startswith("hook attached: iptables chain MBG-BAN") for line in lines)
    assert enf.backend.hook_state() == "attached"
    assert enf.attach() == []
    done = remove_all({}, prefix=prefix)
    assert "removed 2 rules and chains of ours from iptables (IPv4)" in done
    assert "destroyed ipset mbg_ban_v4" in done
    assert leftovers({}, prefix=prefix) == []
    assert "MBG-BAN" not in netns.run("iptables-save").stdout
    assert remove_all({}, prefix=prefix) == []
