"""The iptables side of the ban hook: our chain ``MBG-BAN`` in the filter table of iptables and ip6tables
(drop banned sources, matched with the ipsets, and the per-source SYN limits), and ONE jump to it in INPUT,
inserted at the top. Only MBG-BAN is ever rewritten; INPUT is only touched by inserting or deleting that jump.
Each repair is one ``iptables-restore --noflush`` transaction per family.

The jump need not stay first: it is *in place* when no INPUT rule above it can accept a packet before it
(``shadow``). Tools that only drop, reject or return (fail2ban's ``f2b-*`` chains, CrowdSec's bouncer) insert
their jumps at INPUT 1 whenever they start a jail; leaving ours below them costs nothing (their verdicts are
drops too) and never fights them for position 1. A rule above ours that may accept (ufw's
``ufw-before-input``, an ``-j ACCEPT``) would let a banned address through: then, and only then, our jump is
moved back to the top (once per scan, logged naming that rule), at most ``contest.MAX_MOVES`` times in a row
above the same rule: a tool that keeps re-inserting it at INPUT 1 is then left alone and the hook reported
``contested`` (see contest.py). Jumps to the admin's ``hook_trusted_chains`` never count as accepting."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Collection, Mapping, MutableMapping, Sequence
from typing import NamedTuple

from . import tools
from .base import FirewallError
from .contest import MAX_MOVES, Contest, judge, normalise
from .hook import LOOPBACK, HookSpec

CHAIN = "MBG-BAN"
OUR_CHAIN_PREFIX = "MBG-"
BUILTIN_CHAINS = ("INPUT", "FORWARD", "OUTPUT")
TOOLS = {4: ("iptables", "iptables-restore"), 6: ("ip6tables", "ip6tables-restore")}
_RUN_TIMEOUT = 60.0


# Targets that never accept: the verdicts that end in a drop, and the ones that only note or mark a packet and
# let it go on to the next rule. Anything else (ACCEPT, QUEUE/NFQUEUE, -g, an extension we do not know) may.
NEVER_ACCEPT = frozenset({"DROP", "REJECT", "LOG", "NFLOG", "ULOG", "AUDIT", "MARK", "CONNMARK", "SET"})
# a text whose quoted values are all closed (iptables -S escapes " and \\ inside them with a backslash)
_BALANCED = re.compile(r'(?:[^"]|"(?:[^"\\]|\\.)*")*', re.S)
_MAX_DEPTH = (
    16  # user chains calling user chains; deeper (or a loop, which iptables refuses anyway) may accept
)


class ChainView(NamedTuple):
    """What ``iptables -S`` shows of the hook in one family."""

    exists: bool  # MBG-BAN exists
    current: bool  # ... holding exactly the current spec's rules
    jumps: tuple[int, ...]  # INPUT positions (1-based) of rules jumping to MBG-BAN
    shadow: str = ""  # the first INPUT rule above our first jump that may accept a packet first ("": none)

    @property
    def in_place(self) -> bool:
        """One jump, and nothing above it can let a banned address through."""
        return len(self.jumps) == 1 and not self.shadow

    @property
    def intact(self) -> bool:
        """Nothing to repair: current rules, one jump in place."""
        return self.current and self.in_place


class IptablesHook:
    """The hook for both IP families; ``sets`` maps IP version -> ipset name the ban rule matches.

    ``prefix`` runs the tools elsewhere (tests: ``("ip", "netns", "exec", NS)``). ``trusted``: INPUT jump
    targets whose accepts the admin lets sit above our jump (``hook_trusted_chains``).
    """

    def __init__(
        self,
        spec: HookSpec,
        sets: Mapping[int, str],
        prefix: Sequence[str] = (),
        trusted: Collection[str] = (),
    ) -> None:
        self.spec = spec
        self.sets = dict(sets)
        self.prefix = tuple(prefix)
        self.trusted = frozenset(trusted)

    # -- pure builders ------------------------------------------------------------------------------

    def rules(self, version: int) -> list[str]:
        """The ``-A MBG-BAN ...`` lines of one family, in iptables-restore syntax."""
        spec, tag = self.spec, self.spec.tag
        where = "" if spec.scope == "all" else f"-p tcp -m multiport --dports {_ports(spec.mail_ports)} "
        lines = [
            f'-A {CHAIN} -i {LOOPBACK} -m comment --comment "mbg-lo {tag}" -j RETURN',  # see hook.py
            f"-A {CHAIN} {where}-m set --match-set {self.sets[version]} src"
            f' -m comment --comment "mbg-ban {tag}" -j DROP',
        ]
        for lim in spec.limits():
            lines.append(
                f"-A {CHAIN} -p tcp --syn -m multiport --dports {_ports(lim.ports)} -m hashlimit"
                f" --hashlimit-above {lim.rate}/minute --hashlimit-burst {lim.burst} --hashlimit-mode srcip"
                f" --hashlimit-name mbg_{lim.name}_v{version}"
                f" --hashlimit-htable-expire {lim.idle_seconds * 1000}"
                f' -m comment --comment "mbg-{lim.name} {tag}" -j DROP'
            )
        return lines

    def repair_batch(self, version: int, view: ChainView, keep_input: bool = False) -> str:
        """One iptables-restore --noflush transaction making the hook of ``version`` current (with
        ``keep_input``, a contest held: our chain only, INPUT is left as it is)."""
        lines = ["*filter"]
        if not view.current:
            lines.append(f":{CHAIN} - [0:0]")  # declared: created, or flushed when it exists
            lines += self.rules(version)
        if not view.in_place and not keep_input:
            lines += [f"-D INPUT -j {CHAIN}"] * len(view.jumps)  # ours only, wherever another tool put it
            lines.append(f"-I INPUT 1 -j {CHAIN}")
        lines.append("COMMIT")
        return "\n".join(lines) + "\n"

    # -- operations ---------------------------------------------------------------------------------

    def view(self, version: int) -> ChainView | None:
        """Read the filter table of one family (one ``iptables -S``); None for IPv6 on a kernel without it."""
        text = list_rules(version, self.prefix)
        if text is None:
            return None
        return parse_view(text, self.spec.tag, len(self.rules(version)), self.trusted)

    def attach(
        self,
        contests: MutableMapping[int, Contest] | None = None,
        prepare: Callable[[], list[str]] | None = None,
    ) -> list[str]:
        """Make both families current (one ``iptables -S`` each); one line per family that needed a repair.

        ``contests`` (the state's records, updated in place): a move of our jump above a rule that may
        accept is counted per family (``contest.judge``); once held, INPUT is left alone (our chain is still
        repaired). Without it every such jump is moved. ``prepare`` runs once before the first repair (the
        backend creates its sets there) and its lines come first."""
        done: list[str] = []
        prepared = prepare is None
        for version in (4, 6):
            view = self.view(version)
            if view is None:
                if contests is not None:
                    contests.pop(version, None)
                continue
            keep_input = False
            count = ""
            if contests is not None:
                decision = judge(contests.get(version), normalise(view.shadow) if view.shadow else "")
                if decision.contest is None:
                    contests.pop(version, None)
                else:
                    contests[version] = decision.contest
                    keep_input = not decision.move
                    count = f" (move {decision.contest.moves} of at most {MAX_MOVES} in a row)"
            if view.intact or (keep_input and view.current):
                continue
            if not prepared and prepare is not None:
                done += prepare()
                prepared = True
            self._restore(version, self.repair_batch(version, view, keep_input))
            position = view.jumps[0] if view.in_place or keep_input else 1
            why = _why(view._replace(shadow="")) if keep_input else _why(view) + count
            where = f"{TOOLS[version][0]} chain {CHAIN} at INPUT {position}"
            done.append(f"{where}: {why}; {self.spec.describe()}")
        return done

    def detach(self) -> list[str]:
        """Remove our jump(s) and chain MBG-BAN from both families (``ban_hook`` turned off)."""
        done = []
        for version in (4, 6):
            view = self.view(version)
            if view is None or (not view.exists and not view.jumps):
                continue
            lines = ["*filter", *[f"-D INPUT -j {CHAIN}"] * len(view.jumps)]
            if view.exists:
                lines += [f"-F {CHAIN}", f"-X {CHAIN}"]
            self._restore(version, "\n".join([*lines, "COMMIT"]) + "\n")
            done.append(f"{TOOLS[version][0]} chain {CHAIN} and its INPUT jump removed")
        return done

    def state(self, contests: Mapping[int, Contest] | None = None) -> str:
        """``attached`` when both families are current with their one jump in place (ChainView.in_place: not
        necessarily first); ``contested`` when a family's only fault is a held contest (``contests``, the
        state's records) that the firewall still shows; else ``missing``."""
        states = self.states(contests)
        for word in ("missing", "contested"):
            if word in states.values():
                return word
        return "attached"

    def states(self, contests: Mapping[int, Contest] | None = None) -> dict[int, str]:
        """Per family (absent IPv6 left out): ``attached``, ``contested`` or ``missing`` (see ``state``)."""
        out = {}
        for version in (4, 6):
            view = self.view(version)
            if view is None:
                continue
            held = (contests or {}).get(version)
            if view.intact:
                out[version] = "attached"
            elif held and held.held and view.current and view.shadow and normalise(view.shadow) == held.rule:
                out[version] = "contested"
            else:
                out[version] = "missing"
        return out

    # -- process plumbing ---------------------------------------------------------------------------

    def _restore(self, version: int, batch: str) -> None:
        tool = TOOLS[version][1]
        run_tool([*self.prefix, tool, "-w", "--noflush"], tool, batch)


class Variant(NamedTuple):
    """One iptables variant of one IP family: its listing and its restore command."""

    tool: str  # iptables, iptables-nft, iptables-legacy, ip6tables...
    restore: str
    legacy: bool  # x_tables: listing a table that is not loaded creates it


def variants(version: int, prefix: Sequence[str] = (), table: str = "filter") -> list[Variant]:
    """The iptables variants that may hold rules in ``table``: the nf_tables one, and the legacy one when
    its ``table`` is loaded (a host switched ``update-alternatives --set iptables`` after the hook
    was attached: the kernel runs both variants' rules). Without the ``-nft``/``-legacy`` names (distros
    without alternatives), the plain command. Never lists a legacy table that is not loaded (that would
    create it)."""
    base = TOOLS[version][0]
    found = []
    for suffix, legacy in (("-nft", False), ("-legacy", True)):
        tool = base + suffix
        if shutil.which(tool) is None or (legacy and table not in legacy_tables(version, prefix)):
            continue
        found.append(Variant(tool, f"{tool}-restore", legacy))
    if not any(shutil.which(base + suffix) for suffix in ("-nft", "-legacy")):
        found.append(Variant(base, TOOLS[version][1], False))
    return found


def legacy_tables(version: int, prefix: Sequence[str] = ()) -> set[str]:
    """The x_tables (legacy) tables loaded in the network namespace (read from /proc: creates nothing)."""
    path = "/proc/net/ip_tables_names" if version == 4 else "/proc/net/ip6_tables_names"
    try:
        proc = subprocess.run(
            [*prefix, "cat", path], capture_output=True, text=True, timeout=_RUN_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return set()
    return set(proc.stdout.split())


def list_rules(version: int, prefix: Sequence[str] = (), tool: str | None = None) -> str | None:
    """``iptables -S`` (filter table) of one family; None for IPv6 on a kernel without it (``ipv6.disable=1``:
    ip6tables cannot work there, and there is no IPv6 traffic to guard)."""
    tool = tool or TOOLS[version][0]
    try:
        return run_tool([*prefix, tool, "-w", "-S"], tool)
    except FirewallError as err:
        if version == 6 and "not supported" in str(err):
            return None
        raise


def _why(view: ChainView) -> str:
    """What a repair of ``view`` fixed, for the log line."""
    if not view.exists:
        return "chain was missing"
    if not view.current:
        moved = f"; {_why(view._replace(current=True))}" if view.shadow else ""
        return "rules were missing or outdated" + moved
    if not view.jumps:
        return "jump from INPUT was missing"
    if view.shadow:
        where = f"jump moved from INPUT position {view.jumps[0]} to 1"
        return f"{where}, above {view.shadow!r}, which may accept first"
    return f"{len(view.jumps)} jumps from INPUT replaced by one at 1"


def parse_view(text: str, tag: str, expected: int, trusted: Collection[str] = ()) -> ChainView:
    """The hook's part of ``iptables -S`` output (the whole filter table: the rules above our jump are judged
    through the chains they jump to; a jump or goto to a ``trusted`` target never shadows ours)."""
    listing = rule_lines(text)
    exists = f"-N {CHAIN}" in listing
    chains: dict[str, list[str]] = {}
    for line in listing:
        words = _words(line) if line.startswith(("-N ", "-A ")) else []
        if len(words) >= 2:
            rules = chains.setdefault(words[1], [])  # -N: declared, maybe empty (its end returns)
            if words[0] == "-A":
                rules.append(line)
    ours = chains.get(CHAIN, [])
    current = exists and len(ours) == expected and all(f' {tag}"' in r for r in ours)
    rules = chains.get("INPUT", [])
    jumps = tuple(n for n, line in enumerate(rules, start=1) if line == f"-A INPUT -j {CHAIN}")
    above = rules[: jumps[0] - 1] if jumps else []
    judged: dict[str, bool] = {}
    shadow = next(
        (
            rule
            for rule in above
            if not (trusted and _target(_words(rule))[1] in trusted) and may_accept(rule, chains, judged)
        ),
        "",
    )
    return ChainView(exists, current, jumps, shadow)


def may_accept(
    rule: str, chains: Mapping[str, Sequence[str]], judged: dict[str, bool] | None = None, depth: int = 0
) -> bool:
    """Whether an ``iptables -S`` rule can end a packet's way through its built-in chain with an accept (or
    hand it to something that may: a queue, a goto, an unknown target). A jump to a user chain may accept
    when any rule in that chain may; its RETURN (or its end) only goes back to the rule after the jump. In a
    built-in chain a RETURN applies the policy, which may be ACCEPT.

    ``judged`` keeps each user chain's verdict for one listing: a chain is read once however many rules
    jump to it (without it, ten chains of four jumps each cost 4**9 walks, every scan, under the state lock).
    """
    judged = {} if judged is None else judged
    words = _words(rule)
    flag, target = _target(words)
    if target is None:
        return False  # only counts or matches
    if flag == "-g":
        return True  # a goto's end returns past the calling chain: the policy decides
    # a user chain first: iptables-restore accepts a chain named like a target (":LOG"), and a jump then
    # enters that chain, whatever the name says
    if target in chains and target not in BUILTIN_CHAINS:
        return _chain_may_accept(target, chains, judged, depth + 1)
    if target in NEVER_ACCEPT:
        return False  # a verdict that is never an accept
    if target == "RETURN":
        return len(words) >= 2 and words[1] in BUILTIN_CHAINS
    return True


def _chain_may_accept(
    name: str, chains: Mapping[str, Sequence[str]], judged: dict[str, bool], depth: int
) -> bool:
    known = judged.get(name)
    if known is None:
        judged[name] = True  # while it is read: a way back into it (a loop, refused by iptables) may accept
        known = depth <= _MAX_DEPTH and any(may_accept(line, chains, judged, depth) for line in chains[name])
        judged[name] = known
    return known


def _target(words: list[str]) -> tuple[str | None, str | None]:
    """The target flag (``-j`` or ``-g``) and its value: the last such pair, as ``iptables -S`` prints the
    target after every match (an unquoted ``--comment -g`` before it is a match's value, not a goto)."""
    for i in range(len(words) - 2, -1, -1):
        if words[i] in ("-j", "-g"):
            return words[i], words[i + 1]
    return None, None


def purge_batch(text: str) -> str | None:
    """An iptables-restore --noflush transaction removing everything of ours from ``iptables -S`` output:
    rules in the built-in chains that jump to an ``MBG-*`` chain or carry an ``mbg`` comment, then every
    ``MBG-*`` chain. None when there is nothing of ours."""
    deletes: list[str] = []
    chains: list[str] = []
    for line in rule_lines(text):
        words = _words(line) if line.startswith(("-A ", "-N ")) and "\n" not in line else []  # never ours
        if len(words) >= 2 and words[0] == "-N" and words[1].startswith(OUR_CHAIN_PREFIX):
            chains.append(words[1])
        elif len(words) >= 2 and words[0] == "-A" and words[1] in BUILTIN_CHAINS and _is_ours(words):
            deletes.append("-D" + line[2:])
    if not deletes and not chains:
        return None
    lines = ["*filter", *deletes]
    lines += [f"-F {chain}" for chain in chains]
    lines += [f"-X {chain}" for chain in chains]
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def rule_lines(text: str) -> list[str]:
    """``iptables -S`` output as one string per rule. iptables takes a line break in a comment and prints
    it raw (escaping only ``"`` and ``\\`` inside the quotes): its continuation must not read as a rule of
    its own (``--comment "x<newline>-A INPUT -j MBG-BAN<newline>"`` would fake our jump). A line that ends
    inside a quoted value is joined with the next."""
    out: list[str] = []
    pending: list[str] = []
    for line in text.splitlines():
        if not pending and '"' not in line:  # most rules: no quoted value at all
            out.append(line)
            continue
        pending.append(line)
        if _BALANCED.fullmatch("\n".join(pending)):
            out.append("\n".join(pending))
            pending = []
    if pending:  # a quote left open to the end: keep the lines as they came
        out += pending
    return out


def _words(line: str) -> list[str]:
    """An ``iptables -S`` line split as the shell would (a comment with an odd quote: on blanks)."""
    try:
        return shlex.split(line)
    except ValueError:
        return line.split()


def _is_ours(words: list[str]) -> bool:
    for flag, value in zip(words, words[1:]):
        if flag in ("-j", "-g") and value.startswith(OUR_CHAIN_PREFIX):
            return True
        if flag == "--comment" and re.match(r"mbg\b|mbg-", value):
            return True
    return False


def run_tool(argv: list[str], tool: str, stdin: str | None = None) -> str:
    """Run an iptables tool (``tool``: its name in messages); FirewallError with its first output line on
    failure."""
    return tools.run_tool(
        argv, program=tool, label=tool, package="iptables", timeout=_RUN_TIMEOUT, stdin=stdin
    )


def _ports(ports: Sequence[int]) -> str:
    return ",".join(map(str, ports))
