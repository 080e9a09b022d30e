"""The native nftables backend: ``table inet mail_bruteforce_guard`` holding the ban sets and, when the ban
hook is on, the base chain ``input`` (hook input, priority -10: before the usual filter chains at 0,
firewalld's and ufw's). Every change is ONE ``nft -f -`` transaction: all of it applies, or none of it.

Single addresses live in ``ban_v4``/``ban_v6`` (``flags timeout``: a hash, so adding or deleting stays cheap
with 100,000 entries), prefixes in ``ban_v4_net``/``ban_v6_net`` (``flags interval, timeout``; nft 1.0.6
takes seconds per change on an interval set that large, and deleting from one is quadratic). Expiry is the
kernel's. An interval set refuses overlapping entries (nft would fail the whole batch), so ``add`` resolves
them first: a prefix inside a broader banned prefix is held by it and not written; a prefix covering
narrower ones replaces them in the same transaction. A host inside a banned prefix is written (another set).
Re-adding an existing entry is written as delete + add (kernels before 6.x keep the old timeout on an add);
a host is first touched (added with 1 s) so that its delete never fails: hosts are written without listing.
"""

from __future__ import annotations

import bisect
import json
import re
import subprocess
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from .base import Ban, FirewallError, Target, ban_seconds, parse_target
from .hook import LOOPBACK, HookSpec, SynLimit
from .ipset import MAX_TIMEOUT as IPSET_MAX_TIMEOUT

FAMILY = "inet"
TABLE = "mail_bruteforce_guard"
CHAIN = "input"
PRIORITY = -10
HOSTS = {4: "ban_v4", 6: "ban_v6"}  # single addresses: flags timeout
NETS = {4: "ban_v4_net", 6: "ban_v6_net"}  # prefixes: flags interval, timeout
BAN_SETS = (*HOSTS.values(), *NETS.values())
# The kernel takes longer timeouts, but one cap for both backends keeps their JSON and log lines the same.
MAX_TIMEOUT = IPSET_MAX_TIMEOUT
METER_SIZE = 65535
_CHUNK = 1000  # elements per add/delete statement (one transaction all the same)
_RUN_TIMEOUT = 120.0
_MISSING = re.compile(r"No such file or directory|does not exist")


class Element(NamedTuple):
    """One set element as the kernel holds it: its interval, seconds left (0: permanent), and its text
    (``None`` for a range that is no CIDR block: never ours, but it still blocks overlapping adds)."""

    version: int
    first: int
    last: int
    prefixlen: int
    text: str | None
    seconds: int


class Overview(NamedTuple):
    """Our table as two cheap listings show it (no set elements, no rules)."""

    sets: frozenset[str]  # our table's sets (empty: no table, or a table without sets)
    chain: bool  # the base chain exists
    current: bool  # ... on the input hook at our priority, commented with the current spec's tag


