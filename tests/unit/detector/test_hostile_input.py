"""Issue 15: hostile input and damaged state reproduced through the detector's api (each test failed on the
code before its fix): forged addresses from cut lines and untrusted journal entries, damaged state entries,
escalation overflow, absurd durations, compressed-at-once rotation."""

from __future__ import annotations

import gzip
import json
import os

import pytest
from mail_bruteforce_guard.detector import api
from mail_bruteforce_guard.detector.config import Config
from mail_bruteforce_guard.detector.logsource import MAX_LINE, FileSource
from mail_bruteforce_guard.detector.state import StateDir
from mail_bruteforce_guard.errors import ConfigError
from mail_bruteforce_guard.policy.config import PolicyConfig
from mail_bruteforce_guard.policy.tracker import Tracker, escalated
from mbg_detector_lines import T0, journal_file, pf_fail, stamp

LATER = T0 + 3600


@pytest.fixture
def env(tmp_path):
    log = tmp_path / "mail.log"
    log.write_text("")
    # monitor: a scan without dry_run saves its state and never touches this machine's firewall (in enforce
    # mode it would add its bans to the host's own ipsets and INPUT chain)
    cfg = Config(
        {"logs": [str(log)], "state_dir": str(tmp_path / "state"), "syslog": False, "mode": "monitor"}
    )
    return cfg, log


def scan(cfg, warnings=None, **kw):
    kw.setdefault("dry_run", True)
    kw.setdefault("now", LATER)
    return api.scan(cfg, warn=(warnings if warnings is not None else []).append, **kw)


def banned(result) -> set:
    return {o["ip"] for o in result["offenders"] if o["decision"] == "ban"}


# ---- item 3: a line cut by the size limit never yields an address --------------------------------------


