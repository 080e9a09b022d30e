"""The detector's settings, one entry each: name, type, default, limits, choices and one doc line.

The single source of every setting's facts. detector/config.py (the JSON config) and policy/config.py
(PolicyConfig) take their defaults and checks from here; the role's defaults/main.yml, meta/argument_specs.yml
and docs/variables.md are generated from it by scripts/variables_table.py (a unit test fails when they are
stale), and the role's validate step asks ``errors()`` through the ``role_errors`` filter, so the role and
the library cannot disagree. Adding a setting = adding one ``Setting`` below (and its line in the role's
vars/main.yml ``mail_bruteforce_guard__config``), then ``scripts/variables_table.py --write``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from .addresses import parse_networks
from .errors import ConfigError
from .limits import MAX_DURATION

ROLE_PREFIX = "mail_bruteforce_guard_"
MAX_COUNT = 1_000_000  # failures, addresses or connections a rule may wait for
MAX_PORTS = 15  # iptables' multiport match takes at most 15 ports
MAX_MAXELEM = 4294967295  # ipset's largest set size
SET_NAME = re.compile(r"[A-Za-z0-9_.-]{1,31}\Z")  # an ipset (and nftables set) name
CHAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:+-]{0,27}\Z")  # an iptables user chain (28 at most)
# what hook_trusted_chains may not name: verdicts, built-in chains, our own chains
_NOT_TRUSTED = re.compile(r"(ACCEPT|DROP|REJECT|RETURN|N?FQUEUE|QUEUE|INPUT|FORWARD|OUTPUT)\Z|MBG-", re.I)
_ROLE_PATH = re.compile(r"/\S*[^/\s]\Z")  # absolute, no white space: it is written into systemd units
# Directories of the system or of other software: the role sets a state directory's mode to 0700 (and
# removes it on uninstall with purge), so it must be one of its own, never one of these (a hostile review
# made /var/lib 0700 with mail_bruteforce_guard_state_dir=/var/lib).
SYSTEM_DIRS = frozenset(
    (
        "/",
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/home",
        "/lib",
        "/lib32",
        "/lib64",
        "/media",
        "/mnt",
        "/opt",
        "/proc",
        "/root",
        "/run",
        "/sbin",
        "/srv",
        "/sys",
        "/tmp",
        "/usr",
        "/usr/bin",
        "/usr/lib",
        "/usr/lib64",
        "/usr/libexec",
        "/usr/local",
        "/usr/local/bin",
        "/usr/local/etc",
        "/usr/local/lib",
        "/usr/local/sbin",
        "/usr/local/share",
        "/usr/sbin",
        "/usr/share",
        "/var",
        "/var/cache",
        "/var/lib",
        "/var/local",
        "/var/log",
        "/var/mail",
        "/var/opt",
        "/var/run",
        "/var/spool",
        "/var/tmp",
        "/var/www",
    )
)
_SAME = object()


class Setting(NamedTuple):
    """One setting. ``kind``: int, number (int or float), bool, str, path, list or dict; ``elements`` of a
    list: str, path, network, port or dict (objects checked further by their own module, as Config does for
    ``journal_trusted``). ``minimum``/``maximum`` bound a number or a list's length (distinct ports).
    ``rule`` names an extra check: ``set_name``; ``optional`` (a str may be empty: the feature off);
    ``chain_name`` (a list of iptables user chain names, not a verdict, built-in chain or one of ours).
    ``role``: the role has the variable ``mail_bruteforce_guard_<name>``; ``role_default`` when it differs
    from the library's (``logs``: the role detects the log). ``role_path``: the role also wants an absolute
    path without spaces (systemd units)."""

    name: str
    kind: str
    default: Any
    doc: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple = ()
    elements: str = ""
    rule: str = ""
    role: bool = True
    role_default: Any = _SAME
    role_path: bool = False

    @property
    def var(self) -> str:
        """The role variable."""
        return ROLE_PREFIX + self.name

    @property
    def default_for_role(self) -> Any:
        return self.default if self.role_default is _SAME else self.role_default


def _count(name: str, default: int, doc: str, minimum: int = 1, maximum: int = MAX_COUNT) -> Setting:
    return Setting(name, "int", default, doc, minimum, maximum)


def _seconds(name: str, default: int, doc: str) -> Setting:
    return Setting(name, "int", default, doc, 1, MAX_DURATION)


# A table, one setting an entry: name, kind and default on its first line.
# fmt: off
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "mode", "str", "enforce",
        "C(enforce) bans offenders through the ban hook; C(monitor) only reports them and changes nothing in"
        " the firewall (no hook, sets, table or lockdown). Bans decided in monitor are remembered and applied"
        " when the mode becomes C(enforce).",
        choices=("enforce", "monitor"),
    ),
    Setting(
        "logs", "list", ["/var/log/mail.log"],
        "Mail log files to read. Empty means detect them - Plesk's /usr/local/psa/var/log/maillog when"
        " present, else /var/log/mail.log (Debian) or /var/log/maillog (RedHat), else the journal.",
        elements="path", role_default=[], role_path=True,
    ),
    Setting("journal", "bool", False, "Also read the systemd journal (forced on when no log file is found)."),
    Setting(
        "journal_trusted", "dict", {},
        "Per mail daemon, the journal senders (users, units, executables) whose entries may speak for it;"
        " a daemon named here replaces its default rule (detector/journaltrust.py checks it).",
        role=False,
    ),
    Setting(
        "read_rotated", "bool", False,
        "On a first run (or --from-start), read the rotated logs (.1, .gz) first; the CLI's --rotated.",
        role=False,
    ),
    _count("maxretry", 5, "Failures within I(findtime) that get an address banned."),
    _seconds("findtime", 600, "The fast window in seconds."),
    _seconds("bantime", 3600, "First ban duration in seconds."),
    Setting(
        "bantime_multiplier", "number", 2,
        "Each further ban of the same address lasts this many times longer.",
        minimum=1, maximum=1000,
    ),
    _seconds("bantime_max", 604800, "Upper bound of an escalated ban in seconds; at least I(bantime)."),
    _count(
        "slow_maxretry", 20,
        "Failures within I(slow_findtime) that get a slow, low-rate attacker banned; 0 switches the rule"
        " off.",
        minimum=0,
    ),
    _seconds("slow_findtime", 86400, "The slow window in seconds; at least I(findtime)."),
    _count(
        "targeted_min_ips", 5,
        "Distinct addresses failing on one account within I(targeted_findtime) that flag it as targeted;"
        " 0 switches the alert off.",
        minimum=0,
    ),
    _seconds("targeted_findtime", 3600, "Window in seconds for the targeted-account alert."),
    _count(
        "compromised_min_failures", 3,
        "Failures from an address before a success on the same account flag it as compromised; 0 switches"
        " the alert off.",
        minimum=0,
    ),
    _count(
        "ipv6_prefix", 128,
        "IPv6 offenders are counted and banned per prefix of this length (64 bans a whole /64).",
        minimum=1, maximum=128,
    ),
    _count(
        "known_good_days", 30,
        "Days a successful login is remembered per (address, username), at most 200000 pairs (the least"
        " recently seen go first); known users' failures from their own address are a stale client's, and"
        " pre-auth abuse is never counted for such an address. 0 switches the memory and the rules built on"
        " it off.",
        minimum=0, maximum=3650,
    ),
    _count(
        "stale_maxretry", 200,
        "Failures of known users from their own address (a client with an old password) allowed per address"
        " within I(stale_findtime) before a ban; they never count toward the usual windows. One stale_client"
        " alert (syslog) per user and address once they reach I(maxretry). 0 counts such failures as usual.",
        minimum=0,
    ),
    _seconds("stale_findtime", 86400, "Window (seconds) of I(stale_maxretry)."),
    _count(
        "shared_min_users", 3,
        "Known users that make an address shared (an office NAT, a VPN): there a known user's failures stay"
        " a stale client's even when others fail for unknown usernames, which count as usual. 0 switches"
        " shared addresses off.",
        minimum=0,
    ),
    _count(
        "preauth_maxretry", 20,
        "Connections that never tried a password (Dovecot's plaintext auth refused, no auth attempts) from"
        " one address within I(preauth_findtime) that ban it; never counted for an address with a known"
        " user. 0 switches the rule off.",
        minimum=0,
    ),
    _seconds("preauth_findtime", 600, "Window (seconds) of I(preauth_maxretry)."),
    Setting(
        "ignore", "list", [],
        "Addresses or networks (CIDR) never banned and reported as C(ignored). Loopback always is.",
        elements="network",
    ),
    Setting(
        "protected", "list", [],
        "Addresses or networks (CIDR) that are never banned and always accepted by the firewall before any"
        " drop (admin hosts, monitoring). The controller's address is added when I(protect_controller) is"
        " true.",
        elements="network",
    ),
    Setting(
        "firewall_backend", "str", "auto",
        "How bans are enforced. C(auto) picks C(nftables) (table inet mail_bruteforce_guard) when the host's"
        " firewall is nftables-native (firewalld active, nftables.service enabled with a ruleset, or no"
        " ipset) and C(iptables) (ipsets and the chain MBG-BAN) otherwise; C(ipset) is the old name of"
        " C(iptables).",
        choices=("auto", "iptables", "nftables", "ipset"),
    ),
    Setting(
        "ban_hook", "bool", True,
        "In enforce mode the library attaches the ban hook - one jump at the top of INPUT (iptables and"
        " ip6tables) to its chain MBG-BAN, or its own nftables table - and puts it back when another tool's"
        " reload removed it. C(false) keeps the ban sets only, for admins who match them in their own rules.",
    ),
    Setting(
        "ban_scope", "str", "mail",
        "A banned address is dropped on I(mail_ports) only (C(mail), as fail2ban's mail jails; the websites"
        " and panel of a shared host stay reachable) or on every port (C(all)).",
        choices=("mail", "all"),
    ),
    Setting(
        "hook_trusted_chains", "list", [],
        "iptables user chains (INPUT jump targets) whose accepts may sit above the ban hook's jump: a jump to"
        " one of them never makes the guard move its jump back to INPUT 1 (e.g. C(cali-INPUT) of Calico,"
        " which re-inserts its jump at INPUT 1 at every refresh). Without it such a tool and the guard would"
        " move each other's jumps: the guard stops after 3 moves in a row and reports the hook C(contested)."
        " Banned addresses may get through what these chains accept.",
        maximum=64, elements="str", rule="chain_name",
    ),
    Setting(
        "mail_ports", "list", [25, 465, 587, 110, 995, 143, 993, 4190],
        "Mail ports of the ban scope C(mail) and admitted by the lockdown.",
        minimum=1, maximum=MAX_PORTS, elements="port",
    ),
    _count(
        "syn_rate", 30,
        "New connections per minute one source may open to each of I(syn_ports) before its SYNs are dropped"
        " (part of the ban hook); 0 switches the limit off.",
        minimum=0,
    ),
    _count("syn_burst", 60, "Burst allowed above I(syn_rate)."),
    Setting(
        "syn_ports", "list", [465, 587, 110, 995, 143, 993, 4190],
        "Ports of the per-source SYN limit - the client ports, not 25, where big senders open many"
        " connections from few addresses.",
        minimum=0, maximum=MAX_PORTS, elements="port",
    ),
    _count(
        "syn_rate_smtp", 600,
        "Per-source limit (new connections per minute) for port 25, used only when 25 is in I(syn_ports);"
        " 0 switches it off.",
        minimum=0,
    ),
    Setting(
        "ipset_v4", "str", "mbg_ban_v4",
        "Name of the IPv4 ban set (1-31 of A-Z a-z 0-9 _ . -).",
        rule="set_name",
    ),
    Setting(
        "ipset_v6", "str", "mbg_ban_v6",
        "Name of the IPv6 ban set (1-31 of A-Z a-z 0-9 _ . -); differs from I(ipset_v4).",
        rule="set_name",
    ),
    _count("ipset_maxelem", 1048576, "Capacity of each ban set.", minimum=1, maximum=MAX_MAXELEM),
    Setting(
        "state_dir", "path", "/var/lib/mail-bruteforce-guard",
        "Detector state directory (mode 0700; the only path the sandboxed units may write).",
        rule="own_dir", role_path=True,
    ),
    Setting("syslog", "bool", True, "Log every ban and unban to syslog."),
    # alerts, metrics, health (issue 16: notify/, detector/metrics.py, detector/health.py; docs/alerts.md)
    Setting(
        "notify", "list", [],
        "Notifiers, any number of each; every alert is an AUTHPRIV syslog line either way (docs/alerts.md)."
        " Each has a C(type) (C(email), C(webhook) or C(exec)) and optionally C(name), C(events) and"
        " C(min_severity). C(email) through the host's MTA (C(via=sendmail), the default, to C(root)) or an"
        " SMTP relay (C(via=smtp), C(smtp_host), C(smtp_port), C(starttls), C(username), C(password_file),"
        " C(ca_file); a password only over TLS); C(webhook) a JSON POST to C(url), or to the URL held in"
        " C(url_file) when the URL itself is a secret (C(timeout), C(retries), C(secret_file) for an"
        " HMAC-SHA256 header; redirects are never followed); C(exec) a C(command) (argv list, no shell) that"
        " gets the JSON on stdin."
        " notify/settings.py checks each entry.",
        elements="dict",
    ),
    _count(
        "alert_interval", 3600,
        "Seconds during which an account (C(compromised), C(targeted)) or a failing component is told once;"
        " 0 tells every occurrence.",
        minimum=0, maximum=MAX_DURATION,
    ),
    _count(
        "alert_rate_limit", 30,
        "Messages per notifier and hour; what is due beyond it goes out later as one digest.",
        maximum=100_000,
    ),
    _count(
        "alert_digest_min", 5,
        "This many alerts due at once for a notifier go out as one digest message.",
        minimum=2, maximum=100_000,
    ),
    Setting(
        "metrics_file", "str", "",
        "Prometheus textfile written after each scan (node_exporter's textfile collector), e.g."
        " C(/var/lib/prometheus/node-exporter/mail_bruteforce_guard.prom). Empty = none.",
        rule="optional", role_path=True,
    ),
    _count(
        "scan_interval_seconds", 60,
        "The scan timer's period in seconds (I(scan_interval) in seconds); C(status --check) fails when the"
        " last successful scan is older than twice this.",
        maximum=7 * 86400,
    ),
    # the follow daemon (detector/follow.py)
    _count(
        "follow_save_interval", 5,
        "The follow daemon saves its state this often (seconds) when something changed, and on stop; after"
        " a crash it re-reads at most the lines of this last interval (never counting one twice).",
        maximum=60,
    ),
    Setting(
        "follow_poll_interval", "number", 0.25,
        "Seconds between two looks at the log files when the follow daemon cannot use inotify (a stat poll).",
        minimum=0.05, maximum=0.25,
    ),
    _count(
        "follow_hook_interval", 15,
        "Seconds between the follow daemon's cheap checks that the ban hook is still attached (re-attached"
        " when another tool's reload removed it).",
        maximum=3600,
    ),
)
# fmt: on

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
# (key, other): key must be >= other (numbers) or differ from it (names); checked once both are valid.
AT_LEAST = (("bantime_max", "bantime"), ("slow_findtime", "findtime"))
DIFFERENT = (("ipset_v6", "ipset_v4"),)


def defaults() -> dict[str, Any]:
    """Every setting's default (fresh lists and dicts: callers may change them)."""
    return {s.name: _fresh(s.default) for s in SETTINGS}


