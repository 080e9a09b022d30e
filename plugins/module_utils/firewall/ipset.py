"""The iptables backend: two ``hash:net`` ipsets (IPv4, IPv6) with per-entry timeouts, changed by ONE
``ipset restore -exist`` batch per operation (never a process per address); the ban hook that matches them is
firewall/iptables.py."""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterable, Iterator, Mapping, MutableMapping, Sequence
from itertools import islice

from ..addresses import is_canonical_ipv4
from ..errors import ConfigError
from ..schema import BY_NAME, MAX_MAXELEM, SET_NAME
from .base import Ban, FirewallError, ban_seconds, normalize_target, parse_ban_target
from .contest import Contest
from .hook import HookSpec
from .iptables import IptablesHook
from .tools import Stdin, run_tool

# The kernel's per-entry limit, checked with ipset v7.17 on Linux 6.x: "'2147484' is out of range 0-2147483"
# (older documentation quotes 4294967; the installed tool refuses anything above 2147483 s, ~24.8 days).
MAX_TIMEOUT = 2147483
DEFAULT_MAXELEM = BY_NAME["ipset_maxelem"].default
SET_TYPE = "hash:net"
_RUN_TIMEOUT = 120.0
_PIECE_LINES = 4096  # batch lines encoded and written to ipset at a time


