"""The native nftables backend: ``table inet mail_bruteforce_guard`` holding the ban sets and, when the ban
hook is on, the base chain ``input`` (hook input, priority -10: before the usual filter chains at 0,
firewalld's and ufw's). Every change is ONE ``nft -f -`` transaction: all of it applies, or none of it.

Every ban set is a plain hash set with ``flags timeout`` (no interval set): single addresses in
``ban_v4``/``ban_v6``, prefixes in one set per prefix length in use, ``ban_v4_p24``, ``ban_v6_p64``..., each
element the network address, matched with the source masked to that length (``ip saddr & 255.255.255.0
@ban_v4_p24``) by a rule of the regular chain ``ban_nets``, which the hook jumps to. A prefix set, its rule
and its first element are created in one transaction; a prefix set that a listing just showed empty is
deleted with its rule the next time we write. Why not one interval set per family: an interval set holds no
overlapping entries, so a nested ban with a later end (10.0.5.0/24 for 30 days inside 10.0.0.0/16 for an hour)
could not keep its own timeout, and nft 1.0.6 needs seconds per change on a large interval set and deletes
from one quadratically. Here no two entries ever conflict, each keeps its own timeout (expiry is the
kernel's), and a lookup is one hash lookup per prefix length in use.
Re-adding an existing entry is written as delete + add (kernels before 6.x keep the old timeout on an add);
an entry is first touched (added with 1 s) so that its delete never fails: the sets are written without
listing them, unless a listing made just before says what they hold.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from .base import Ban, FirewallError, Target, ban_seconds, parse_ban_target, parse_target
from .hook import LOOPBACK, HookSpec, SynLimit
from .ipset import MAX_TIMEOUT as IPSET_MAX_TIMEOUT
from .tools import run_tool

FAMILY = "inet"
TABLE = "mail_bruteforce_guard"
CHAIN = "input"
NETS_CHAIN = "ban_nets"  # regular chain: one masked lookup per prefix set, reached by a jump from CHAIN
PRIORITY = -10
HOSTS = {4: "ban_v4", 6: "ban_v6"}  # single addresses: flags timeout
BAN_SETS = tuple(HOSTS.values())  # created with the table; the prefix sets come and go on demand
PREFIX_SET = re.compile(r"ban_v([46])_p(\d{1,3})")  # ban_v4_p24: the /24 networks, by network address
LEGACY_SETS = ("ban_v4_net", "ban_v6_net")  # the interval sets of the first layout: removed at the rewrite
# Bumped whenever the nftables layout changes (2: prefix sets per length, chain ban_nets); part of the tag, so
# an installed hook of an older layout is outdated for the cheap check and rewritten.
LAYOUT = 2
# The kernel takes longer timeouts, but one cap for both backends keeps their JSON and log lines the same.
MAX_TIMEOUT = IPSET_MAX_TIMEOUT
METER_SIZE = 65535
_CHUNK = 1000  # elements per add/delete statement (one transaction all the same)
_RUN_TIMEOUT = 120.0
_MISSING = re.compile(r"No such file or directory|does not exist")
_MAXLEN = {4: 32, 6: 128}


class Entry(NamedTuple):
    """One element of a ban set of ours: the set, the ban it holds as the state writes it (``203.0.113.5``,
    ``10.0.5.0/24``) and its seconds left (0: permanent)."""

    set: str
    text: str
    seconds: int


class Overview(NamedTuple):
    """Our table as two cheap listings show it (no set elements, no rules)."""

    sets: frozenset[str]  # our table's sets (empty: no table, or a table without sets)
    chain: bool  # the base chain exists
    current: bool  # ... on the input hook at our priority, commented with the current tag


class NftablesBackend:
    """Bans in ``table inet mail_bruteforce_guard``; ``hook`` (a HookSpec) is what ``attach`` installs.

    ``command`` is how nft is run (default ``("nft",)``; tests prefix it with ``ip netns exec NS``).
    """

    name = "nftables"
    max_timeout = MAX_TIMEOUT

    def __init__(self, hook: HookSpec | None = None, command: Sequence[str] = ("nft",)) -> None:
        self.hook = hook or HookSpec()
        self.command = tuple(command)
        # what the last list() saw, set -> texts: a hint for the add() or remove() right after it only (an
        # entry that appeared meanwhile is no error: adding an existing element changes nothing)
        self._held: dict[str, frozenset[str]] | None = None

    @property
    def tag(self) -> str:
        """The hook spec's tag and the LAYOUT, hashed: written into the chain's and every rule's comment."""
        return hashlib.sha256(f"{self.hook.tag} {LAYOUT}".encode()).hexdigest()[:10]

    # -- pure builders (unit-tested for their exact text) ------------------------------------------

    def table_lines(self) -> list[str]:
        """Create the table, the host sets and the chain ``ban_nets`` (``add`` leaves existing ones alone)."""
        lines = [f"add table {FAMILY} {TABLE}"]
        for version in (4, 6):
            lines.append(
                f"add set {FAMILY} {TABLE} {HOSTS[version]} {{ type {_addr_type(version)}; flags timeout; }}"
            )
        lines.append(f"add chain {FAMILY} {TABLE} {NETS_CHAIN}")
        return lines

    def hook_lines(self, existing: Overview) -> list[str]:
        """The whole hook in one transaction: table and sets, fresh meter sets, the base chain rewritten, the
        chain ``ban_nets`` rewritten for the prefix sets there are; the first layout's interval sets go."""
        spec, tag = self.hook, self.tag
        lines = self.table_lines()
        chain = f"{FAMILY} {TABLE} {CHAIN}"
        if existing.chain:  # rewritten whole: its comment says which spec it holds
            lines += [f"flush chain {chain}", f"delete chain {chain}"]
        meters = [(lim, version) for lim in spec.limits() for version in (4, 6)]
        for name in sorted(existing.sets):
            if re.fullmatch(r"(syn|smtp)_v[46]", name) or name in LEGACY_SETS:  # old meters: maybe outdated
                lines.append(f"delete set {FAMILY} {TABLE} {name}")
        lines += _nets_chain_lines(n for n in existing.sets if PREFIX_SET.fullmatch(n))
        for lim, version in meters:
            lines.append(
                f"add set {FAMILY} {TABLE} {_meter(lim, version)} {{ type {_addr_type(version)}; "
                f"size {METER_SIZE}; flags dynamic, timeout; timeout {lim.idle_seconds}s; }}"
            )
        lines.append(
            f"add chain {chain} {{ type filter hook input priority {PRIORITY}; policy accept;"
            f' comment "mbg-hook {tag}"; }}'
        )
        where = "" if spec.scope == "all" else f" tcp dport {_portset(spec.mail_ports)}"
        # loopback first (see hook.py): accept ends this chain only, later base chains still see the packet
        lines.append(f'add rule {chain} iif "{LOOPBACK}" accept comment "mbg-lo {tag}"')
        for version in (4, 6):
            lines.append(
                f'add rule {chain} {_saddr(version)} @{HOSTS[version]}{where} drop comment "mbg-ban {tag}"'
            )
        lines.append(f'add rule {chain}{where} jump {NETS_CHAIN} comment "mbg-nets {tag}"')
        for lim, version in meters:
            lines.append(
                f"add rule {chain} meta nfproto {_nfproto(version)} tcp dport {_portset(lim.ports)}"
                f" tcp flags & (fin|syn|rst|ack) == syn update @{_meter(lim, version)}"
                f" {{ {_saddr(version)} limit rate over {lim.rate}/minute burst {lim.burst} packets }} drop"
                f' comment "mbg-{lim.name} {tag}"'
            )
        return lines

    def rule_count(self) -> int:
        """Rules a current hook chain holds."""
        return 4 + 2 * len(self.hook.limits())  # loopback, 2 host sets, the jump, 2 families per limit

    def plan(
        self,
        bans: Iterable[Ban],
        now: float,
        sets: Iterable[str],
        held: Mapping[str, frozenset[str]] | None = None,
    ) -> list[str]:
        """The ONE transaction adding ``bans``, given the sets of our table there are (``sets``) and, when a
        listing was made just before, what they hold (``held``, set -> texts).

        An entry is written add (1 s) + delete + add when it may be there (its set exists, and ``held``, if
        known, lists it): the first add makes the delete safe, so no listing is needed. Prefix sets this
        batch needs are created (``add set`` leaves an existing one alone) and the chain ``ban_nets`` is
        rewritten with one rule per prefix set; with ``held``, prefix sets it shows empty and this batch does
        not fill are deleted (the kernel's expiry empties them, never deletes them)."""
        wanted: dict[str, tuple[Target, int]] = {}
        for ban in bans:
            net = parse_ban_target(ban.address)
            seconds = ban_seconds(ban.until, now, self.max_timeout)
            if seconds > 0 and seconds > wanted.get(net.text, (net, 0))[1]:
                wanted[net.text] = (net, seconds)
        sets = frozenset(sets)
        deletes: dict[str, list[str]] = {}
        adds: dict[str, list[str]] = {}
        for net, seconds in wanted.values():
            name, value = _set_of(net), _value(net)
            if name in sets and (held is None or net.text in held.get(name, ())):
                deletes.setdefault(name, []).append(value)  # refresh: delete + add in the same transaction
            adds.setdefault(name, []).append(f"{value} timeout {seconds}s")
        nets = {n for n in sets if PREFIX_SET.fullmatch(n)} | {n for n in adds if PREFIX_SET.fullmatch(n)}
        empty = {n for n in nets if held is not None and n in held and not held[n] and n not in adds}
        lines = _nets_lines(nets - empty, empty) if adds.keys() - set(BAN_SETS) or empty else []
        return lines + _touch_lines(deletes) + _element_lines("delete", deletes) + _element_lines("add", adds)

    def unplan(
        self, addresses: Iterable[str], sets: Iterable[str], held: Mapping[str, frozenset[str]] | None = None
    ) -> list[str]:
        """The ONE transaction deleting ``addresses`` from the sets there are (``sets``): each entry touched
        first (absent ones are then no error), or, with ``held`` (a listing just before), only the entries it
        lists; a prefix set that this leaves empty goes with its rule in ``ban_nets``. Only the entry named
        goes: a /16 and a /24 inside it are two entries in two sets."""
        sets = frozenset(sets)
        gone: dict[str, list[str]] = {}
        texts: dict[str, set[str]] = {}
        for address in addresses:
            net = parse_ban_target(address)
            name = _set_of(net)
            if name in sets and (held is None or net.text in held.get(name, ())):
                gone.setdefault(name, []).append(_value(net))
                texts.setdefault(name, set()).add(net.text)
        empty = {n for n in gone if held is not None and PREFIX_SET.fullmatch(n) and held[n] <= texts[n]}
        gone = {n: v for n, v in gone.items() if n not in empty}  # deleted with their set
        lines = _nets_lines({n for n in sets if PREFIX_SET.fullmatch(n)} - empty, empty) if empty else []
        return lines + _touch_lines(gone) + _element_lines("delete", gone)

    # -- the FirewallBackend protocol ---------------------------------------------------------------

    def ensure(self) -> list[str]:
        """Create the table and the host sets when missing; existing elements are kept."""
        sets = self._set_names()
        if all(name in sets for name in BAN_SETS):
            return []
        self._apply(self.table_lines())
        made = "completed" if sets & set(BAN_SETS) else "created"
        return [f"{made} nftables table {FAMILY} {TABLE} (sets {', '.join(BAN_SETS)})"]

    def add(self, bans: Sequence[Ban], now: float, *, checked: bool = False) -> None:
        """Add or refresh every unexpired ban in one transaction (one cheap listing of the set names unless
        a list() just before says what the sets hold). ``checked`` changes nothing here (each address is
        parsed for its set and element text anyway)."""
        del checked
        held, self._held = self._held, None
        lines = self.plan(bans, now, held.keys() if held is not None else self._set_names(), held)
        if lines:
            self._apply(lines)

    def remove(self, addresses: Sequence[str]) -> None:
        """Delete the given entries in one transaction (see ``unplan``; one cheap listing of the set names
        unless a list() just before says what the sets hold)."""
        held, self._held = self._held, None
        lines = self.unplan(addresses, held.keys() if held is not None else self._set_names(), held)
        if lines:
            self._apply(lines)

    def list(self) -> dict[str, int]:
        """Address -> seconds left (0: permanent) across the ban sets; {} when the table does not exist."""
        names, entries = self.entries()
        held: dict[str, set[str]] = {name: set() for name in names}
        for entry in entries:
            held[entry.set].add(entry.text)
        self._held = {name: frozenset(texts) for name, texts in held.items()}
        return {e.text: e.seconds for e in entries}

    # -- the ban hook -------------------------------------------------------------------------------

    def attach(self, thorough: bool = False, contests: dict | None = None) -> list[str]:
        """Make the hook current; return what was done, one line. The check is cheap (one listing of the
        chains: milliseconds whatever the number of bans); ``thorough`` also counts the chain's rules (a
        listing that reads every set element: ``restore`` and ``status`` use it). ``contests`` is cleared:
        our own table at priority -10 never competes for a position in anyone's chain."""
        if contests:
            contests.clear()
        view = self.overview()
        if view.current and (not thorough or self._rules_ok()):
            return []
        if view.current:  # the rules were damaged: the meters to replace are needed too
            view = view._replace(sets=self._set_names())
        self._apply(self.hook_lines(view))
        if not view.sets and not view.chain:
            why = "table was missing"
        elif not view.chain:
            why = "chain was missing"
        else:
            why = "rules were missing or outdated"
        where = f"table {FAMILY} {TABLE} chain {CHAIN} (hook input priority {PRIORITY})"
        return [f"{where}: {why}; {self.hook.describe()}"]

    def detach(self) -> list[str]:
        """Remove the hook (our base chain and its meters); the table, the ban sets, their entries and the
        chain ``ban_nets`` stay (no longer reached)."""
        view = self.overview()
        if not view.chain:
            return []
        sets = view.sets or self._set_names()
        chain = f"{FAMILY} {TABLE} {CHAIN}"
        lines = [f"flush chain {chain}", f"delete chain {chain}"]
        lines += [
            f"delete set {FAMILY} {TABLE} {n}"
            for n in sorted(sets)
            if re.fullmatch(r"(syn|smtp)_v[46]", n) or n in LEGACY_SETS
        ]
        self._apply(lines)
        return [f"table {FAMILY} {TABLE} chain {CHAIN} removed"]

    def hook_state(self, contests: Any = None) -> str:
        """``attached`` when the current hook is in place (rules counted), else ``missing`` (never
        ``contested``: see ``attach``)."""
        del contests
        return "attached" if self.overview().current and self._rules_ok() else "missing"

    def hook_contested(self, contests: Any) -> dict:
        """Nothing is ever contested here (see ``attach``)."""
        del contests
        return {}

    def purge(self) -> list[str]:
        """Delete our table (sets, chain, elements); nothing else."""
        if not self.table_exists():
            return []
        self._apply([f"delete table {FAMILY} {TABLE}"])
        return [f"removed nftables table {FAMILY} {TABLE}"]

    # -- reading ------------------------------------------------------------------------------------

    def overview(self) -> Overview:
        """Our chain from ``nft list chains inet`` (headers only); our sets, when needed, from a terse
        JSON listing of the sets (no elements)."""
        text = self._run(["list", "chains", FAMILY])
        block = _block(text, f"table {FAMILY} {TABLE}")
        chain = _block(block or "", f"chain {CHAIN}")
        current = chain is not None and (
            f'comment "mbg-hook {self.tag}"' in chain
            and re.search(rf"type filter hook input priority (?:filter - 10|{PRIORITY});", chain) is not None
        )
        sets = frozenset() if current else self._set_names()
        return Overview(sets, chain is not None, current)

    def table_exists(self) -> bool:
        """True when our table is there (``nft list tables inet``: no sets, no rules read)."""
        return f"table {FAMILY} {TABLE}\n" in self._run(["list", "tables", FAMILY]) + "\n"

    def _set_names(self) -> frozenset[str]:
        """Our table's sets, from a terse JSON listing (no elements: milliseconds at any size)."""
        text = self._run(["-t", "-j", "list", "sets", FAMILY])
        try:
            items = json.loads(text).get("nftables", [])
        except ValueError:
            raise FirewallError("nft list sets printed no JSON: is nft >= 0.9 installed?") from None
        return frozenset(
            item["set"]["name"]
            for item in items
            if isinstance(item, dict)
            and isinstance(item.get("set"), dict)
            and item["set"].get("table") == TABLE
        )

    def _rules_ok(self) -> bool:
        """The base chain holds exactly the current spec's rules and ``ban_nets`` one masked lookup per
        prefix set (one terse listing of the table, which still reads the sets' elements)."""
        text = self._listing(["-t", "list", "table", FAMILY, TABLE]) or ""
        lines = _rule_lines(_block(text, f"chain {CHAIN}") or "")
        tagged = sum(f' {self.tag}"' in line for line in lines if 'comment "mbg-' in line)
        if not len(lines) == self.rule_count() == tagged:
            return False
        nets = _block(text, f"chain {NETS_CHAIN}")
        names = {n for n in re.findall(r"^\s*set (\S+) \{", text, re.M) if PREFIX_SET.fullmatch(n)}
        found = [_rule_set(line) for line in _rule_lines(nets or "")]
        return nets is not None and None not in found and sorted(names) == sorted(map(str, found))

    def entries(self) -> tuple[frozenset[str], list[Entry]]:
        """Our ban sets (host and prefix sets, empty ones too) and every element they hold: one JSON
        listing of the table (empty when it does not exist)."""
        text = self._listing(["-j", "list", "table", FAMILY, TABLE])
        return _parse_entries(text) if text is not None else (frozenset(), [])

    # -- process plumbing ---------------------------------------------------------------------------

    def _listing(self, args: list[str]) -> str | None:
        """Output of an nft listing; None when the table does not exist."""
        try:
            return self._run(args)
        except FirewallError as err:
            if _MISSING.search(str(err)):
                return None
            raise

    def _apply(self, lines: Sequence[str]) -> None:
        """Feed ``lines`` to ONE ``nft -f -`` transaction."""
        self._run(["-f", "-"], stdin="\n".join(lines) + "\n")

    def _run(self, args: Sequence[str], stdin: str | None = None) -> str:
        """Run nft; FirewallError with nft's own first error line on failure."""
        what = "-f" if args[:1] == ["-f"] else " ".join(a for a in args if not a.startswith("-"))
        return run_tool(
            [*self.command, *args],
            program=self.command[0],
            label=f"nft {what}",
            package="nftables",
            timeout=_RUN_TIMEOUT,
            stdin=stdin,
            reason=_nft_reason,
        )