class NftablesBackend:
    """Bans in ``table inet mail_bruteforce_guard``; ``hook`` (a HookSpec) is what ``attach`` installs.

    ``command`` is how nft is run (default ``("nft",)``; tests prefix it with ``ip netns exec NS``).
    """

    name = "nftables"
    max_timeout = MAX_TIMEOUT

    def __init__(self, hook: HookSpec | None = None, command: Sequence[str] = ("nft",)) -> None:
        self.hook = hook or HookSpec()
        self.command = tuple(command)
        # hosts the last list() saw: the next add() writes the others without the touch + delete (a host
        # that appeared meanwhile is no error: adding an existing element changes nothing)
        self._present: frozenset[str] | None = None

    # -- pure builders (unit-tested for their exact text) ------------------------------------------

    def table_lines(self) -> list[str]:
        """Create the table and the ban sets (``add`` leaves existing ones and their elements alone)."""
        lines = [f"add table {FAMILY} {TABLE}"]
        for version in (4, 6):
            kind = _addr_type(version)
            lines.append(f"add set {FAMILY} {TABLE} {HOSTS[version]} {{ type {kind}; flags timeout; }}")
            lines.append(
                f"add set {FAMILY} {TABLE} {NETS[version]} {{ type {kind}; flags interval, timeout; }}"
            )
        return lines

    def hook_lines(self, existing: Overview) -> list[str]:
        """The whole hook in one transaction: table and sets, fresh meter sets, the base chain rewritten."""
        spec = self.hook
        lines = self.table_lines()
        chain = f"{FAMILY} {TABLE} {CHAIN}"
        if existing.chain:  # rewritten whole: its comment says which spec it holds
            lines += [f"flush chain {chain}", f"delete chain {chain}"]
        meters = [(lim, version) for lim in spec.limits() for version in (4, 6)]
        for name in sorted(existing.sets):
            if re.fullmatch(r"(syn|smtp)_v[46]", name):  # an old meter: its limits may be outdated
                lines.append(f"delete set {FAMILY} {TABLE} {name}")
        for lim, version in meters:
            lines.append(
                f"add set {FAMILY} {TABLE} {_meter(lim, version)} {{ type {_addr_type(version)}; "
                f"size {METER_SIZE}; flags dynamic, timeout; timeout {lim.idle_seconds}s; }}"
            )
        lines.append(
            f"add chain {chain} {{ type filter hook input priority {PRIORITY}; policy accept;"
            f' comment "mbg-hook {spec.tag}"; }}'
        )
        where = "" if spec.scope == "all" else f" tcp dport {_portset(spec.mail_ports)}"
        # loopback first (see hook.py): accept ends this chain only, later base chains still see the packet
        lines.append(f'add rule {chain} iif "{LOOPBACK}" accept comment "mbg-lo {spec.tag}"')
        for version in (4, 6):
            for name in (HOSTS[version], NETS[version]):
                lines.append(
                    f'add rule {chain} {_saddr(version)} @{name}{where} drop comment "mbg-ban {spec.tag}"'
                )
        for lim, version in meters:
            lines.append(
                f"add rule {chain} meta nfproto {_nfproto(version)} tcp dport {_portset(lim.ports)}"
                f" tcp flags & (fin|syn|rst|ack) == syn update @{_meter(lim, version)}"
                f" {{ {_saddr(version)} limit rate over {lim.rate}/minute burst {lim.burst} packets }} drop"
                f' comment "mbg-{lim.name} {spec.tag}"'
            )
        return lines

    def rule_count(self) -> int:
        """Rules a current hook chain holds."""
        return 5 + 2 * len(self.hook.limits())  # loopback, 4 ban sets, 2 families per limit

    def plan(
        self, bans: Iterable[Ban], now: float, nets: Sequence[Element], present: frozenset[str] | None = None
    ) -> list[list[str]]:
        """The transactions adding ``bans``, given the prefix sets' entries ``nets`` (see the module doc):
        one, or two when prefixes must give way to a broader one (nft before 1.0 checks overlaps against the
        set as it was before the transaction, so the narrower prefixes are deleted first; for the
        milliseconds between the two, their range is not banned).

        A host is written add (1 s) + delete + add: the first add makes the delete safe whether the host was
        there or not, so hosts need no listing (a listing of 100,000 entries takes nft seconds). Hosts known
        to be absent (not in ``present``, a listing made just before) are simply added."""
        wanted: dict[str, tuple[Target, int]] = {}
        for ban in bans:
            net = _parse(ban.address)
            seconds = ban_seconds(ban.until, now, self.max_timeout)
            if seconds > 0 and seconds > wanted.get(net.text, (net, 0))[1]:
                wanted[net.text] = (net, seconds)
        nets = [e for e in nets if not _is_host(e)]  # hosts live in their own sets: no overlap to resolve
        held = {e.text for e in nets if e.text is not None}
        index = _Index(nets)
        deletes: dict[str, list[str]] = {name: [] for name in BAN_SETS}
        adds: dict[str, list[str]] = {name: [] for name in BAN_SETS}
        give_way: dict[str, list[str]] = {name: [] for name in NETS.values()}
        for net, seconds in sorted(wanted.values(), key=lambda item: item[0].prefixlen):
            name = _set_name(net)
            if name in NETS.values():
                if index.covers(net):
                    continue  # inside a broader banned prefix (held, or added just now): it holds this one
                give_way[name] += index.inside(net)  # narrower prefixes give way to the broader one
                index.add(net)
            if net.text in held or (name in HOSTS.values() and (present is None or net.text in present)):
                deletes[name].append(net.text)  # refresh: delete + add in the same transaction
            adds[name].append(f"{net.text} timeout {seconds}s")
        batch = _touch_lines(deletes) + _element_lines("delete", deletes) + _element_lines("add", adds)
        first = _element_lines("delete", give_way)
        return [batch for batch in (first, batch) if batch]

    # -- the FirewallBackend protocol ---------------------------------------------------------------

    def ensure(self) -> list[str]:
        """Create the table and the ban sets when missing; existing elements are kept."""
        sets = self._set_names()
        if all(name in sets for name in BAN_SETS):
            return []
        self._apply(self.table_lines())
        made = "completed" if sets & set(BAN_SETS) else "created"
        return [f"{made} nftables table {FAMILY} {TABLE} (sets {', '.join(BAN_SETS)})"]

    def add(self, bans: Sequence[Ban], now: float) -> None:
        """Add or refresh every unexpired ban in one transaction (lists the prefix sets only)."""
        present, self._present = self._present, None
        for batch in self.plan(bans, now, self.elements(NETS.values()), present):
            self._apply(batch)

    def remove(self, addresses: Sequence[str]) -> None:
        """Delete the given entries in one transaction: hosts touched first (add 1 s, then delete: no
        listing), prefixes only when the prefix sets hold them (nft would fail the batch otherwise)."""
        self._present = None  # a listing is a hint for the add() right after it only
        held = {e.text for e in self.elements(NETS.values())}
        gone: dict[str, list[str]] = {name: [] for name in BAN_SETS}
        for address in addresses:
            net = _parse(address)
            name = _set_name(net)
            if (name in HOSTS.values() or net.text in held) and net.text not in gone[name]:
                gone[name].append(net.text)
        lines = _touch_lines(gone) + _element_lines("delete", gone)
        if lines:
            self._apply(lines)

    def list(self) -> dict[str, int]:
        """Address -> seconds left (0: permanent) across the ban sets; {} when the table does not exist."""
        held = {e.text: e.seconds for e in self.elements() if e.text is not None}
        self._present = frozenset(held)
        return held

    # -- the ban hook -------------------------------------------------------------------------------

    def attach(self, thorough: bool = False) -> list[str]:
        """Make the hook current; return what was done, one line. The check is cheap (one listing of the
        chains: milliseconds whatever the number of bans); ``thorough`` also counts the chain's rules (a
        listing that reads every set element: ``restore`` and ``status`` use it)."""
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
        """Remove the hook (our base chain and its meters); the table, the ban sets and entries stay."""
        view = self.overview()
        if not view.chain:
            return []
        sets = view.sets or self._set_names()
        chain = f"{FAMILY} {TABLE} {CHAIN}"
        lines = [f"flush chain {chain}", f"delete chain {chain}"]
        lines += [
            f"delete set {FAMILY} {TABLE} {n}" for n in sorted(sets) if re.fullmatch(r"(syn|smtp)_v[46]", n)
        ]
        self._apply(lines)
        return [f"table {FAMILY} {TABLE} chain {CHAIN} removed"]

    def hook_state(self) -> str:
        """``attached`` when the current hook is in place (rules counted), else ``missing``."""
        return "attached" if self.overview().current and self._rules_ok() else "missing"

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
            f'comment "mbg-hook {self.hook.tag}"' in chain
            and re.search(rf"type filter hook input priority (?:filter - 10|{PRIORITY});", chain) is not None
        )
        sets = frozenset() if current else self._set_names()
        return Overview(sets, chain is not None, current)

    def table_exists(self) -> bool:
        """True when our table is there (``nft list tables inet``: no sets, no rules read)."""
        return f"table {FAMILY} {TABLE}\n" in self._run(["list", "tables", FAMILY]) + "\n"

    def _set_names(self) -> frozenset[str]:
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
        """The chain holds exactly the current spec's rules (this listing reads the sets' elements too)."""
        text = self._listing(["-t", "list", "chain", FAMILY, TABLE, CHAIN]) or ""
        rules = [line for line in text.splitlines() if 'comment "mbg-' in line and "mbg-hook" not in line]
        others = [
            line
            for line in text.splitlines()
            if line.strip() and not line.strip().startswith(("table ", "chain ", "type ", "comment ", "}"))
        ]
        tagged = sum(f' {self.hook.tag}"' in line for line in rules)
        return len(others) == self.rule_count() == tagged

    def elements(self, names: Iterable[str] = BAN_SETS) -> list[Element]:
        """Every element of the ban sets (one JSON listing of the table), or of the sets ``names`` (one
        listing each: the prefix sets are small, the host sets may hold 100,000 entries)."""
        names = tuple(names)
        if names == BAN_SETS:
            texts = [self._listing(["-j", "list", "table", FAMILY, TABLE])]
        else:
            texts = [self._listing(["-j", "list", "set", FAMILY, TABLE, name]) for name in names]
        out: list[Element] = []
        for text in texts:
            if text is not None:
                out += _parse_elements(text, names)
        return out

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
        argv = [*self.command, *args]
        what = "-f" if args[:1] == ["-f"] else " ".join(a for a in args if not a.startswith("-"))
        try:
            proc = subprocess.run(
                argv, input=stdin, capture_output=True, text=True, timeout=_RUN_TIMEOUT, check=False
            )
        except FileNotFoundError:
            raise FirewallError(f"{self.command[0]} not found: install the nftables package") from None
        except subprocess.TimeoutExpired:
            raise FirewallError(f"nft {what} did not finish within {_RUN_TIMEOUT:.0f}s") from None
        except OSError as err:
            raise FirewallError(f"cannot run {self.command[0]}: {err.strerror}") from None
        if proc.returncode != 0:
            errors = [line for line in proc.stderr.splitlines() if line.startswith("Error")]
            message = " ".join((errors[0] if errors else proc.stderr).split()) or f"exit {proc.returncode}"
            raise FirewallError(f"nft {what} failed: {message}")
        return proc.stdout