def _fresh(value: Any) -> Any:
    return list(value) if isinstance(value, list) else dict(value) if isinstance(value, dict) else value


_NOUNS = {
    "str": "strings",
    "path": "strings",
    "network": "strings",
    "port": "port numbers",
    "dict": "objects",
}


def problem(setting: Setting, value: Any, for_role: bool = False) -> str | None:  # noqa: PLR0911 - one return per setting kind
    """What is wrong with ``value`` for ``setting`` ("must be >= 1, got 0"), None when it is good.

    ``for_role`` adds the role's own rule (absolute paths without spaces: the role writes them into systemd
    units; the detector run by hand takes relative ones)."""
    kind = setting.kind
    if kind == "bool":
        return None if isinstance(value, bool) else f"must be true or false, got {value!r}"
    if kind in ("int", "number"):
        return _number_problem(setting, value)
    if kind == "dict":
        return None if isinstance(value, dict) else f"must be a mapping, got {value!r}"
    if kind == "list":
        return _list_problem(setting, value, for_role)
    if setting.choices:
        if isinstance(value, str) and value in setting.choices:
            return None
        names = [repr(c) for c in setting.choices]
        return f"must be {', '.join(names[:-1])} or {names[-1]}, got {value!r}"
    if not isinstance(value, str):
        return f"must be a string, got {value!r}"
    if not value:
        return None if setting.rule == "optional" else "must not be empty"
    if setting.rule == "set_name" and not SET_NAME.match(value):
        return f"must be 1-31 letters, digits, '_', '.' or '-', got {value!r}"
    if for_role and setting.role_path and not _ROLE_PATH.match(value):
        return f"must be an absolute path without spaces, got {value!r}"
    if for_role and setting.rule == "own_dir" and "/" + value.strip("/") in SYSTEM_DIRS | {"/"}:
        return f"must be a directory of its own (the role makes it 0700), not the system's {value!r}"
    return None


