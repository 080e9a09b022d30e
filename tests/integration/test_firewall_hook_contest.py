"""A tool that re-inserts its own ACCEPTING jump at INPUT 1 at every refresh (Calico felix, an admin's script)
against the real CLI, iptables and ip6tables in a throwaway network namespace: the scans move our jump back at
most 3 times in a row, then leave INPUT alone, say ``hook contested`` once, and ``status``/``status --check``
report it; the tool going away clears the contest; fail2ban-style drop-only jumps never count; a chain in
``hook_trusted_chains`` is never contested."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest
from mail_bruteforce_guard.firewall.enforce import Enforcer
from mail_bruteforce_guard.firewall.ipset import IpsetBackend
from test_firewall_cli import cmd, run_in_netns

CONTESTED = "hook contested: "

# A felix-like refresher: its chain accepts the mail port; its jump goes (back) to INPUT 1 whenever it is not
# there already (delete + insert, as felix's refresh does).
SETUP = r"""
iptables -w -N cali-INPUT
iptables -w -A cali-INPUT -p tcp --dport 587 -j ACCEPT
ip6tables -w -N odd-chain
ip6tables -w -A odd-chain -p tcp --dport 993 -j ACCEPT
iptables -w -N f2b-postfix
iptables -w -A f2b-postfix -s 198.51.100.99 -j REJECT
iptables -w -A f2b-postfix -j RETURN
"""
FELIX_V4 = (
    'if [ "$(iptables -w -S INPUT | sed -n 2p)" != "-A INPUT -j cali-INPUT" ]; then'
    " iptables -w -D INPUT -j cali-INPUT 2>/dev/null; iptables -w -I INPUT 1 -j cali-INPUT; fi"
)
# an admin's script on IPv6 only, with a comment full of odd characters
ODD = "quote\" 'single' $(x) \\back é; -j ACCEPT"
FELIX_V6 = (
    'ip6tables -w -D INPUT -j odd-chain -m comment --comment "$ODD" 2>/dev/null;'
    ' ip6tables -w -I INPUT 1 -j odd-chain -m comment --comment "$ODD"'
)
F2B = "iptables -w -D INPUT -p tcp -m multiport --dports 25,587 -j f2b-postfix 2>/dev/null;" + (
    " iptables -w -I INPUT 1 -p tcp -m multiport --dports 25,587 -j f2b-postfix"
)


def sh(script: str) -> list[str]:
    return ["sh", "-c", f"ODD={shlex.quote(ODD)}; {script}"]


@pytest.fixture
def home(netns_tools, tmp_path):
    """``home(**keys)`` writes a config file (one state directory for all) and names it; its log is empty."""
    log = tmp_path / "mail.log"
    log.write_text("")

    def config(**keys) -> str:
        path = tmp_path / f"config-{len(list(tmp_path.glob('config-*.json')))}.json"
        values = {"logs": [str(log)], "state_dir": str(tmp_path / "state"), "syslog": False, **keys}
        path.write_text(json.dumps(values))
        return str(path)

    return config


def rounds(config: str, refresh: str, count: int) -> list:
    """``count`` times: the other tool refreshes, INPUT is listed, a scan runs, INPUT is listed again."""
    steps: list = []
    for _round in range(count):
        steps += [
            sh(refresh),
            ["sh", "-c", "iptables -w -S INPUT; ip6tables -w -S INPUT"],
            cmd(config, "scan"),
            ["sh", "-c", "iptables -w -S INPUT; ip6tables -w -S INPUT"],
        ]
    return steps


def test_a_felix_like_tool_is_fought_three_times_then_left_alone_and_reported(home):
    config = home(firewall_backend="iptables", notify=[{"type": "exec", "command": ["/bin/true"]}])
    state_dir = Path(json.loads(Path(config).read_text())["state_dir"])
    steps = [cmd(config, "restore"), *rounds(config, FELIX_V4, 6)]
    steps += [
        cmd(config, "status", "--json"),
        cmd(config, "status", "--check"),
        ["cat", str(state_dir / "state.json")],
        ["iptables", "-w", "-D", "INPUT", "-j", "cali-INPUT"],  # the tool goes away
        cmd(config, "scan"),
        cmd(config, "status", "--json"),
        cmd(config, "status", "--check"),
        *rounds(config, FELIX_V4, 1),  # ... and comes back: a new contest, moved again
    ]
    out = run_in_netns(steps, SETUP)
    assert out[0]["rc"] == 0, out[0]
    scans = [out[1 + 4 * i : 5 + 4 * i] for i in range(6)]
    moved = [r[1]["stdout"] != r[3]["stdout"] for r in scans]
    assert moved == [True, True, True, False, False, False], [r[3]["stdout"] for r in scans]
    for r in scans:
        assert r[2]["rc"] == 0, r[2]
    for r in scans[:3]:
        assert r[3]["stdout"].splitlines()[1] == "-A INPUT -j MBG-BAN"
    for r in scans[3:]:
        assert r[3]["stdout"] == r[1]["stdout"]  # INPUT untouched while the contest is held
        assert r[3]["stdout"].splitlines()[1:3] == ["-A INPUT -j cali-INPUT", "-A INPUT -j MBG-BAN"]
    errors = [line for r in scans for line in r[2]["stderr"].splitlines() if CONTESTED in line]
    assert len(errors) == 1, [r[2]["stderr"] for r in scans]
    assert CONTESTED in scans[3][2]["stderr"]
    assert "iptables (IPv4) rule '-A INPUT -j cali-INPUT'" in errors[0]
    assert "hook_trusted_chains" in errors[0]
    status, check, state = out[25:28]
    fw = json.loads(status["stdout"])["firewall"]
    assert fw["hook"] == "contested"
    assert fw["contested"] == [{"family": "IPv4", "rule": "-A INPUT -j cali-INPUT", "moves": 3}]
    assert check["rc"] == 1 and "FAIL: ban hook contested (iptables, IPv4)" in check["stdout"], check
    saved = json.loads(state["stdout"])["hook_contest"]
    assert saved == {"4": {"rule": "-A INPUT -j cali-INPUT", "moves": 3, "held": True}}
    # the tool went away: the next scan finds the hook in place and clears the contest
    assert out[29]["rc"] == 0 and CONTESTED not in out[29]["stderr"]
    assert json.loads(out[30]["stdout"])["firewall"]["hook"] == "attached"
    assert out[31]["rc"] == 0, out[31]
    back = out[32:36]
    assert back[3]["stdout"].splitlines()[1] == "-A INPUT -j MBG-BAN", "normal repair did not resume"
    queued = json.loads((state_dir / "notify-outbox.json").read_text())["queue"]
    failures = [q["alert"] for q in queued if q["alert"]["event"] == "failure"]
    assert len(failures) == 1 and failures[0]["component"] == "backend", queued
    assert "hook contested: iptables (IPv4)" in failures[0]["summary"]


def test_families_are_contested_separately_and_odd_rule_texts_keep_their_identity(home):
    """IPv6 only, through a rule whose comment holds quotes, a $( ), a backslash and a non-ASCII letter;
    then IPv4 too: each family's contest is counted and reported on its own."""
    config = home(firewall_backend="iptables")
    steps = [cmd(config, "restore"), *rounds(config, FELIX_V6, 4), cmd(config, "status", "--json")]
    steps += [*rounds(config, FELIX_V6 + "; " + FELIX_V4, 4), cmd(config, "status", "--json")]
    steps += [cmd(config, "status", "--check"), cmd(config, "status")]
    out = run_in_netns(steps, SETUP)
    assert all(step["rc"] == 0 for step in out[:-2]), out
    first = [out[1 + 4 * i : 5 + 4 * i] for i in range(4)]
    assert [r[1]["stdout"] != r[3]["stdout"] for r in first] == [True, True, True, False]
    v6 = json.loads(out[17]["stdout"])["firewall"]
    assert v6["hook"] == "contested"
    [item] = v6["contested"]
    assert item["family"] == "IPv6" and item["rule"].startswith("-A INPUT -m comment --comment")
    assert "odd-chain" in item["rule"]
    second = [out[18 + 4 * i : 22 + 4 * i] for i in range(4)]
    # IPv4 moves 3 times, then is held too; IPv6 stays held (its rule never changed)
    v4_moved = [
        r[1]["stdout"].split("\n-P INPUT")[0] != r[3]["stdout"].split("\n-P INPUT")[0] for r in second
    ]
    assert v4_moved == [True, True, True, False]
    errors = [line for r in first + second for line in r[2]["stderr"].splitlines() if CONTESTED in line]
    assert len(errors) == 2 and "(IPv6)" in errors[0] and "(IPv4)" in errors[1], errors
    both = json.loads(out[34]["stdout"])["firewall"]
    assert [c["family"] for c in both["contested"]] == ["IPv4", "IPv6"]
    assert out[35]["rc"] == 1 and out[35]["stdout"].count("FAIL: ban hook contested") == 2
    text = out[36]["stdout"]
    assert "hook contested;" in text and "hook contested (IPv4): rule '-A INPUT -j cali-INPUT'" in text
    assert "hook contested (IPv6): rule '-A INPUT -m comment" in text


