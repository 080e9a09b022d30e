"""The firewall side of the CLI end to end, each test in its own network namespace (``unshare --net``): the
real ``mail-bruteforce-guard`` command against the real iptables/ip6tables/ipset/nft. Monitor mode leaves
every dump byte-identical; switching to enforce applies the remembered bans; scans re-attach a removed hook;
firewall-remove leaves nothing of ours and is idempotent; status reports backend, hook and other tools."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).parent / "mail-bruteforce-guard")
DUMPS = {
    "iptables-save": ["iptables-save"],
    "ip6tables-save": ["ip6tables-save"],
    "ipset list -n": ["ipset", "list", "-n"],
    "nft list ruleset": ["nft", "list", "ruleset"],
}

# Runs inside the namespace: argv[1] = JSON list of steps; prints one JSON result per step.
DRIVER = textwrap.dedent(
    """
    import json, re, subprocess, sys, time
    steps = json.loads(sys.argv[1])
    dumps = json.loads(sys.argv[2])
    out = []
    for step in steps:
        if step[0] == "dump":
            text = {}
            for name, argv in dumps.items():
                t = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
                text[name] = re.sub(r"(?m)^# (Generated|Completed) .*$", "", t)  # timestamps
            out.append(text)
        else:
            started = time.perf_counter()
            proc = subprocess.run(step, capture_output=True, text=True)
            out.append({"rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr,
                        "seconds": time.perf_counter() - started})
    print(json.dumps(out))
    """
)

FOREIGN = """
iptables -w -N f2b-postfix
iptables -w -A f2b-postfix -s 198.51.100.99 -j REJECT
iptables -w -A f2b-postfix -j RETURN
iptables -w -I INPUT -p tcp -m multiport --dports 25,587 -j f2b-postfix
iptables -w -A INPUT -p tcp --dport 8080 -j DROP
ip6tables -w -A INPUT -p tcp --dport 8080 -j DROP
nft add table inet filter
nft add chain inet filter input '{ type filter hook input priority 0; policy accept; }'
nft add rule inet filter input tcp dport 8443 counter accept
"""


def fail_lines(ip: str, count: int = 6) -> str:
    now = time.time() - 60
    return "".join(
        f"{datetime.fromtimestamp(now + i, timezone.utc).isoformat()} mx1 postfix/submission/smtpd[588]: "
        f"warning: unknown[{ip}]: SASL LOGIN authentication failed: (reason unavailable), "
        f"sasl_username=alice@example.com\n"
        for i in range(count)
    )


@pytest.fixture
def home(netns_tools, nft_tools, tmp_path):
    """A log of one attack; ``home(**keys)`` writes a new config file (one state dir for all) and names it."""
    log = tmp_path / "mail.log"
    log.write_text(fail_lines("203.0.113.5"))

    def config(**keys) -> str:
        path = tmp_path / f"config-{len(list(tmp_path.glob('config-*.json')))}.json"
        values = {"logs": [str(log)], "state_dir": str(tmp_path / "state"), "syslog": False, **keys}
        path.write_text(json.dumps(values))
        return str(path)

    config.log = log  # type: ignore[attr-defined]
    return config


def run_in_netns(steps: list, setup: str = "") -> list[dict]:
    """Run ``setup`` (shell) then the steps (argv lists, or ["dump"]) in one fresh network namespace."""
    script = f'set -e\n{setup}\nexec {sys.executable} -c "$DRIVER" "$STEPS" "$DUMPS"\n'
    env = {
        "DRIVER": DRIVER,
        "STEPS": json.dumps(steps),
        "DUMPS": json.dumps(DUMPS),
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    }
    proc = subprocess.run(
        ["unshare", "--net", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def cmd(config: str, *args: str) -> list[str]:
    return [CLI, *args, "--config", config]


def test_monitor_mode_changes_nothing_then_enforce_applies_the_remembered_bans(home):
    monitor = home(mode="monitor")
    steps = [
        ["dump"],
        cmd(monitor, "restore", "--json"),
        cmd(monitor, "scan", "--json"),
        cmd(monitor, "ban", "198.51.100.0/24", "--json"),
        cmd(monitor, "unban", "198.51.100.0/24", "--json"),
        cmd(monitor, "restore"),
        cmd(monitor, "status", "--json"),
        ["dump"],
    ]
    out = run_in_netns(steps, FOREIGN)
    assert all(step["rc"] == 0 for step in out[1:-1]), out
    assert out[0] == out[-1]  # iptables-save, ip6tables-save, ipset list -n, nft list ruleset: identical
    assert "mail_bruteforce_guard" not in out[0]["nft list ruleset"]
    assert json.loads(out[1]["stdout"])["firewall"]["hook"] == "monitor"
    assert out[5]["stdout"] == "monitor mode: firewall left unchanged, 1 bans kept for enforce mode\n"
    status = json.loads(out[6]["stdout"])
    assert status["firewall"]["hook"] == "monitor"
    assert [(b["address"], b["enforced"]) for b in status["bans"]] == [("203.0.113.5", False)]

    # The same state, now in enforce mode: the first restore applies what monitor mode decided.
    for backend, listing in (
        ("iptables", ["ipset", "list", "mbg_ban_v4"]),
        ("nftables", ["nft", "list", "ruleset"]),
    ):
        enforce = home(mode="enforce", firewall_backend=backend)
        out = run_in_netns(
            [cmd(monitor, "scan"), cmd(enforce, "restore", "--json"), listing, ["dump"]], FOREIGN
        )
        restored = json.loads(out[1]["stdout"])
        assert restored["restored"] == 1 and restored["firewall"] == {"backend": backend, "hook": "attached"}
        assert "203.0.113.5" in out[2]["stdout"]
        if backend == "iptables":
            saved = out[3]["iptables-save"]
            assert saved.index("-A INPUT -j MBG-BAN") < saved.index("-j f2b-postfix")


def test_first_enforce_scan_after_monitor_applies_the_bans_and_attaches_the_hook(home):
    monitor = home(mode="monitor")
    out = run_in_netns([cmd(monitor, "scan")])
    assert out[0]["rc"] == 0
    enforce = home(mode="enforce", firewall_backend="nftables")
    out = run_in_netns([cmd(monitor, "scan"), cmd(enforce, "scan"), cmd(enforce, "status", "--json")])
    status = json.loads(out[2]["stdout"])
    assert status["firewall"]["backend"] == "nftables" and status["firewall"]["hook"] == "attached"
    assert [(b["address"], b["enforced"]) for b in status["bans"]] == [("203.0.113.5", True)]


@pytest.mark.parametrize(
    ("backend", "damage"),
    [
        ("iptables", "iptables -w -D INPUT -j MBG-BAN"),  # ufw reload
        ("iptables", "iptables -w -F; iptables -w -X; ip6tables -w -F; ip6tables -w -X"),  # rules file reload
        ("nftables", "nft flush ruleset"),  # nftables.service reload
        ("nftables", "nft delete chain inet mail_bruteforce_guard input"),
    ],
)
def test_a_scan_re_attaches_a_removed_hook(home, backend, damage):
    config = home(firewall_backend=backend)
    quiet = f"{home.log}.quiet"
    Path(quiet).write_text("")
    scan = [CLI, "scan", "--config", config, "--log", quiet]
    steps = [
        cmd(config, "restore"),
        scan,  # hook intact: the check only
        scan,
        ["sh", "-c", damage],
        cmd(config, "status", "--json"),
        scan,
        cmd(config, "status", "--json"),
    ]
    out = run_in_netns(steps)
    assert all(step["rc"] == 0 for step in out), out
    assert json.loads(out[4]["stdout"])["firewall"]["hook"] == "missing"
    after = json.loads(out[6]["stdout"])["firewall"]
    assert after["hook"] == "attached"
    print(
        f"{backend}: scan with the hook check {min(out[1]['seconds'], out[2]['seconds']):.3f}s",
        file=sys.stderr,
    )


def test_firewall_remove_leaves_nothing_and_is_idempotent(home, tmp_path):
    nft_config = home(firewall_backend="nftables", state_dir=str(tmp_path / "other-state"))  # both at once
    ipt = home(firewall_backend="iptables", ipset_v4="custom_v4", ipset_v6="custom_v6")
    steps = [
        ["dump"],
        cmd(nft_config, "restore"),
        cmd(ipt, "restore"),
        cmd(ipt, "firewall-remove", "--json"),
        cmd(ipt, "firewall-remove", "--json"),
        cmd(ipt, "firewall-remove"),
        ["dump"],
        cmd(ipt, "status", "--json"),
    ]
    out = run_in_netns(steps, FOREIGN)
    assert [step["rc"] for step in out[1:6]] == [0] * 5, out
    first, second = json.loads(out[3]["stdout"]), json.loads(out[4]["stdout"])
    assert first["changed"] and "removed nftables table inet mail_bruteforce_guard" in first["removed"]
    assert "destroyed ipset custom_v4" in first["removed"]
    assert second == {"changed": False, "removed": []}
    assert out[5]["stdout"] == "nothing of ours to remove\n"
    assert out[6] == out[0]  # byte-identical to before we came
    status = json.loads(out[7]["stdout"])
    assert status["firewall"]["hook"] == "missing"
    assert all(not b["enforced"] for b in status["bans"])  # a later enforce restore re-applies them


def test_status_reports_other_firewall_tools(home):
    config = home()
    setup = "iptables -w -N f2b-sshd\niptables -w -N ufw-user-input\niptables -w -N DOCKER\n"
    out = run_in_netns([cmd(config, "status", "--json")], setup)
    tools = {t["name"]: t for t in json.loads(out[0]["stdout"])["firewall"]["tools"]}
    assert tools["fail2ban"]["active"] and "f2b-sshd" in tools["fail2ban"]["detail"]
    assert tools["ufw"]["active"] and "ufw-user-input" in tools["ufw"]["detail"]
    assert tools["docker"]["active"]


@pytest.mark.parametrize("backend", ["iptables", "nftables"])
def test_turning_the_hook_off_detaches_it_and_keeps_the_bans(home, backend):
    on = home(firewall_backend=backend)
    off = home(firewall_backend=backend, ban_hook=False)
    out = run_in_netns(
        [
            cmd(on, "scan"),
            cmd(off, "restore", "--json"),
            ["iptables-save"],
            ["nft", "list", "ruleset"],
            ["ipset", "list", "-n"],
            cmd(off, "status", "--json"),
            cmd(off, "restore", "--json"),
        ]
    )
    assert all(step["rc"] == 0 for step in out), out
    assert any(m.startswith("hook detached: ") for m in json.loads(out[1]["stdout"])["messages"])
    assert "MBG-BAN" not in out[2]["stdout"]
    assert "chain input" not in out[3]["stdout"]
    assert "set syn_v4" not in out[3]["stdout"]  # the meters go with the chain
    if backend == "iptables":
        assert out[4]["stdout"].split() == ["mbg_ban_v4", "mbg_ban_v6"]
    else:
        assert "203.0.113.5" in out[3]["stdout"]  # the set and its entry stay
    assert json.loads(out[5]["stdout"])["firewall"]["hook"] == "off"
    assert json.loads(out[6]["stdout"])["messages"] == []  # nothing left to detach


def test_firewall_remove_after_uninstall_recreates_no_state_directory(home, tmp_path):
    gone = tmp_path / "uninstalled-state"
    config = home(firewall_backend="nftables", state_dir=str(gone))
    out = run_in_netns([cmd(config, "firewall-remove", "--json")], "nft add table inet mail_bruteforce_guard")
    assert out[0]["rc"] == 0, out
    assert json.loads(out[0]["stdout"])["removed"] == ["removed nftables table inet mail_bruteforce_guard"]
    assert not gone.exists()


def test_switching_backends_takes_down_the_old_hook_and_moves_the_bans(home):
    ipt = home(firewall_backend="iptables")
    nft = home(firewall_backend="nftables")
    out = run_in_netns(
        [
            cmd(ipt, "scan"),
            cmd(nft, "restore", "--json"),
            ["iptables-save"],
            ["ipset", "list", "-n"],
            ["nft", "list", "ruleset"],
        ]
    )
    assert all(step["rc"] == 0 for step in out), out
    messages = json.loads(out[1]["stdout"])["messages"]
    assert "destroyed ipset mbg_ban_v4" in messages
    assert any(m.startswith("hook detached: iptables chain MBG-BAN") for m in messages)
    assert "MBG-BAN" not in out[2]["stdout"] and out[3]["stdout"] == ""
    assert "203.0.113.5" in out[4]["stdout"] and "chain input" in out[4]["stdout"]


# A scan keeps the firewall in line with the state (the source of truth) when something outside changed it:
# a reload that took our sets/table with the hook (``nft flush ruleset`` by nftables.service, an ipset
# clean-up by netfilter-persistent) must not leave the hook re-attached around empty sets, and a backend that
# ``auto`` now resolves differently (firewalld started) must not leave the old backend's hook dropping
# addresses that ``unban`` then cannot lift.

ATTACKER = "203.0.113.5"  # the address of the log written by the ``home`` fixture


def quiet_scan(config: str, quiet: str) -> list[str]:
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
        [
            cmd(config, "scan"),
            listing,
            ["sh", "-c", damage],
            quiet_scan(config, quiet),
            listing,
            cmd(config, "status", "--json"),
        ]
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
            quiet_scan(nft, quiet),
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


def test_unban_in_monitor_mode_says_the_firewall_still_holds_an_enforce_mode_ban(home):
    """Back in monitor mode after enforcing: unban leaves the firewall as it is (monitor changes nothing)
    but must not let the admin believe the address is let in again."""
    enforce = home(firewall_backend="nftables")
    monitor = home(firewall_backend="nftables", mode="monitor")
    out = run_in_netns(
        [cmd(enforce, "scan"), ["dump"], cmd(monitor, "unban", "203.0.113.5", "--json"), ["dump"]]
    )
    assert out[0]["rc"] == 0 and out[2]["rc"] == 0, out
    ticking = re.compile(r" expires \S+")  # the entries' countdown

    def firewall(dump: dict) -> dict:
        return {name: ticking.sub("", text) for name, text in dump.items()}

    assert firewall(out[1]) == firewall(out[3])  # nothing changed in the firewall
    assert "203.0.113.5" in out[3]["nft list ruleset"]
    assert "monitor mode leaves the firewall unchanged: 203.0.113.5 is still banned there" in out[2]["stderr"]


def test_nested_prefix_bans_keep_their_own_time_through_the_cli_and_firewall_remove_takes_them(home):
    """nftables: a /24 banned for 20 days inside a /16 banned for an hour; unbanning the /16 keeps the /24
    in the firewall and in ``status --json``; ``firewall-remove`` takes the prefix sets with the table and
    leaves the host's own ruleset as it was."""
    config = home(firewall_backend="nftables")
    out = run_in_netns(
        [
            ["dump"],
            cmd(config, "ban", "198.51.0.0/16", "--duration", "3600"),
            cmd(config, "ban", "198.51.100.0/24", "--duration", str(20 * 86400)),
            cmd(config, "unban", "198.51.0.0/16", "--json"),
            cmd(config, "status", "--json"),
            ["nft", "list", "table", "inet", "mail_bruteforce_guard"],
            cmd(config, "firewall-remove", "--json"),
            ["dump"],
        ],
        FOREIGN,
    )
    assert [step["rc"] for step in out[1:7]] == [0] * 6, out
    status = json.loads(out[4]["stdout"])
    bans = {b["address"]: b for b in status["bans"]}
    assert set(bans) == {"198.51.100.0/24"} and bans["198.51.100.0/24"]["enforced"]
    table = out[5]["stdout"]
    assert "set ban_v4_p24 {" in table and "198.51.100.0 timeout 20d" in table
    assert "set ban_v4_p16 {" not in table  # unbanned: its emptied set went with its rule
    assert "ip saddr & 255.255.255.0 == @ban_v4_p24 drop" in table
    assert json.loads(out[6]["stdout"])["removed"] == ["removed nftables table inet mail_bruteforce_guard"]
    assert out[7] == out[0]  # nothing of ours left, the foreign rules byte-identical