def _number_problem(setting: Setting, value: Any) -> str | None:
    kinds = (int, float) if setting.kind == "number" else (int,)
    if isinstance(value, bool) or not isinstance(value, kinds):
        return f"must be {'a number' if setting.kind == 'number' else 'an integer'}, got {value!r}"
    if setting.minimum is not None and value < setting.minimum:
        return f"must be >= {setting.minimum}, got {value}"
    if setting.maximum is not None and value > setting.maximum:
        return f"must be <= {setting.maximum}, got {value}"
    return None


def _list_problem(setting: Setting, value: Any, for_role: bool) -> str | None:  # noqa: PLR0911, PLR0912 - one return per element check
    noun = _NOUNS[setting.elements]
    if not isinstance(value, (list, tuple)):
        return f"must be a list of {noun}, got {value!r}"
    if setting.elements == "port":
        for port in value:
            if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
                return f"must hold port numbers 1-65535, got {port!r}"
        count = len(set(value))
    else:
        kind = dict if setting.elements == "dict" else str
        for item in value:
            if not isinstance(item, kind):
                return f"must be a list of {noun}, got item {item!r}"
        count = len(value)
    if setting.rule == "chain_name":
        for item in value:
            if not CHAIN_NAME.match(item) or _NOT_TRUSTED.match(item):
                return f"must hold iptables user chain names (not a verdict, INPUT or MBG-*), got {item!r}"
    if setting.elements == "path":
        for item in value:
            if not item:
                return "holds an empty path"
            if for_role and setting.role_path and not _ROLE_PATH.match(item):
                return f"must hold absolute paths without spaces, got {item!r}"
    if setting.elements == "network":
        try:
            parse_networks(list(value))
        except ConfigError as err:
            return f"holds an {err}"
    if setting.minimum and count < setting.minimum:
        return "must not be empty"
    if setting.maximum is not None and count > setting.maximum:
        return f"holds more than {setting.maximum} {'ports' if setting.elements == 'port' else 'entries'}"
    return None


