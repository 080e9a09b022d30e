"""A scan keeps the firewall in line with the state (the source of truth) when something outside changed
it: a reload that took our sets/table with the hook (``nft flush ruleset`` by nftables.service, an ipset
clean-up by netfilter-persistent) must not leave the hook re-attached around empty sets, and a backend that
``auto`` now resolves differently (firewalld started) must not leave the old backend's hook dropping
addresses that ``unban`` then cannot lift. Real CLI, real tools, one fresh network namespace per test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_firewall_cli import CLI, cmd, home, run_in_netns  # noqa: F401 (home: a fixture)

ATTACKER = "203.0.113.5"  # the address of the log written by the ``home`` fixture


def scan(config: str, quiet: str) -> list[str]:
    return [CLI, "scan", "--config", config, "--log", quiet]


@pytest.fixture
def quiet(home) -> str:
    path = Path(f"{home.log}.quiet")
    path.write_text("")
    return str(path)


@pytest.mark.parametrize(
    ("backend", "damage", "listing"),
    [
        ("nftables", "nft flush ruleset", ["nft", "list", "set", "inet", "mail_bruteforce_guard", "ban_v4"]),
        (
            "iptables",
            "iptables -w -F; iptables -w -X; ip6tables -w -F; ip6tables -w -X; ipset flush; ipset destroy",
            ["ipset", "list", "mbg_ban_v4"],
        ),
    ],
    ids=["nftables-flush-ruleset", "iptables-and-ipsets-flushed"],
)
def test_a_scan_that_re_attaches_the_hook_puts_the_bans_back(home, quiet, backend, damage, listing):
    config = home(firewall_backend=backend)
    out = run_in_netns(
        [cmd(config, "scan"), listing, ["sh", "-c", damage], scan(config, quiet), listing, cmd(config, "status", "--json")]
    )
    assert [step["rc"] for step in out[:4]] == [0] * 4, out
    assert ATTACKER in out[1]["stdout"]
    assert out[4]["rc"] == 0 and ATTACKER in out[4]["stdout"], "hook re-attached around an empty set"
    status = json.loads(out[5]["stdout"])
    assert status["firewall"]["hook"] == "attached"


def test_a_scan_on_a_new_backend_takes_the_old_one_down_so_unban_really_unbans(home, quiet):
    ipt = home(firewall_backend="iptables")
    nft = home(firewall_backend="nftables")  # what auto resolves to once firewalld runs
    out = run_in_netns(
        [
            cmd(ipt, "scan"),
            scan(nft, quiet),
            ["iptables-save"],
            ["ipset", "list", "-n"],
            ["nft", "list", "set", "inet", "mail_bruteforce_guard", "ban_v4"],
            cmd(nft, "unban", ATTACKER, "--json"),
            ["ipset", "list"],
            ["nft", "list", "ruleset"],
        ]
    )
    assert all(step["rc"] == 0 for step in out), out
    assert "MBG-BAN" not in out[2]["stdout"], "the old backend's hook still drops"
    assert out[3]["stdout"] == ""
    assert ATTACKER in out[4]["stdout"], "the ban did not move to the new backend"
    assert json.loads(out[5]["stdout"])["removed"] == [ATTACKER]
    assert ATTACKER not in out[6]["stdout"] + out[7]["stdout"]
