"""Coexistence detection is read-only on a host whose ``iptables`` is the legacy variant too: listing a
legacy table that is not loaded creates it (x_tables), so ``status`` (monitor mode included) must list only
the loaded ones, and still find the other tools' chains in both variants."""

from __future__ import annotations

import stat

from mail_bruteforce_guard.firewall import coexist


def test_detection_creates_no_legacy_table_and_sees_both_variants(nft_tools, netns, tmp_path):
    wrapper = tmp_path / "run"  # `iptables` = iptables-legacy, as after update-alternatives --set
    wrapper.write_text(
        "#!/bin/sh\n"
        'case "$1" in iptables|ip6tables) t="$1-legacy"; shift; set -- "$t" "$@";; esac\n'
        f'exec ip netns exec {netns.name} "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    coexist.detect(prefix=(str(wrapper),))
    assert netns.run("cat", "/proc/net/ip_tables_names").stdout == "", "a legacy table was created"
    assert netns.run("nft", "list", "ruleset").stdout == ""

    netns.run("iptables-legacy", "-w", "-N", "f2b-sshd")  # fail2ban on the legacy variant
    netns.run("iptables-nft", "-w", "-N", "ufw-user-input")  # ufw on the nf_tables one
    found = {f.name: f for f in coexist.detect(prefix=(str(wrapper),))}
    assert "f2b-sshd" in found["fail2ban"].detail and "ufw-user-input" in found["ufw"].detail
    assert netns.run("cat", "/proc/net/ip_tables_names").stdout.split() == ["filter"]  # no nat table