def test_lines_over_the_size_limit_give_no_address_and_are_counted(env):
    cfg, log = env
    user = ", rip=192.0.2.10" * ((MAX_LINE + 100_000) // 16)  # 1.1 MB: the real rip= is past the cut
    with open(log, "w") as fh:
        for i in range(5):
            fh.write(
                f"{stamp(i)} mx1 dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs):"
                f" user=<{user}>, method=PLAIN, rip=203.0.113.77, lip=10.0.0.2, session=<s{i}>\n"
            )
    result = scan(cfg)
    assert banned(result) == set()
    assert "192.0.2.10" not in {o["ip"] for o in result["offenders"]}
    assert result["stats"]["lines_too_long"] == 5
    assert result["stats"]["lines"] == 5


# ---- item 4: journal entries must come from the daemon they claim to be ---------------------------------

PHP = {
    "_UID": "1000",
    "_COMM": "php-fpm8.2",
    "_EXE": "/usr/sbin/php-fpm8.2",
    "_SYSTEMD_UNIT": "php8.2-fpm.service",
}


def forged(ip: str, i: int) -> str:
    return f"warning: unknown[{ip}]: SASL LOGIN authentication failed: x, sasl_username=u{i}"


def journal_cfg(tmp_path, **extra) -> Config:
    return Config(
        {"logs": [], "journal": True, "state_dir": str(tmp_path / "state"), "syslog": False, **extra}
    )


def test_journal_entries_from_a_local_account_are_rejected_and_counted(tmp_path):
    journal = journal_file(
        tmp_path, [("postfix/smtpd", 40 + i, 2, forged("192.0.2.50", i), PHP) for i in range(5)]
    )
    warnings = []
    result = api.scan(
        journal_cfg(tmp_path),
        dry_run=True,
        now=1795000000 + 60,
        warn=warnings.append,
        journal_command=["journalctl", f"--file={journal}"],
    )
    assert banned(result) == set()
    assert result["stats"]["journal_rejected"] == 5
    assert len([w for w in warnings if "claim to be postfix" in w]) == 1  # warned once
    assert "_UID=1000" in warnings[0]


@pytest.mark.parametrize(
    ("writer", "accepted"),
    [
        ({"_UID": "0", "_SYSTEMD_UNIT": "postfix@-.service"}, True),
        ({"_UID": "0", "_EXE": "/usr/lib/postfix/sbin/smtpd"}, True),
        (
            {"_UID": "0", "_EXE": "/usr/bin/python3.11", "_SYSTEMD_UNIT": "cron.service"},
            False,
        ),  # root, not postfix
        ({"_UID": "1000", "_EXE": "/usr/lib/postfix/sbin/smtpd"}, False),  # a user's copy of the binary
        ({"_EXE": "/usr/lib/postfix/sbin/smtpd"}, False),  # no _UID: never trusted
    ],
)
def test_journal_trust_needs_the_daemons_user_and_its_unit_or_executable(tmp_path, writer, accepted):
    journal = journal_file(
        tmp_path, [("postfix/smtpd", 40 + i, 2, forged("192.0.2.51", i), writer) for i in range(5)]
    )
    result = api.scan(
        journal_cfg(tmp_path),
        dry_run=True,
        now=1795000000 + 60,
        journal_command=["journalctl", f"--file={journal}"],
    )
    assert (banned(result) == {"192.0.2.51"}) is accepted
    assert result["stats"]["journal_rejected"] == (0 if accepted else 5)


def test_journal_trusted_set_is_configurable(tmp_path):
    journal = journal_file(
        tmp_path, [("postfix/smtpd", 40 + i, 2, forged("192.0.2.52", i), PHP) for i in range(5)]
    )
    trusted = {"postfix": {"users": ["1000"], "units": [], "executables": ["/usr/sbin/php-fpm*"]}}
    result = api.scan(
        journal_cfg(tmp_path, journal_trusted=trusted),
        dry_run=True,
        now=1795000000 + 60,
        journal_command=["journalctl", f"--file={journal}"],
    )
    assert banned(result) == {"192.0.2.52"}
    with pytest.raises(ConfigError, match="journal_trusted"):
        journal_cfg(tmp_path, journal_trusted={"sshd": {}})
    with pytest.raises(ConfigError, match=r"postfix\.users"):
        journal_cfg(tmp_path, journal_trusted={"postfix": {"users": "root"}})


# ---- item 6: damaged values inside a valid state file ------------------------------------------------------

DAMAGE = [
    ("bans", "198.51.100.1", "a string"),
    ("bans", "198.51.100.2", {"until": "abc"}),
    ("bans", "198.51.100.3", {"until": None}),
    ("bans", "198.51.100.4", {"until": float("inf")}),
    ("logs", "/var/log/x.log", {"offset": "12"}),
    ("logs", "/var/log/y.log", {"offset": -1}),
    ("logs", "/var/log/s.log", {"offset": 0, "skip": "false"}),  # would skip the next real line
    ("logs", "/var/log/c.log", {"offset": 0, "copy": [1, 2]}),  # would re-read a rotated file
    ("records", "203.0.113.99", {"first": 1}),
]


def damage_saved_state(cfg, log, edit) -> None:
    """Six failures scanned and saved (monitor mode, see env: no firewall is touched), then ``edit(data)``
    applied to state.json, as a damaged or forged file would hold it."""
    log.write_text("".join(pf_fail(i) for i in range(6)))
    scan(cfg, dry_run=False)
    state_file = os.path.join(cfg.state_dir, "state.json")
    with open(state_file) as fh:
        data = json.load(fh)
    edit(data)
    with open(state_file, "w") as fh:
        json.dump(data, fh)


def test_damaged_entries_are_set_aside_and_the_rest_kept(env):
    cfg, log = env

    def damage(data: dict) -> None:
        data["bans"]["192.0.2.200"] = {"until": LATER + 3600, "reason": "kept", "count": 1, "since": LATER}
        for section, key, value in DAMAGE:
            (data["tracker"]["records"] if section == "records" else data[section])[key] = value
        data["tracker"]["clock"] = "yesterday"

    damage_saved_state(cfg, log, damage)
    for read in (api.status, api.report):  # read-only: warn, change nothing
        warnings = []
        read(cfg, now=LATER, warn=warnings.append)
        assert len(warnings) == 1 and "10 damaged entries" in warnings[0]
    warnings = []
    result = scan(cfg, warnings)
    assert len(warnings) == 1 and "10 damaged entries (logs: 4, bans: 4, tracker: 2)" in warnings[0]
    aside = [p for p in os.listdir(cfg.state_dir) if p.startswith("state.json.damaged-")]
    assert len(aside) == 1
    with open(os.path.join(cfg.state_dir, aside[0])) as fh:
        kept_aside = json.load(fh)
    assert set(kept_aside["bans"]) == {"198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"}
    assert "203.0.113.5" in {o["ip"] for o in api.report(cfg, now=LATER)["offenders"]}
    assert "192.0.2.200" in {b["address"] for b in api.status(cfg, now=LATER)["bans"]}
    assert result["stats"]["lines"] == 0  # the log's sound position was kept
    warnings = []
    scan(cfg, warnings)
    assert warnings == []  # set aside once: the saved state is sound again


@pytest.mark.parametrize("version", [0, None, 2])
def test_state_of_another_version_keeps_its_bans(tmp_path, version):
    state = tmp_path / "state"
    state.mkdir()
    ban = {"until": LATER + 600, "reason": "old", "count": 2, "since": T0, "enforced": True}
    data = {"bans": {"192.0.2.77": ban}, "tracker": {"records": "old shape"}, "logs": {"/x": [1, 2]}}
    if version is not None:
        data["version"] = version
    (state / "state.json").write_text(json.dumps(data))
    warnings = []
    loaded = StateDir(str(state), warnings.append).load()
    assert loaded["bans"] == {"192.0.2.77": ban}
    assert loaded["logs"] == {} and loaded["tracker"] is None
    assert len(warnings) == 1 and "kept its 1 bans" in warnings[0]


def test_window_counts_stay_integers_after_a_reload():
    tracker = Tracker(PolicyConfig())
    from mail_bruteforce_guard.parser.events import AUTH_FAILURE, Event

    tracker.feed([Event(1, T0 + i, "192.0.2.9", AUTH_FAILURE, "postfix", "smtp", "u") for i in range(4)])
    again = Tracker(PolicyConfig())
    again.load_state(json.loads(json.dumps(tracker.to_state())))
    again.start_round()
    again.feed([Event(2, T0 + 9, "192.0.2.9", AUTH_FAILURE, "postfix", "smtp", "u")])
    (new,) = again.take_new_bans()
    assert new.reason.startswith("5 failures in")


# ---- items 7 and 8: escalation and absurd durations ---------------------------------------------------


def test_escalation_saturates_instead_of_overflowing():
    assert escalated(3600, 2, 0, 604800) == 3600
    assert escalated(3600, 2, 3, 604800) == 28800
    assert escalated(3600, 2.0, 1024, 604800) == 604800
    assert escalated(3600, 1.5, 10**9, 604800) == 604800
    assert escalated(3600, 1, 10**9, 604800) == 3600
    tracker = Tracker(PolicyConfig(bantime_multiplier=2.0, maxretry=1))
    from mail_bruteforce_guard.parser.events import AUTH_FAILURE, Event

    rec_events = [
        Event(i, T0 + i * 700000, "192.0.2.8", AUTH_FAILURE, "postfix", "smtp", "u") for i in range(1030)
    ]
    tracker.feed(rec_events)
    assert tracker.bans_of("192.0.2.8") == 1030


@pytest.mark.parametrize(
    "values",
    [
        {"bantime": 10**26, "bantime_max": 10**26},
        {"bantime_max": 10**20},
        {"findtime": 10**12},
        {"slow_findtime": 60},
    ],
)
def test_absurd_durations_are_refused_at_validation(values):
    with pytest.raises(ConfigError, match="config key"):
        PolicyConfig(**values).validate()


def test_manual_ban_of_absurd_length_is_refused_before_anything_is_saved(env):
    cfg, _ = env
    for kw in ({"duration": 10**12}, {"until": 1e20}, {"until": LATER + 20 * 365 * 86400}):
        with pytest.raises(ConfigError, match="ten years"):
            api.ban(cfg, ["192.0.2.1"], dry_run=True, now=LATER, warn=[].append, **kw)
    assert not os.path.exists(os.path.join(cfg.state_dir, "state.json"))


# ---- item 14: rotation that compresses at once --------------------------------------------------------


def test_rotation_with_immediate_compression_keeps_the_last_line(tmp_path):
    log = tmp_path / "mail.log"
    log.write_text("one\ntwo\n")
    first = FileSource(str(log))
    assert [t for _n, t in first] == ["one", "two"]
    with open(log, "a") as fh:
        fh.write("three: written just before rotation\n")
    with (
        open(log, "rb") as src,
        gzip.open(str(log) + ".1.gz", "wb") as dst,
    ):  # logrotate without delaycompress
        dst.write(src.read())
    log.unlink()
    log.write_text("four\n")
    warnings = []
    second = FileSource(str(log), first.position, warn=warnings.append)
    assert [t for _n, t in second] == ["three: written just before rotation", "four"]
    assert warnings == []


# ---- item 13: a lock file that is a symlink --------------------------------------------------------


def test_a_symlinked_lock_file_is_refused(tmp_path):
    from mail_bruteforce_guard.errors import MbgError

    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    target = tmp_path / "elsewhere"
    target.write_text("keep me")
    (state / "state.lock").symlink_to(target)
    with pytest.raises(MbgError, match=r"refusing lock file .*symbolic link"):
        StateDir(str(state)).lock()
    assert target.read_text() == "keep me"


# ---- item 10: terminal escapes in text output -------------------------------------------------------


def test_text_output_escapes_control_characters(env, capsys):
    from mail_bruteforce_guard.detector import cli

    cfg, log = env
    log.write_text("".join(pf_fail(i, user="evil\x1b[2J\x1b]0;owned\x07") for i in range(6)))
    for argv in (
        ["scan", "--log", str(log), "--state", cfg.state_dir, "--dry-run", "--now", "2026-11-26T09:00:00Z"],
        ["report", "--state", cfg.state_dir, "--now", "2026-11-26T09:00:00Z"],
        ["parse", str(log), "--now", "2026-11-26T09:00:00Z"],
    ):
        assert cli.main(argv) == 0
        out = capsys.readouterr().out
        assert "evil\\x1b[2J\\x1b]0;owned\\x07" in out, argv
        assert "\x1b" not in out and "\x07" not in out


def test_text_output_escapes_line_separators_and_bidi_overrides(env, capsys):
    """A right-to-left override in a username reorders what a terminal shows after it (another address may
    appear), U+2028 starts a new line in many viewers: both come out escaped, as control characters do."""
    from mail_bruteforce_guard.detector import cli

    _cfg, log = env
    log.write_text("".join(pf_fail(i, user="evil\u202e5.3.2.1\u2028x\u2066") for i in range(6)))
    assert cli.main(["parse", str(log), "--now", "2026-11-26T09:00:00Z"]) == 0
    out = capsys.readouterr().out
    assert "evil\\u202e5.3.2.1\\u2028x\\u2066" in out
    assert not {"\u202e", "\u2028", "\u2066"} & set(out)


# ---- review of issue 15: integers too large for a float -------------------------------------------------
# JSON has no bound on integers: json.load reads 10**400 as an int, and math.isfinite() or float() of it
# raise OverflowError. Each value below made every later status, report, scan and restore fail.

HUGE = 10**400


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("bans", "198.51.100.9"), {"until": HUGE, "reason": "x", "count": 1, "since": T0}),
        (("bans", "198.51.100.9"), {"until": LATER + 60, "reason": "x", "count": 1, "since": HUGE}),
        (("saved_at",), HUGE),
        (("tracker", "clock"), HUGE),
        (("correlator", "last_time"), HUGE),
        (("correlator", "genuine", "203.0.113.5"), HUGE),
        (("correlator", "sessions", "mx1|1"), ["203.0.113.5", T0, float("inf"), 0, None]),
    ],
)
def test_a_huge_integer_in_the_state_poisons_no_later_run(env, where, value):
    cfg, log = env

    def poison(data: dict) -> None:
        node = data
        for key in where[:-1]:
            node = node.setdefault(key, {})
        node[where[-1]] = value

    damage_saved_state(cfg, log, poison)
    api.status(cfg, now=LATER, warn=[].append)
    api.report(cfg, now=LATER, warn=[].append)
    scan(cfg)
    scan(cfg, dry_run=False)
    scan(cfg)