def _parse_entries(text: str) -> tuple[frozenset[str], list[Entry]]:
    """The ban sets of our table in ``nft -j`` output and their elements (an element with host bits set,
    never ours, is skipped: a masked lookup never matches it)."""
    try:
        data = json.loads(text)
    except ValueError:
        raise FirewallError("nft -j printed no JSON: is nft >= 0.9 installed?") from None
    names: set[str] = set()
    out: list[Entry] = []
    for item in data.get("nftables", []):
        found = item.get("set") if isinstance(item, dict) else None
        if not isinstance(found, dict) or found.get("table") != TABLE:
            continue
        name = found.get("name")
        match = PREFIX_SET.fullmatch(str(name))
        if name not in BAN_SETS and match is None:
            continue
        names.add(name)
        suffix = f"/{match.group(2)}" if match else ""
        for elem in found.get("elem", []):
            parsed = _element(elem, suffix)
            if parsed is not None:
                out.append(Entry(name, *parsed))
    return frozenset(names), out


def _nets_lines(keep: Iterable[str], drop: Iterable[str]) -> list[str]:
    """Prefix sets ``keep`` made sure of, ``ban_nets`` rewritten for them, the sets ``drop`` deleted (each
    added first: the delete then never fails)."""
    keep, drop = sorted(keep, key=_order), sorted(drop, key=_order)
    lines = [f"add table {FAMILY} {TABLE}"]
    lines += [
        f"add set {FAMILY} {TABLE} {n} {{ type {_addr_type(_version(n))}; flags timeout; }}"
        for n in [*keep, *drop]
    ]
    lines += _nets_chain_lines(keep)
    return lines + [f"delete set {FAMILY} {TABLE} {n}" for n in drop]


