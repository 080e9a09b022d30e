"""The contest over INPUT position 1: the counter's decisions, a rule's identity, the state record's
validation (a forged or damaged record never crashes anything and only restarts the count), trusted chains,
and the health reason."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mail_bruteforce_guard.detector.health import problems
from mail_bruteforce_guard.detector.state import StateDir
from mail_bruteforce_guard.errors import ConfigError
from mail_bruteforce_guard.firewall.contest import (
    MAX_MOVES,
    MAX_RULE,
    Contest,
    Decision,
    entry_ok,
    error_line,
    from_state,
    judge,
    normalise,
    to_state,
)
from mail_bruteforce_guard.firewall.hook import HookSpec
from mail_bruteforce_guard.firewall.iptables import CHAIN, IptablesHook, parse_view, rule_lines
from mail_bruteforce_guard.schema import BY_NAME, problem

FELIX = "-A INPUT -j cali-INPUT"


def test_three_moves_in_a_row_above_the_same_rule_then_hold_reported_once():
    previous = None
    seen: list[Decision] = []
    for _scan in range(6):
        seen.append(judge(previous, FELIX))
        previous = seen[-1].contest
    assert [d.move for d in seen] == [True, True, True, False, False, False]
    assert [d.contest.moves for d in seen] == [1, 2, 3, 3, 3, 3]
    assert [d.contest.held for d in seen] == [False, False, False, True, True, True]
    assert MAX_MOVES == 3


def test_the_count_restarts_when_the_rule_changes_or_the_hook_is_in_place():
    held = Contest(FELIX, MAX_MOVES, held=True)
    assert judge(held, "-A INPUT -j other") == Decision(Contest("-A INPUT -j other", 1), move=True)
    assert judge(held, "") == Decision(None, move=False)  # in place (or missing: a plain repair)
    assert judge(Contest(FELIX, 2), "") == Decision(None, move=False)
    assert judge(None, FELIX) == Decision(Contest(FELIX, 1), move=True)


def test_a_rule_keeps_its_identity_whatever_its_text_holds():
    assert normalise("-A INPUT  -j\tX ") == "-A INPUT -j X"
    assert normalise('-A INPUT -m comment --comment "a\x1bb\x00" -j X') == (
        '-A INPUT -m comment --comment "a?b?" -j X'
    )
    long_a, long_b = "-A INPUT " + "a" * 2000, "-A INPUT " + "a" * 1999 + "b"
    assert len(normalise(long_a)) == MAX_RULE
    assert normalise(long_a) != normalise(long_b)  # cut, but told apart by the digest of the whole


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_rule_text_normalises_to_a_sound_saved_record(text):
    rule = normalise(text)
    assert normalise(rule) == rule and len(rule) <= MAX_RULE
    if rule:
        record = to_state({4: Contest(rule, 2)})
        assert json.loads(json.dumps(record)) == record
        assert from_state(record) == {4: Contest(rule, 2)}
        assert error_line(4, Contest(rule, 3, True)).count("\n") == 0


@pytest.mark.parametrize(
    ("key", "entry"),
    [
        ("4", {"rule": FELIX, "moves": 10**9, "held": True}),  # forged beyond the limit
        ("4", {"rule": FELIX, "moves": -1}),
        ("4", {"rule": FELIX, "moves": 0}),
        ("4", {"rule": FELIX, "moves": True}),
        ("4", {"rule": FELIX, "moves": "3"}),
        ("4", {"rule": FELIX, "moves": 2, "held": True}),  # held before all moves were made
        ("4", {"rule": FELIX, "moves": 3, "held": "yes"}),
        ("4", {"rule": "", "moves": 1}),
        ("4", {"rule": "a\nb", "moves": 1}),  # not a normalised text
        ("4", {"rule": ["x"], "moves": 1}),
        ("5", {"rule": FELIX, "moves": 1}),
        ("4", [FELIX, 1]),
        ("4", None),
    ],
)
def test_a_forged_or_damaged_record_is_refused(key, entry):
    assert not entry_ok(key, entry)
    assert from_state({key: entry}) == {}


def test_damaged_records_in_the_state_file_are_set_aside_and_the_rest_kept(tmp_path):
    good = {"rule": FELIX, "moves": 3, "held": True}
    state = {"version": 1, "bans": {}, "hook": "iptables", "hook_contest": {"4": good, "6": {"moves": 99}}}
    (tmp_path / "state.json").write_text(json.dumps(state))
    warnings: list[str] = []
    loaded = StateDir(str(tmp_path), warnings.append).load()
    assert loaded["hook_contest"] == {"4": good}
    assert "hook_contest: 1" in warnings[0]
    (tmp_path / "state.json").write_text(json.dumps({**state, "hook_contest": "garbage"}))
    assert StateDir(str(tmp_path), warnings.append).load()["hook_contest"] == {}
    assert from_state("garbage") == {} and from_state(None) == {}


def listing(*input_rules: str) -> str:
    tag = "t"
    lines = ["-P INPUT ACCEPT", f"-N {CHAIN}", "-N cali-INPUT", "-A cali-INPUT -p tcp --dport 587 -j ACCEPT"]
    lines += [f'-A {CHAIN} -m comment --comment "mbg-ban {tag}" -j DROP']
    lines += list(input_rules)
    return "\n".join(lines) + "\n"


def test_a_trusted_chain_never_shadows_our_jump_and_others_still_do():
    text = listing(FELIX, "-A INPUT -p tcp --dport 25 -j ACCEPT", f"-A INPUT -j {CHAIN}")
    assert parse_view(text, "t", 1).shadow == FELIX
    assert parse_view(text, "t", 1, trusted={"cali-INPUT"}).shadow == "-A INPUT -p tcp --dport 25 -j ACCEPT"
    trusted_only = listing(FELIX, "-A INPUT -g cali-INPUT", f"-A INPUT -j {CHAIN}")
    assert parse_view(trusted_only, "t", 1, trusted={"cali-INPUT"}).in_place


def test_a_held_contest_leaves_input_alone_even_when_our_chain_is_rewritten():
    hook = IptablesHook(HookSpec(), {4: "s4", 6: "s6"})
    view = parse_view(listing(FELIX, f"-A INPUT -j {CHAIN}"), "other-tag", 1)
    assert not view.current and view.shadow == FELIX
    held = hook.repair_batch(4, view, keep_input=True)
    assert "INPUT" not in held and f":{CHAIN} - [0:0]" in held
    assert "-I INPUT 1 -j MBG-BAN" in hook.repair_batch(4, view)


@pytest.mark.parametrize(
    "value", [["ACCEPT"], ["INPUT"], ["MBG-BAN"], ["-j"], ["a b"], ["x" * 29], [""], "cali-INPUT", [1]]
)
def test_hook_trusted_chains_refuses_what_is_no_user_chain(value):
    assert problem(BY_NAME["hook_trusted_chains"], value) is not None
    from mail_bruteforce_guard.detector.config import Config

    with pytest.raises(ConfigError, match="hook_trusted_chains"):
        Config({"hook_trusted_chains": value})
    assert problem(BY_NAME["hook_trusted_chains"], ["cali-INPUT", "ufw-before-input", "KUBE.x:1+"]) is None


def test_status_check_names_each_contested_family(tmp_path):
    config = SimpleNamespace(
        state_dir=str(tmp_path), scan_interval_seconds=60, logs=[], mode="enforce", ban_hook=True
    )
    firewall = {
        "backend": "iptables",
        "hook": "contested",
        "contested": [{"family": "IPv4", "rule": FELIX, "moves": 3}, {"family": "IPv6", "rule": "r6"}],
    }
    found = [p for p in problems(config, firewall, now=0) if "contested" in p]
    assert len(found) == 2
    assert found[0].startswith("ban hook contested (iptables, IPv4): rule '-A INPUT -j cali-INPUT'")
    damaged = problems(config, {"backend": "iptables", "hook": "contested", "contested": None}, now=0)
    assert any(p.startswith("ban hook contested (iptables, ?)") for p in damaged)


def test_a_rule_whose_comment_holds_line_breaks_is_read_as_one_rule():
    text = (
        '-P INPUT ACCEPT\n-A INPUT -m comment --comment "a\n-A INPUT -j MBG-BAN\nb" -j cali-INPUT\n'
        '-A INPUT -m comment --comment "x\\\\" -j X\n-A INPUT -m comment --comment "q\\"q" -j X\n'
    )
    assert rule_lines(text) == [
        "-P INPUT ACCEPT",
        '-A INPUT -m comment --comment "a\n-A INPUT -j MBG-BAN\nb" -j cali-INPUT',
        '-A INPUT -m comment --comment "x\\\\" -j X',
        '-A INPUT -m comment --comment "q\\"q" -j X',
    ]
    assert (
        parse_view(listing('-A INPUT -m comment --comment "a\n-A INPUT -j MBG-BAN\nb" -j X'), "t", 1).jumps
        == ()
    )
    assert rule_lines('-A X -m comment --comment "open\n-A Y') == ['-A X -m comment --comment "open', "-A Y"]