def test_a_manual_ban_ending_at_a_huge_integer_is_a_clear_error(env):
    cfg, _ = env
    with pytest.raises(ConfigError, match="ten years"):
        api.ban(cfg, ["192.0.2.1"], dry_run=True, now=LATER, warn=[].append, until=HUGE)


# ---- review of issue 15: damaged events held by the correlator -------------------------------------------
# The correlator's from_dict converted the numbers of a held event but took its other fields as they were:
# a held event with a time that is a string, a username that is a list or a time far before 1970 failed
# every later scan when it was released (TypeError, ValueError, OverflowError), and an "address" that is no
# address was reported as an offender.

HELD = [5, T0 + 100, T0 + 100, "203.0.113.5", "auth_failure", "postfix", "smtp", "u", 1, 12, "mx1", None, "",
        "pf", False, False]  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value"),
    [(1, "abc"), (1, float("nan")), (1, -1e300), (3, "garbage"), (5, 7), (7, ["x"])],
)
def test_a_damaged_held_event_poisons_no_later_scan(env, field, value):
    cfg, log = env
    item = list(HELD)
    item[field] = value
    damage_saved_state(cfg, log, lambda data: data["correlator"].__setitem__("held", [item]))
    for _ in range(2):
        result = scan(cfg, dry_run=False)
        assert "garbage" not in {o["ip"] for o in result["offenders"]}