def test_drop_only_jumps_above_never_count_and_a_trusted_chain_is_never_contested(home):
    plain = home(firewall_backend="iptables")
    steps = [cmd(plain, "restore"), *rounds(plain, F2B, 4), cmd(plain, "status", "--json")]
    out = run_in_netns(steps, SETUP)
    scans = [out[1 + 4 * i : 5 + 4 * i] for i in range(4)]
    assert all(r[3]["stdout"] == r[1]["stdout"] for r in scans), "a drop-only jump moved our jump"
    assert json.loads(out[17]["stdout"])["firewall"]["hook"] == "attached"

    trusting = home(firewall_backend="iptables", hook_trusted_chains=["cali-INPUT"])
    steps = [
        cmd(trusting, "restore"),
        *rounds(trusting, FELIX_V4, 4),
        cmd(trusting, "status", "--check"),
    ]
    out = run_in_netns(steps, SETUP)
    scans = [out[1 + 4 * i : 5 + 4 * i] for i in range(4)]
    assert all(r[3]["stdout"] == r[1]["stdout"] for r in scans), "a trusted chain's jump moved ours"
    assert not any(CONTESTED in r[2]["stderr"] for r in scans)
    assert out[17]["rc"] == 0, out[17]
    print(f"contest scans: {max(r[2]['seconds'] for r in scans):.3f}s at most", file=sys.stderr)