class _Index:
    """The intervals a set holds, to find covering and covered entries quickly."""

    def __init__(self, current: Iterable[Element]) -> None:
        self.nets: dict[tuple[int, int], set[int]] = {}  # (version, prefixlen) -> first addresses
        self.ranges: list[Element] = []  # non-CIDR ranges (rare: never ours)
        self.sorted: dict[int, list[tuple[int, int, str]]] = {4: [], 6: []}  # (first, prefixlen, text)
        for e in current:
            if e.text is None:
                self.ranges.append(e)
            else:
                self.nets.setdefault((e.version, e.prefixlen), set()).add(e.first)
                self.sorted[e.version].append((e.first, e.prefixlen, e.text))
        for entries in self.sorted.values():
            entries.sort()

    def add(self, net: Target) -> None:
        self.nets.setdefault((net.version, net.prefixlen), set()).add(net.first)

    def covers(self, net: Target) -> bool:
        """True when a broader entry (or a range) already holds all of ``net``."""
        maxlen = 32 if net.version == 4 else 128
        for (version, prefixlen), firsts in self.nets.items():
            if version == net.version and prefixlen < net.prefixlen:
                mask = ((1 << prefixlen) - 1) << (maxlen - prefixlen)
                if net.first & mask in firsts:
                    return True
        return any(
            r.version == net.version and r.first <= net.first and net.last <= r.last for r in self.ranges
        )

    def inside(self, net: Target) -> list[str]:
        """Current entries strictly inside ``net``."""
        entries = self.sorted[net.version]
        at = bisect.bisect_left(entries, (net.first, -1, ""))
        out = []
        while at < len(entries) and entries[at][0] <= net.last:
            if entries[at][1] > net.prefixlen:
                out.append(entries[at][2])
            at += 1
        return out