def _nets_chain_lines(names: Iterable[str]) -> list[str]:
    """The chain ``ban_nets`` made sure of and rewritten: one masked lookup per prefix set, broadest first."""
    chain = f"{FAMILY} {TABLE} {NETS_CHAIN}"
    lines = [f"add chain {chain}", f"flush chain {chain}"]
    for name in sorted(names, key=_order):
        version, prefixlen = _version(name), _order(name)[2]
        lines.append(
            f"add rule {chain} {_saddr(version)} & {_mask(version, prefixlen)} @{name} drop"
            f' comment "mbg-net /{prefixlen}"'
        )
    return lines


def _touch_lines(deletes: Mapping[str, list[str]]) -> list[str]:
    """Entries about to be deleted are first added with a 1 s timeout: the delete then never fails."""
    return _element_lines("add", {n: [f"{a} timeout 1s" for a in values] for n, values in deletes.items()})


def _element_lines(verb: str, items: Mapping[str, list[str]]) -> list[str]:
    """``VERB element ... SET { a, b }`` per set (hosts first), chunked, duplicates dropped."""
    return [
        f"{verb} element {FAMILY} {TABLE} {name} {{ {', '.join(chunk)} }}"
        for name in sorted(items, key=_order)
        for chunk in _chunks(list(dict.fromkeys(items[name])))
        if chunk
    ]