def test_a_comment_with_line_breaks_neither_fakes_our_jump_nor_escapes_the_count(netns):
    """iptables takes a line break in a comment and ``iptables -S`` prints it raw: a rule whose comment holds
    ``<newline>-A INPUT -j MBG-BAN<newline>`` must not read as our jump, and its text keeps one identity."""
    enf = Enforcer(IpsetBackend(command=netns.ipset), use_syslog=False)
    enf.attach()
    netns.run("iptables", "-w", "-N", "cali-INPUT")
    netns.run("iptables", "-w", "-A", "cali-INPUT", "-j", "ACCEPT")
    forged = ["-m", "comment", "--comment", "a\n-A INPUT -j MBG-BAN\nb", "-j", "cali-INPUT"]
    netns.run("iptables", "-w", "-D", "INPUT", "-j", "MBG-BAN")
    netns.run("iptables", "-w", "-I", "INPUT", "1", *forged)
    assert "\n-A INPUT -j MBG-BAN\n" in netns.run("iptables", "-w", "-S", "INPUT").stdout  # the fake line
    assert enf.backend.hook_state() == "missing"
    contests: dict = {}
    assert "jump from INPUT was missing" in enf.attach(again=True, contests=contests)[0]
    said = []
    for _round in range(5):
        netns.run("iptables", "-w", "-D", "INPUT", *forged)
        netns.run("iptables", "-w", "-I", "INPUT", "1", *forged)
        said += enf.attach(again=True, contests=contests)
    assert [line.split(":")[0] for line in said] == ["hook re-attached"] * 3 + ["hook contested"]
    assert contests[4].rule == '-A INPUT -m comment --comment "a -A INPUT -j MBG-BAN b" -j cali-INPUT'
    assert enf.backend.hook_state(contests) == "contested"
    assert enf.backend.hook_state() == "missing"