def _parse_elements(text: str, names: Sequence[str]) -> list[Element]:
    """The elements of the sets ``names`` in ``nft -j`` output."""
    try:
        data = json.loads(text)
    except ValueError:
        raise FirewallError("nft -j printed no JSON: is nft >= 0.9 installed?") from None
    out: list[Element] = []
    for item in data.get("nftables", []):
        found = item.get("set") if isinstance(item, dict) else None
        if not isinstance(found, dict) or found.get("name") not in names or found.get("table") != TABLE:
            continue
        for elem in found.get("elem", []):
            parsed = _element(elem)
            if parsed is not None:
                out.append(parsed)
    return out


def _touch_lines(deletes: dict[str, list[str]]) -> list[str]:
    """Hosts about to be deleted are first added with a 1 s timeout: the delete then never fails."""
    return _element_lines("add", {n: [f"{a} timeout 1s" for a in deletes[n]] for n in HOSTS.values()})


def _element_lines(verb: str, items: dict[str, list[str]]) -> list[str]:
    """``VERB element ... SET { a, b }`` per set in BAN_SETS order, chunked, duplicates dropped."""
    return [
        f"{verb} element {FAMILY} {TABLE} {name} {{ {', '.join(chunk)} }}"
        for name in BAN_SETS
        if name in items
        for chunk in _chunks(list(dict.fromkeys(items[name])))
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


def _is_host(e: Element) -> bool:
    return e.prefixlen == (32 if e.version == 4 else 128)


def _set_name(net: Target) -> str:
    return HOSTS[net.version] if net.prefixlen == (32 if net.version == 4 else 128) else NETS[net.version]


def _element(elem: Any) -> Element | None:
    """An element of ``nft -j`` output: ``"1.2.3.4"``, ``{"prefix": ...}``, ``{"range": [a, b]}``, or any
    of these wrapped in ``{"elem": {"val": ..., "expires": N}}``."""
    seconds = 0
    if isinstance(elem, dict) and "elem" in elem:
        inner = elem["elem"]
        elem = inner.get("val")
        if "timeout" in inner:
            seconds = int(inner.get("expires", 0)) or 1  # about to expire: still an entry with a timeout
    try:
        if isinstance(elem, str):
            net = parse_target(elem)
        elif isinstance(elem, dict) and "prefix" in elem:
            net = parse_target(f"{elem['prefix']['addr']}/{elem['prefix']['len']}")
        elif isinstance(elem, dict) and "range" in elem:
            low, high = (parse_target(str(x)) for x in elem["range"])
            return Element(low.version, low.first, high.last, -1, None, seconds)
        else:
            return None
    except (ValueError, KeyError, TypeError):
        return None
    return Element(net.version, net.first, net.last, net.prefixlen, net.text, seconds)


def _parse(address: str) -> Target:
    try:
        return parse_target(address)
    except ValueError as err:
        raise FirewallError(str(err)) from None


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