def _block(text: str, header: str) -> str | None:
    """The body of ``header { ... }`` in an nft listing (braces counted), None when absent."""
    at = text.find(header + " {")
    if at < 0:
        return None
    depth, start = 0, at + len(header) + 1
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
    return None


def _rule_lines(block: str) -> list[str]:
    """The rules of a chain body in a listing (its type/policy and comment lines left out)."""
    return [
        line.strip()
        for line in block.splitlines()
        if line.strip() and not line.strip().startswith(("type ", "comment ", "}"))
    ]


def _rule_set(line: str) -> str | None:
    """The prefix set a ``ban_nets`` rule looks up, when the rule is exactly ours (mask of its length)."""
    match = re.fullmatch(r'ip6? saddr & (\S+) (?:== )?@(ban_v[46]_p\d+) drop comment "mbg-net /\d+"', line)
    if match is None or not PREFIX_SET.fullmatch(match.group(2)):
        return None
    name = match.group(2)
    return name if match.group(1) == _mask(_version(name), _order(name)[2]) else None


def _set_of(net: Target) -> str:
    """The set that holds ``net``: a host set, or the prefix set of its length."""
    return (
        HOSTS[net.version]
        if net.prefixlen == _MAXLEN[net.version]
        else f"ban_v{net.version}_p{net.prefixlen}"
    )