def _role_label(name: str) -> str:
    return f"{ROLE_PREFIX}{name}:"


def _role_name(name: str) -> str:
    return ROLE_PREFIX + name


def _config_label(name: str) -> str:
    return f"config key {name!r}"


def errors(values: Mapping[str, Any], for_role: bool = False) -> list[str]:
    """One message per bad setting among ``values`` (keys without the role prefix; keys that are not settings
    are passed over), then the relations between settings. ``for_role``: name the role's variables
    (``mail_bruteforce_guard_maxretry: must be >= 1, got 0``) and apply its path rule, see ``problem``."""
    label, ref = (_role_label, _role_name) if for_role else (_config_label, repr)
    out = []
    bad = set()
    for name, value in values.items():
        setting = BY_NAME.get(name)
        found = setting and problem(setting, value, for_role)
        if found:
            bad.add(name)
            out.append(f"{label(name)} {found}")
    for key, other in AT_LEAST:
        if key in values and other in values and not {key, other} & bad and values[key] < values[other]:
            out.append(f"{label(key)} must be >= {ref(other)}, got {values[key]!r} < {values[other]!r}")
    for key, other in DIFFERENT:
        if key in values and other in values and not {key, other} & bad and values[key] == values[other]:
            out.append(f"{label(key)} must differ from {ref(other)}, both are {values[key]!r}")
    return out


def check(values: Mapping[str, Any]) -> None:
    """Raise ConfigError (one line) for the first bad setting among ``values``."""
    found = errors(values)
    if found:
        raise ConfigError(found[0])
