"""Apply ban decisions through a firewall backend: refuse never-ban addresses, skip expired and unchanged
bans, and log every change to syslog. Nothing here knows which firewall tool is underneath."""

from __future__ import annotations

import re
import shutil
import subprocess
import syslog
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import ConfigError
from ..times import BAN_END_TOLERANCE
from .base import Ban, FirewallBackend, FirewallError, PartialApplyError, ban_seconds, ended
from .contest import Contest, error_line
from .guard import Guard
from .hook import HookSpec
from .ipset import DEFAULT_MAXELEM, IpsetBackend
from .nftables import NftablesBackend

SYSLOG_IDENT = "mail-bruteforce-guard"
SYSLOG_FACILITY = syslog.LOG_AUTHPRIV
# A ban longer than the backend's maximum timeout is written capped; passing it again (restore, or every scan)
# tops it up once the firewall entry has run down by this much, so long bans last without a log line a minute.
CAPPED_REFRESH = 86400
SETUP_WORDS = ("created", "completed", "resized")  # how backends' set-creation lines begin
_REASON_MAX = 400
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _iptables(config: Mapping[str, Any]) -> FirewallBackend:
    return IpsetBackend(
        v4=config.get("ipset_v4", "mbg_ban_v4"),
        v6=config.get("ipset_v6", "mbg_ban_v6"),
        maxelem=config.get("ipset_maxelem", DEFAULT_MAXELEM),
        hook=HookSpec.from_config(config),
        trusted=config.get("hook_trusted_chains", ()),
    )


def _nftables(config: Mapping[str, Any]) -> FirewallBackend:
    return NftablesBackend(hook=HookSpec.from_config(config))


# firewall_backend name -> factory ("ipset" is the old name of "iptables"; "auto" is resolved first).
BACKENDS = {"iptables": _iptables, "nftables": _nftables, "ipset": _iptables}
NFTABLES_CONF = "/etc/nftables.conf"


def resolve_backend(name: Any = "auto") -> str:  # noqa: PLR0911 - one return per documented auto rule
    """The backend ``firewall_backend`` means on this host: ``iptables`` or ``nftables``.

    ``auto`` picks nftables when the host's firewall is nftables-native (firewalld active, or
    nftables.service enabled with a ruleset in /etc/nftables.conf) or when there is no ipset to use,
    iptables + ipset otherwise. Cheap on most hosts: systemctl is asked only when firewalld or a ruleset
    file is there.
    """
    if name == "ipset":
        return "iptables"
    if name in ("iptables", "nftables"):
        return name
    if name != "auto":
        choices = "auto, iptables, nftables"
        raise ConfigError(f"firewall_backend: {name!r} is not supported (choose from: {choices})")
    if shutil.which("nft") is None:
        return "iptables"
    if shutil.which("ipset") is None:
        return "nftables"
    if shutil.which("firewalld") and _systemctl("is-active", "firewalld") == "active":
        return "nftables"
    if _has_ruleset(NFTABLES_CONF) and _systemctl("is-enabled", "nftables") == "enabled":
        return "nftables"
    return "iptables"


def _has_ruleset(path: str) -> bool:
    """True when the file defines a table (Debian's stock file, empty chains in table inet filter, counts
    only once enabled: an admin enabled the service for it)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return False
    return any(line.split("#", 1)[0].split()[:1] == ["table"] for line in text.splitlines())


def _systemctl(verb: str, unit: str) -> str:
    try:
        proc = subprocess.run(
            ["systemctl", verb, unit], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout.strip()


def make_backend(config: Mapping[str, Any]) -> FirewallBackend:
    """The backend ``config["firewall_backend"]`` resolves to (default auto); ConfigError when unknown."""
    return BACKENDS[resolve_backend(config.get("firewall_backend", "auto"))](config)


class Refusal(NamedTuple):
    """A ban that was not applied, and why."""

    address: str
    reason: str


class EnforceResult(NamedTuple):
    """What an operation changed (or, in a dry run, would change).

    ``added``: bans written (new, or with a changed expiry), addresses normalised. ``refused``: never-ban hits
    and invalid addresses. ``removed``: addresses taken out. ``unchanged``: bans already in place.
    ``expired``: bans whose ``until`` had passed (not added). ``messages``: the log lines, in order.
    """

    added: tuple[Ban, ...] = ()
    refused: tuple[Refusal, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[Ban, ...] = ()
    expired: tuple[Ban, ...] = ()
    messages: tuple[str, ...] = ()
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        """True when firewall state changed (would change, in a dry run)."""
        return bool(self.added or self.removed)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "changed": self.changed,
            "dry_run": self.dry_run,
            "added": [b._asdict() for b in self.added],
            "refused": [r._asdict() for r in self.refused],
            "removed": list(self.removed),
            "unchanged": [b.address for b in self.unchanged],
            "expired": [b.address for b in self.expired],
            "messages": list(self.messages),
        }


def clean_reason(reason: str) -> str:
    """A caller's reason made safe for one syslog line (it may quote attacker-chosen usernames)."""
    text = str(reason)
    if not (text.isascii() and text.isprintable()):  # else neither substitution can change it
        text = _CONTROL.sub("?", re.sub(r"[\t\n\r]+", " ", text))
    text = text.strip()
    return text if len(text) <= _REASON_MAX else text[: _REASON_MAX - 3] + "..."


