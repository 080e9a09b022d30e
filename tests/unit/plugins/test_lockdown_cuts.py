"""The lockdown pre-flight filter (plugins/filter/listeners.py): listening sockets a lockdown would cut."""

from __future__ import annotations

import plugin_helpers  # noqa: F401  # pylint: disable=unused-import  # puts the collection on sys.path
import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.filter.listeners import (
    FilterModule,
    listeners,
    lockdown_cuts,
)
from hypothesis import given
from hypothesis import strategies as st

# Real `ss -H -ltnup` lines (Debian 12): wildcard, IPv6, loopback, device-bound, no process column, mapped.
SS = """\
tcp   LISTEN 0      511      0.0.0.0:80    0.0.0.0:*    users:(("nginx",pid=812,fd=6),("nginx",pid=811,fd=6))
tcp   LISTEN 0      511             [::]:443          [::]:*    users:(("nginx",pid=812,fd=7))
tcp   LISTEN 0      100          0.0.0.0:25        0.0.0.0:*    users:(("master",pid=590,fd=13))
tcp   LISTEN 0      128          0.0.0.0:22        0.0.0.0:*    users:(("sshd",pid=400,fd=3))
tcp   LISTEN 0      80         127.0.0.1:3306      0.0.0.0:*    users:(("mariadbd",pid=700,fd=20))
udp   UNCONN 0      0      127.0.0.53%lo:53        0.0.0.0:*    users:(("systemd-resolve",pid=300,fd=13))
udp   UNCONN 0      0          0.0.0.0:53         0.0.0.0:*     users:(("named",pid=310,fd=40))
tcp   LISTEN 0      128            [::1]:631          [::]:*
tcp   LISTEN 0      128                *:8443            *:*    users:(("sw-cp-server",pid=900,fd=9))
tcp   LISTEN 0      128   [::ffff:127.0.0.1]:9000         *:*   users:(("php-fpm",pid=1,fd=1))
tcp   LISTEN 0      128       [fe80::1]%eth0:8080          *:*
"""


def test_names_each_cut_listener_with_process_and_port():
    cuts = lockdown_cuts(SS, [22, 25])
    assert cuts == [
        "nginx on tcp/80",
        "nginx on tcp/443",
        "an unknown process on tcp/8080",
        "sw-cp-server on tcp/8443",
        "named on udp/53",
    ]


def test_loopback_sockets_are_never_cut():
    found = {(item.proto, item.port) for item in listeners(SS)}
    assert ("tcp", 3306) not in found and ("udp", 53) in found  # 127.0.0.53%lo:53 left out, 0.0.0.0:53 kept
    assert ("tcp", 631) not in found and ("tcp", 9000) not in found


@pytest.mark.parametrize(
    "allowed",
    [
        [22, 25, 80, 443, 8443, 8080, "udp/53"],
        [
            22,
            25,
            {"port": "80:443"},
            {"port": 8443, "proto": "tcp"},
            "tcp/8080",
            {"port": 53, "proto": "udp"},
        ],
        ["1:65535", "udp/1:65535"],
    ],
)
def test_allowed_ports_ranges_and_protocols(allowed):
    assert lockdown_cuts(SS, allowed) == []


def test_udp_allowance_does_not_admit_tcp():
    assert "nginx on tcp/80" in lockdown_cuts(SS, ["udp/80"])


@pytest.mark.parametrize(
    "allowed",
    [[{"proto": "tcp"}], ["tcp/0"], [{"port": "70000"}], ["sctp/80"], "22", [None]],
)
def test_bad_allow_list_is_a_clear_error(allowed):
    with pytest.raises(AnsibleFilterError, match=r"^lockdown_cuts: "):
        lockdown_cuts(SS, allowed)


def test_needs_text():
    with pytest.raises(AnsibleFilterError, match="text of ss"):
        lockdown_cuts(["tcp"], [])


@given(st.text(max_size=400))
def test_any_text_is_read_without_error(text):
    assert isinstance(lockdown_cuts(text, [22]), list)


def test_filter_is_registered():
    assert FilterModule().filters() == {"lockdown_cuts": lockdown_cuts}
