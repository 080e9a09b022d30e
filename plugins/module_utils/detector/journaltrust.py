"""Which journal entries may speak for a mail daemon: the journal's trusted fields, not the message.

Any local process can write to the journal with ``SYSLOG_IDENTIFIER=postfix/smtpd`` (``logger -t``, PHP's
``syslog()``): a hosting customer could get any address banned. journald itself records who wrote an
entry in the fields a client cannot set (``_UID``, ``_EXE``, ``_SYSTEMD_UNIT``, ...). An entry the parser
would read as a daemon's line is accepted only when it was written by one of that daemon's users (root or
the daemon's own) AND by its executable or from its systemd unit. The rules are the config key
``journal_trusted``: ``{daemon: {"users": [...], "units": [...], "executables": [...]}}`` (shell patterns for
units and executables); a daemon it names replaces that daemon's default rule.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any, NamedTuple

from ..errors import ConfigError

DAEMONS = ("postfix", "dovecot", "plesk")
RULE_KEYS = ("users", "units", "executables")

DEFAULT_TRUSTED: dict[str, dict[str, list]] = {
    "postfix": {
        "users": ["root", "postfix"],
        "units": ["postfix.service", "postfix@*.service"],
        "executables": ["/usr/lib/postfix/*", "/usr/libexec/postfix/*", "/usr/sbin/postfix"],
    },
    "dovecot": {
        # Dovecot's log process (root) writes every line of its children
        "users": ["root", "dovecot", "dovenull"],
        "units": ["dovecot.service"],
        "executables": ["/usr/sbin/dovecot", "/usr/lib/dovecot/*", "/usr/libexec/dovecot/*"],
    },
    "plesk": {
        "users": ["root", "postfix"],
        "units": ["postfix.service", "postfix@*.service", "plesk*.service"],
        "executables": ["/usr/lib/plesk-9.0/*", "/usr/lib64/plesk-9.0/*", "/opt/psa/*"],
    },
}


class Rule(NamedTuple):
    """One daemon's accepted writers: numeric uids, unit and executable patterns."""

    uids: frozenset
    units: tuple
    executables: tuple


def validate_trusted(value: Any, key: str = "journal_trusted") -> dict[str, dict[str, list]]:
    """The rules with the defaults filled in; ConfigError naming the bad part."""
    if not isinstance(value, dict):
        raise ConfigError(f"config key {key!r} must be a mapping of daemon to rule, got {value!r}")
    rules = {daemon: {k: list(v) for k, v in rule.items()} for daemon, rule in DEFAULT_TRUSTED.items()}
    for daemon, rule in value.items():
        if daemon not in DAEMONS:
            raise ConfigError(
                f"config key {key!r}: unknown daemon {daemon!r} (choose from: {', '.join(DAEMONS)})"
            )
        if not isinstance(rule, dict) or set(rule) - set(RULE_KEYS):
            raise ConfigError(
                f"config key {key!r}: {daemon} must be a mapping with keys {', '.join(RULE_KEYS)}"
            )
        for name in RULE_KEYS:
            items = rule.get(name, [])
            if not isinstance(items, list) or not all(
                isinstance(i, str) or (name == "users" and isinstance(i, int) and not isinstance(i, bool))
                for i in items
            ):
                raise ConfigError(f"config key {key!r}: {daemon}.{name} must be a list of strings")
        rules[daemon] = {name: list(rule.get(name, [])) for name in RULE_KEYS}
    return rules


def _uid(user: Any) -> int | None:
    """A user name or number -> uid (None for a name this host does not have)."""
    if isinstance(user, int):
        return user
    if user.isdecimal():
        return int(user)
    import pwd  # noqa: PLC0415 - only journal scans need it

    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return None


class JournalTrust:
    """``accepts(daemon, entry)``: whether a journal entry may speak for ``daemon``."""

    def __init__(self, rules: dict[str, dict[str, list]] | None = None) -> None:
        rules = validate_trusted(rules or {})
        self.rules = {
            daemon: Rule(
                frozenset(u for u in map(_uid, rule["users"]) if u is not None),
                tuple(rule["units"]),
                tuple(rule["executables"]),
            )
            for daemon, rule in rules.items()
        }

    def accepts(self, daemon: str, entry: dict) -> bool:
        """True when the entry's ``_UID`` is one of the daemon's users and its ``_SYSTEMD_UNIT`` or ``_EXE``
        one of its units or executables (fields journald sets itself; a missing one never fits)."""
        rule = self.rules.get(daemon)
        if rule is None:
            return False
        uid = entry.get("_UID")
        if not isinstance(uid, str) or not uid.isdecimal() or int(uid) not in rule.uids:
            return False
        unit = entry.get("_SYSTEMD_UNIT")
        if isinstance(unit, str) and any(fnmatchcase(unit, p) for p in rule.units):
            return True
        exe = entry.get("_EXE")
        return isinstance(exe, str) and any(fnmatchcase(exe, p) for p in rule.executables)
