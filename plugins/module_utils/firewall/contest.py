"""A fight over INPUT position 1 (iptables ban hook only): another tool that re-inserts a rule that may
accept above our jump at every refresh (Calico felix, an admin's cron script) and our repair, which moves our
jump back above it, would move each other's rules for ever, once per scan (once a second with a follow
daemon).

Per IP family the state remembers the rule our jump was last moved above and how many times in a row
(``Contest``). After ``MAX_MOVES`` consecutive moves above the same rule the next repair leaves INPUT alone,
the contest is reported once (``held``), and status/health say ``contested`` until the rule goes away or
changes, or our jump is found in place again: then the record is dropped and normal repair resumes.

Imports nothing of the firewall layer: ``detector/statecheck`` validates the saved records with it."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

MAX_MOVES = 3  # consecutive moves above the same rule before the guard stops moving its jump
MAX_RULE = 512  # characters of a rule's text kept (longer ones: cut, plus a digest of the whole)
FAMILIES = {4: "IPv4", 6: "IPv6"}
TOOL = {4: "iptables", 6: "ip6tables"}
CONTESTED = "hook contested: "  # how the error line of a contest that has begun starts
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Contest(NamedTuple):
    """One family's contest: ``rule`` (normalised ``iptables -S`` text) our jump was moved above ``moves``
    times in a row; ``held``: the guard has stopped moving (and said so once)."""

    rule: str
    moves: int
    held: bool = False


class Decision(NamedTuple):
    """What one repair does about a rule above our jump that may accept."""

    contest: Contest | None  # the record to keep (None: no contest)
    move: bool  # move our jump back to INPUT 1


def normalise(rule: str) -> str:
    """A rule's identity: its ``iptables -S`` text with blanks folded, control characters shown as ``?``
    (a comment may hold anything) and, past ``MAX_RULE`` characters, cut with a digest of the whole."""
    text = _CONTROL.sub("?", " ".join(str(rule).split()))
    if len(text) <= MAX_RULE:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:12]
    return f"{text[: MAX_RULE - 17]}... #{digest}"


def judge(previous: Contest | None, shadow: str) -> Decision:
    """The repair of a jump that ``shadow`` (normalised; "" when none) sits above. No shadow: no contest
    (the jump is in place, or missing: a plain repair). A new or changed rule: move, first of a series.
    The same rule: move until ``MAX_MOVES`` moves were made, then hold (``Enforcer.attach`` reports a
    contest that turned held, once)."""
    if not shadow:
        return Decision(None, move=False)
    if previous is None or previous.rule != shadow:
        return Decision(Contest(shadow, 1), move=True)
    if previous.moves < MAX_MOVES:
        return Decision(Contest(shadow, previous.moves + 1), move=True)
    return Decision(Contest(shadow, MAX_MOVES, held=True), move=False)


def error_line(version: int, contest: Contest) -> str:
    """The one error line of a contest that has begun (syslog, scan warning, failure alert)."""
    return (
        f"{CONTESTED}{TOOL[version]} ({FAMILIES[version]}) rule {contest.rule!r} keeps taking INPUT"
        f" above our jump to MBG-BAN and may accept first (moved back {contest.moves} times in a row):"
        " stopped moving it; banned addresses may get through what that rule accepts. Make that tool insert"
        " its rule below ours (or its chain return/drop for banned sources), or list its chain in"
        " hook_trusted_chains (mail_bruteforce_guard_hook_trusted_chains) if its accepts are acceptable"
    )


# ---- the state file's record: {"4": {"rule": str, "moves": int, "held": bool}, "6": ...} -------------------


def entry_ok(key: Any, entry: Any) -> bool:
    """A saved record is sound: a known family, a rule text, a count of moves within bounds, and ``held``
    only with all moves made (a forged or damaged one is set aside, and counting starts again)."""
    if key not in ("4", "6") or not isinstance(entry, dict):
        return False
    rule, moves, held = entry.get("rule"), entry.get("moves"), entry.get("held", False)
    return (
        isinstance(rule, str)
        and rule != ""
        and rule == normalise(rule)
        and isinstance(moves, int)
        and not isinstance(moves, bool)
        and 1 <= moves <= MAX_MOVES
        and isinstance(held, bool)
        and (not held or moves == MAX_MOVES)
    )


def from_state(value: Any) -> dict[int, Contest]:
    """The contests of a (validated) state section; unsound entries are skipped."""
    if not isinstance(value, Mapping):
        return {}
    return {
        int(key): Contest(entry["rule"], entry["moves"], entry.get("held", False))
        for key, entry in value.items()
        if entry_ok(key, entry)
    }


def to_state(contests: Mapping[int, Contest]) -> dict[str, dict[str, Any]]:
    """The state section of ``contests``."""
    return {str(version): c._asdict() for version, c in sorted(contests.items())}