class IpsetBackend:
    """Bans held in ``v4`` (``family inet``) and ``v6`` (``family inet6``) sets, sized ``maxelem``.

    ``command`` is how ipset is run (default ``("ipset",)``; tests prefix it with ``ip netns exec NS``, and
    iptables is then run with the same prefix). ``hook`` is what ``attach`` installs (chain MBG-BAN);
    ``trusted``: INPUT jump targets whose accepts may sit above its jump (``hook_trusted_chains``).
    """

    name = "iptables"
    max_timeout = MAX_TIMEOUT

    def __init__(
        self,
        v4: str = "mbg_ban_v4",
        v6: str = "mbg_ban_v6",
        maxelem: int = DEFAULT_MAXELEM,
        command: Sequence[str] = ("ipset",),
        hook: HookSpec | None = None,
        *,
        trusted: Collection[str] = (),
    ) -> None:
        for key, value in (("ipset_v4", v4), ("ipset_v6", v6)):
            if not isinstance(value, str) or not SET_NAME.match(value):
                raise ConfigError(f"{key}: {value!r} is not a valid ipset name (1-31 of A-Z a-z 0-9 _ . -)")
        if v4 == v6:
            raise ConfigError(f"ipset_v4 and ipset_v6 must differ (both {v4!r})")
        if isinstance(maxelem, bool) or not isinstance(maxelem, int) or not 1 <= maxelem <= MAX_MAXELEM:
            raise ConfigError(f"ipset_maxelem: {maxelem!r} is not an integer between 1 and {MAX_MAXELEM}")
        self.sets = {4: v4, 6: v6}
        self.maxelem = maxelem
        self.command = tuple(command)
        self.hook = IptablesHook(hook or HookSpec(), self.sets, prefix=self.command[:-1], trusted=trusted)

    # -- pure builders (unit-tested for their exact text) ------------------------------------------

    def create_line(self, version: int, name: str | None = None) -> str:
        """The ``create`` command for the set of IP ``version`` (under ``name`` when given)."""
        name = name or self.sets[version]
        return f"create {name} {SET_TYPE} family {_family(version)} timeout 0 maxelem {self.maxelem}"

    def add_lines(self, bans: Iterable[Ban], now: float) -> list[str]:
        """``add SET ADDR timeout T`` per unexpired ban, T = ceil(until - now) capped at MAX_TIMEOUT.

        An expired ban yields no line: ``timeout 0`` would make the entry permanent.
        """
        return list(self.iter_add_lines(bans, now))

    def iter_add_lines(self, bans: Iterable[Ban], now: float, checked: bool = False) -> Iterator[str]:
        """``add_lines``, one line at a time (``add`` streams them to ipset: 100,000 bans are never one list
        nor one text). A canonical IPv4 address (nearly every ban) is its own text: nothing to parse; with
        ``checked`` (see ``add``) every address is canonical, its family told by a colon."""
        v4, v6 = self.sets[4], self.sets[6]
        cap = self.max_timeout
        for ban in bans:
            address = ban.address
            if checked:
                name = v6 if ":" in address else v4
            elif isinstance(address, str) and is_canonical_ipv4(address):
                name = v4
            else:
                net = parse_ban_target(address)
                name, address = self.sets[net.version], net.text
            seconds = ban_seconds(ban.until, now, cap)
            if seconds > 0:
                yield f"add {name} {address} timeout {seconds}"

    def del_lines(self, addresses: Iterable[str]) -> list[str]:
        """``del SET ADDR`` per address."""
        lines = []
        for address in addresses:
            net = parse_ban_target(address)
            lines.append(f"del {self.sets[net.version]} {net.text}")
        return lines

    # -- the FirewallBackend protocol ---------------------------------------------------------------

    def ensure(self) -> list[str]:
        """Create missing sets; grow an existing set whose maxelem is too small or that lacks timeouts.

        Existing entries are kept: a set is resized by building a copy and ``swap``-ing it in, which keeps
        iptables rules that reference the set valid. A set of another type or family is an error.
        """
        existing = set(self._run(["list", "-n"]).split())
        batch: list[str] = []
        done: list[str] = []
        for version, name in self.sets.items():
            if name not in existing:
                batch.append(self.create_line(version))
                done.append(f"created ipset {name} ({SET_TYPE} {_family(version)} maxelem {self.maxelem})")
                continue
            header = self._header(name)
            if header["type"] != SET_TYPE or header.get("family") != _family(version):
                raise FirewallError(
                    f"ipset {name} exists as {header['type']} family {header.get('family', '?')}, "
                    f"expected {SET_TYPE} family {_family(version)}: remove it or choose another name"
                )
            maxelem = int(header.get("maxelem", "65536"))
            if "timeout" in header and maxelem >= self.maxelem:
                continue
            batch.extend(self._migration(version, name, existing))
            done.append(
                f"resized ipset {name} (maxelem {maxelem} -> {self.maxelem}"
                + (", per-entry timeouts enabled" if "timeout" not in header else "")
                + ")"
            )
        if batch:
            self._restore(batch)
        return done

    def add(self, bans: Sequence[Ban], now: float, *, checked: bool = False) -> None:
        """Add or refresh every unexpired ban in one ``ipset restore -exist`` call. Every address is checked
        before ipset starts (the lines are made as they are written): an invalid one applies nothing.
        ``checked``: each address is the canonical text ``Guard.check`` gave it (the Enforcer's batch), so
        none is parsed again."""
        if not checked:
            for ban in bans:
                if not (isinstance(ban.address, str) and is_canonical_ipv4(ban.address)):
                    parse_ban_target(ban.address)
        self._restore(self.iter_add_lines(bans, now, checked))

    def remove(self, addresses: Sequence[str]) -> None:
        """Delete addresses in one ``ipset restore -exist`` call (absent entries are no error)."""
        lines = self.del_lines(addresses)
        if lines:
            self._restore(lines)

    def list(self) -> dict[str, int]:
        """Address -> seconds left (0: permanent) across both sets; a missing set counts as empty."""
        entries: dict[str, int] = {}
        for name in self.sets.values():
            entries.update(parse_save(self._save(name), name))
        return entries

    # -- the ban hook -------------------------------------------------------------------------------

    def attach(
        self, thorough: bool = False, contests: MutableMapping[int, Contest] | None = None
    ) -> list[str]:
        """Make chain MBG-BAN and its INPUT jump current in both families (the check, one ``iptables -S``
        each, is always thorough: it lists rules, never set members); the sets are ensured only when
        something needs repair (a current chain matches the sets: they exist). ``contests``: see
        ``IptablesHook.attach``."""
        del thorough
        return self.hook.attach(contests, prepare=self.ensure)

    def detach(self) -> list[str]:
        """Remove the hook (chain MBG-BAN and its jumps); the sets and their entries stay."""
        return self.hook.detach()

    def hook_state(self, contests: Mapping[int, Contest] | None = None) -> str:
        """``attached``, ``contested`` (a held contest of ``contests`` the firewall still shows) or
        ``missing``."""
        return self.hook.state(contests)

    def hook_contested(self, contests: Mapping[int, Contest]) -> dict[int, Contest]:
        """The held contests of ``contests`` the firewall still shows, per IP version."""
        states = self.hook.states(contests)
        return {v: contests[v] for v, word in states.items() if word == "contested"}

    def held(self) -> list[str]:
        """Our sets that exist: named as configured AND of our type and family (a set of another type under
        the same name is the admin's: ``ensure`` refuses to use it, ``purge`` leaves it)."""
        existing = set(self._run(["list", "-n"]).split())
        held = []
        for version, name in self.sets.items():
            header = self._header(name) if name in existing else {}
            if header.get("type") == SET_TYPE and header.get("family") == _family(version):
                held.append(name)
        return held

    def purge(self) -> list[str]:
        """Remove our sets (``firewall-remove`` has removed the rules that match them first)."""
        names = self.held()
        if not names:
            return []
        try:
            self._restore([f"destroy {name}" for name in names])
        except FirewallError as err:
            if "in use" in str(err):
                raise FirewallError(
                    f"ipset {' / '.join(names)} is still matched by a rule that is not ours: remove that rule"
                    " first (iptables-save | grep -- '--match-set')"
                ) from None
            raise
        return [f"destroyed ipset {name}" for name in names]

    # -- process plumbing ---------------------------------------------------------------------------

    def _migration(self, version: int, name: str, existing: set[str]) -> list[str]:
        """Commands that copy ``name`` into a bigger timeout set and swap it in place (entries keep their
        remaining time; entries without one stay permanent)."""
        tmp = f"mbgtmp{os.getpid()}"[:31]
        lines = [f"destroy {tmp}"] if tmp in existing else []  # left over by a killed run
        existing.discard(tmp)
        lines.append(self.create_line(version, tmp))
        for address, seconds in parse_save(self._save(name), name).items():
            lines.append(f"add {tmp} {address} timeout {seconds}")
        lines += [f"swap {tmp} {name}", f"destroy {tmp}"]
        return lines

    def _header(self, name: str) -> dict[str, str]:
        """Type and header options of an existing set (``ipset list -t``)."""
        info: dict[str, str] = {"type": "?"}
        for line in self._run(["list", "-t", name]).splitlines():
            key, _colon, value = line.partition(":")
            if key == "Type":
                info["type"] = value.strip()
            elif key == "Header":
                words = value.split()
                for i, word in enumerate(words):
                    if word in ("family", "maxelem", "timeout", "hashsize"):
                        info[word] = words[i + 1] if i + 1 < len(words) else ""
        return info

    def _save(self, name: str) -> str:
        """``ipset save NAME``; empty text when the set does not exist."""
        try:
            return self._run(["save", name])
        except FirewallError as err:
            if "does not exist" in str(err):
                return ""
            raise

    def _restore(self, lines: Iterable[str]) -> None:
        """Feed commands to ONE ``ipset restore -exist`` process (none when there are no commands), written
        ``_PIECE_LINES`` at a time: the batch is never held as one text (nor as its encoded copy)."""
        lines = iter(lines)
        first = list(islice(lines, _PIECE_LINES))
        if first:
            self._run(["restore", "-exist"], stdin=_pieces(first, lines))

    def _run(self, args: Sequence[str], stdin: Stdin = None) -> str:
        """Run ipset (``stdin``: a text, or pieces of bytes written as they come); FirewallError with
        ipset's own one-line message on failure."""
        return run_tool(
            [*self.command, *args],
            program=self.command[0],
            label=f"ipset {args[0]}",
            package="ipset",
            timeout=_RUN_TIMEOUT,
            stdin=stdin,
            reason=self._reason,
        )

    def _reason(self, stderr: str, returncode: int) -> str:
        message = " ".join(stderr.split()) or f"exit status {returncode}"
        message = re.sub(r"^ipset v[\d.]+: ", "", message)
        if "is full" in message:
            message += f" (raise ipset_maxelem, now {self.maxelem})"
        return message


def _pieces(first: list[str], rest: Iterator[str]) -> Iterator[bytes]:
    """Lines as newline-terminated UTF-8 (what ``text=True`` wrote), ``_PIECE_LINES`` at a time (``first``
    is the first piece)."""
    piece = first
    while piece:
        yield ("\n".join(piece) + "\n").encode()
        piece = list(islice(rest, _PIECE_LINES))


def parse_save(text: str, name: str) -> dict[str, int]:
    """Entries of set ``name`` in ``ipset save`` output: normalised address -> timeout (0 when none)."""
    entries: dict[str, int] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) < 3 or words[0] != "add" or words[1] != name:
            continue
        seconds = 0
        if "timeout" in words[3:]:
            i = words.index("timeout", 3)
            if i + 1 < len(words) and words[i + 1].isdigit():
                seconds = int(words[i + 1])
        try:
            entries[normalize_target(words[2])] = seconds
        except ValueError:
            continue
    return entries


def _family(version: int) -> str:
    return "inet" if version == 4 else "inet6"