def test_journal_entries_over_the_size_limit_are_skipped_and_counted(tmp_path):
    """The journal's own size check (the file reader's has its test above): a trusted entry longer than
    MAX_LINE is neither parsed nor lost from the stats."""
    user = ", rip=192.0.2.10" * ((MAX_LINE + 100_000) // 16)
    long_line = (
        "imap-login: Disconnected (auth failed, 1 attempts in 2 secs):"
        f" user=<{user}>, method=PLAIN, rip=203.0.113.78, lip=10.0.0.2"
    )
    journal = journal_file(tmp_path, [("dovecot", 40 + i, 2, long_line) for i in range(5)])
    result = api.scan(
        journal_cfg(tmp_path),
        dry_run=True,
        now=1795000000 + 60,
        journal_command=["journalctl", f"--file={journal}"],
    )
    assert result["offenders"] == []
    assert result["stats"]["lines_too_long"] == 5


def test_journal_entries_over_4096_bytes_are_read(tmp_path):
    """journalctl -o json writes a field over 4096 bytes as null unless given --all: a client's long SASL
    username made its failures vanish from a journal scan."""
    entries = [
        ("postfix/smtpd", 40 + i, 2, forged("192.0.2.53", i) + "x" * 5000)  # written by postfix itself
        for i in range(5)
    ]
    result = api.scan(
        journal_cfg(tmp_path),
        dry_run=True,
        now=1795000000 + 60,
        journal_command=["journalctl", f"--file={journal_file(tmp_path, entries)}"],
    )
    assert banned(result) == {"192.0.2.53"}