def _value(net: Target) -> str:
    """The element that stands for ``net`` in its set: the address, or the network address."""
    return net.text.split("/", 1)[0]


def _version(name: str) -> int:
    return 6 if name.startswith("ban_v6") else 4


def _order(name: str) -> tuple[int, int, int]:
    """Sort key of our set names: v4 before v6, hosts first, then prefix sets broadest first."""
    match = PREFIX_SET.fullmatch(name)
    version = _version(name)
    return (version, 1, int(match.group(2))) if match else (version, 0, _MAXLEN[version])


def _mask(version: int, prefixlen: int) -> str:
    """The netmask of ``prefixlen`` as nft prints it (``255.255.255.0``, ``ffff:ffff:ffff:ffff::``)."""
    bits = ((1 << prefixlen) - 1) << (_MAXLEN[version] - prefixlen)
    return str(ipaddress.IPv4Address(bits) if version == 4 else ipaddress.IPv6Address(bits))


def _element(elem: Any, suffix: str = "") -> tuple[str, int] | None:
    """An element of ``nft -j`` output, ``"1.2.3.4"`` or ``{"elem": {"val": ..., "expires": N}}``, as
    (ban text, seconds left); ``suffix`` (``/24``) is the prefix length of a prefix set's elements."""
    seconds = 0
    if isinstance(elem, dict) and "elem" in elem:
        inner = elem["elem"]
        elem = inner.get("val") if isinstance(inner, dict) else None
        if isinstance(inner, dict) and "timeout" in inner:
            seconds = int(inner.get("expires", 0)) or 1  # about to expire: still an entry with a timeout
    if not isinstance(elem, str):
        return None
    try:
        return parse_target(elem + suffix).text, seconds
    except ValueError:
        return None


def _nft_reason(stderr: str, returncode: int) -> str:
    """nft's first ``Error:`` line (or all it said), blanks folded."""
    errors = [line for line in stderr.splitlines() if line.startswith("Error")]
    return " ".join((errors[0] if errors else stderr).split()) or f"exit {returncode}"


def _chunks(items: list[str]) -> list[list[str]]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]


def _addr_type(version: int) -> str:
    return "ipv4_addr" if version == 4 else "ipv6_addr"


def _saddr(version: int) -> str:
    return "ip saddr" if version == 4 else "ip6 saddr"


def _nfproto(version: int) -> str:
    return "ipv4" if version == 4 else "ipv6"


def _meter(lim: SynLimit, version: int) -> str:
    return f"{lim.name}_v{version}"


def _portset(ports: Sequence[int]) -> str:
    return str(ports[0]) if len(ports) == 1 else "{ " + ", ".join(map(str, ports)) + " }"