def ban_message(address: str, seconds: int, reason: str) -> str:
    """``ban ADDR for Ns: REASON``."""
    reason = clean_reason(reason)
    return f"ban {address} for {seconds}s: {reason}" if reason else f"ban {address} for {seconds}s"


def refusal_message(address: str, reason: str) -> str:
    """``refused to ban ADDR: REASON``."""
    return f"refused to ban {clean_reason(address)}: {reason}"


class Enforcer:
    """Applies bans through ``backend`` after the never-ban ``Guard``; logs each change to syslog.

    ``dry_run`` computes and reports the same result but changes nothing and logs nothing (it still reads
    the current entries, if it can, to tell new bans from unchanged ones).
    """

    def __init__(
        self,
        backend: FirewallBackend,
        *,
        ignore: Iterable[str] = (),
        protected: Iterable[str] = (),
        use_syslog: bool = True,
        dry_run: bool = False,
    ) -> None:
        self.backend = backend
        self.guard = Guard(ignore, protected)
        self.use_syslog = use_syslog
        self.dry_run = dry_run

    def ban(self, bans: Iterable[Ban], now: float, *, ban_lines: bool = True) -> EnforceResult:
        """Add unexpired, allowed bans in one backend batch; refuse never-ban addresses. ``ban_lines=False``:
        each ban's line still goes to syslog, made one at a time, but is left out of ``messages`` (a scan's
        100,000 bans never read them)."""
        # (a list is applied as it is: 100,000 bans are not copied)
        return self._apply(
            bans if isinstance(bans, list) else list(bans), now, sweep=False, ban_lines=ban_lines
        )

    def restore(self, bans: Iterable[Ban], now: float) -> EnforceResult:
        """Boot-time recovery: ensure the sets exist, remove entries the guard forbids (e.g. a controller
        banned before it was protected), and re-add every unexpired ban."""
        return self._apply(list(bans), now, sweep=True)

    def unban(self, addresses: Iterable[str]) -> EnforceResult:
        """Remove addresses in one batch; ``removed`` lists those that were present. Never refused for
        being protected (taking a ban away is always safe); invalid addresses are refused."""
        wanted: dict[str, None] = {}  # ordered, without duplicates
        refused: list[Refusal] = []
        for address in addresses:
            verdict = self.guard.check(address)
            if verdict.refusal is not None and verdict.refusal.startswith("invalid"):
                refused.append(Refusal(verdict.address, verdict.refusal))
            else:
                wanted[verdict.address] = None
        current = self._current()
        removed = [a for a in wanted if a in current]
        messages = [f"unban {a}" for a in removed]
        if removed and not self.dry_run:
            self.backend.remove(removed)
        self._log(syslog.LOG_NOTICE, messages)
        return EnforceResult(
            refused=tuple(refused), removed=tuple(removed), messages=tuple(messages), dry_run=self.dry_run
        )

    def attach(
        self, again: bool = False, thorough: bool = False, contests: dict[int, Contest] | None = None
    ) -> list[str]:
        """Make the ban hook current (cheap check first); log ``hook attached: ...`` or, when it had been
        attached before (``again``: another tool's reload removed it), ``hook re-attached: ...``.

        ``contests`` (the state's records, updated in place; see contest.py): a contest that this call
        begins adds ONE error line (``hook contested: ...``, syslog error), after the repair lines; a held
        contest already reported adds nothing."""
        if self.dry_run:
            return []
        reported = {v: c for v, c in (contests or {}).items() if c.held}
        done = self.backend.attach(thorough=thorough, contests=contests)
        word = "re-attached" if again else "attached"
        lines = [line if line.startswith(SETUP_WORDS) else f"hook {word}: {line}" for line in done]
        self._log(syslog.LOG_WARNING if again else syslog.LOG_INFO, lines)
        begun = [
            error_line(v, c) for v, c in sorted((contests or {}).items()) if c.held and reported.get(v) != c
        ]
        self._log(syslog.LOG_ERR, begun)
        return lines + begun

    def detach(self) -> list[str]:
        """Remove the ban hook if it is there; log ``hook detached: ...``."""
        if self.dry_run:
            return []
        lines = [f"hook detached: {line}" for line in self.backend.detach()]
        self._log(syslog.LOG_INFO, lines)
        return lines

    def active(self) -> dict[str, int]:
        """Address -> seconds left, as the firewall holds it right now."""
        return self.backend.list()

    # -- internals ----------------------------------------------------------------------------------

    def _apply(  # noqa: PLR0912, PLR0915 - one batch: refuse, skip, apply, partial failure
        self,
        bans: Sequence[Ban],
        now: float,
        *,
        sweep: bool,
        ban_lines: bool = True,
    ) -> EnforceResult:
        refused: list[Refusal] = []
        expired: list[Ban] = []
        wanted: dict[str, Ban] = {}
        cap = self.backend.max_timeout
        check = self.guard.check
        for request in bans:
            verdict = check(request.address)
            if verdict.refusal is not None:
                refused.append(Refusal(verdict.address, verdict.refusal))
                continue
            ban = request if verdict.address == request.address else request._replace(address=verdict.address)
            if ended(ban.until, now, cap):
                expired.append(ban)
                continue
            previous = wanted.get(ban.address)
            if previous is None or ban.until > previous.until:
                wanted[ban.address] = ban  # the same address twice: the later expiry wins
        setup: list[str] = []
        if not self.dry_run and (wanted or sweep):
            setup = self.backend.ensure()
        self._log(syslog.LOG_INFO, setup)
        refused_lines = [refusal_message(r.address, r.reason) for r in refused]
        self._log(syslog.LOG_WARNING, refused_lines)  # logged even if applying the rest fails below
        current = self._current() if wanted or sweep else {}
        swept: list[Refusal] = []  # entries already in the firewall that the guard forbids
        if sweep:
            for address in current:
                verdict = self.guard.check(address)
                if verdict.refusal is not None:
                    swept.append(Refusal(address, verdict.refusal))
        added: list[Ban] = []
        unchanged: list[Ban] = []
        for ban in wanted.values():
            left = current.get(ban.address)
            if left is None:  # not in the firewall (every ban of a first scan): nothing to compare
                added.append(ban)
                continue
            seconds = ban_seconds(ban.until, now, cap)
            if (
                left == 0  # an admin's permanent entry: never shortened
                or abs(left - seconds) <= BAN_END_TOLERANCE  # the same ban: left alone, no log line
                or (seconds == cap and left >= cap - CAPPED_REFRESH)
            ):
                unchanged.append(ban)
            else:
                added.append(ban)
        del wanted, current  # (100,000 bans: their tables go before the log lines are made)
        removed = [r.address for r in swept]
        failure: FirewallError | None = None
        failed: list[Ban] = []
        if not self.dry_run:
            if removed:
                self.backend.remove(removed)
            if added:
                try:
                    self.backend.add(added, now, checked=True)  # (each address the guard's text)
                except FirewallError as err:  # part of the batch may be in: read back which
                    failure = err
                    present = self._current_or_empty()
                    failed = [b for b in added if b.address not in present]
                    added = [b for b in added if b.address in present]
        swept_lines = [f"unban {r.address}: {r.reason}" for r in swept]
        self._log(syslog.LOG_WARNING, swept_lines)
        added_lines: list[str] = []
        if ban_lines:
            added_lines = [ban_message(b.address, ban_seconds(b.until, now, cap), b.reason) for b in added]
            self._log(syslog.LOG_NOTICE, added_lines)
        else:  # made only if syslog takes them, one at a time
            lines = (ban_message(b.address, ban_seconds(b.until, now, cap), b.reason) for b in added)
            self._log(syslog.LOG_NOTICE, lines)
        result = EnforceResult(
            added=tuple(added),
            refused=tuple(refused),
            removed=tuple(removed),
            unchanged=tuple(unchanged),
            expired=tuple(expired),
            messages=tuple(setup + refused_lines + swept_lines + added_lines),
            dry_run=self.dry_run,
        )
        if failure is not None:
            raise PartialApplyError(str(failure), result, tuple(failed)) from None
        return result

    def _current_or_empty(self) -> dict[str, int]:
        """The backend's entries after a failure (empty when even reading them fails)."""
        try:
            return self.backend.list()
        except FirewallError:
            return {}

    def _current(self) -> dict[str, int]:
        """The backend's entries; in a dry run an unreadable firewall counts as empty."""
        try:
            return self.backend.list()
        except FirewallError:
            if self.dry_run:
                return {}
            raise

    def _log(self, priority: int, messages: Iterable[str]) -> None:
        """Each message to syslog (none in a dry run or with syslog off: ``messages`` is then not read)."""
        if self.dry_run or not self.use_syslog:
            return
        opened = False
        for message in messages:
            if not opened:
                syslog.openlog(SYSLOG_IDENT, syslog.LOG_PID, SYSLOG_FACILITY)
                opened = True
            syslog.syslog(priority, message)
