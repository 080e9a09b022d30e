"""``mail-bruteforce-guard``: the command line over detector/api.py.

Exit codes: 0 success, 1 runtime error, 2 usage or config error, 3 another run holds the state lock,
130 interrupted. Errors are one line on stderr (``mail-bruteforce-guard: error: ...``), never a traceback
(set MBG_DEBUG=1 to see one for an unexpected error).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Callable, NoReturn

from ..errors import ConfigError, MbgError
from ..gcpause import paused_gc
from ..parser.events import iso_utc
from ..printable import printable
from ..times import parse_time as read_time
from ..version import __version__
from .api import (
    ban,
    firewall_remove,
    load_config,
    notify,
    parse_files,
    report,
    restore,
    scan,
    status,
    stderr_warn,
    unban,
)
from .config import Config
from .follow import follow
from .health import problems

PROG = "mail-bruteforce-guard"

EPILOG = """exit codes: 0 success, 1 runtime error, 2 usage or config error, 3 another run holds the lock,
130 interrupted. Errors are one line on stderr."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors raised as ConfigError (exit 2) instead of usage dumps."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


def parse_time(text: str) -> float:
    """ISO 8601 (``Z`` or offset; naive means UTC) or POSIX seconds -> POSIX seconds."""
    when = read_time(text, numeric_text=True)
    if when is None:
        raise ConfigError(f"--now: {text!r} is not an ISO 8601 time such as 2026-11-26T08:00:00Z")
    return when


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to document the CLI)."""
    parser = _Parser(
        prog=PROG,
        description="Detect and stop brute force against Postfix, Dovecot and Plesk mail servers.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    common = _Parser(add_help=False)
    common.add_argument(
        "--config", metavar="FILE", help="JSON config (default /etc/mail-bruteforce-guard/config.json)"
    )
    common.add_argument("--state", metavar="DIR", help="state directory (overrides state_dir)")
    common.add_argument("--now", metavar="ISO8601", help="pin the clock (replays and tests)")
    common.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("parse", help="print the events recognised in log files", epilog=EPILOG)
    p.add_argument("--json", action="store_true", help="one JSON object per event")
    p.add_argument("--now", metavar="ISO8601", help="anchor the year of year-less timestamps")
    p.add_argument("files", nargs="+", metavar="FILE")

    p = sub.add_parser("scan", parents=[common], help="read new log lines, decide and ban", epilog=EPILOG)
    p.add_argument(
        "--log", action="append", metavar="PATH", help="log file to read (repeatable; replaces logs)"
    )
    p.add_argument("--journal", action="store_true", help="read systemd's journal (with --log: as well)")
    p.add_argument("--from-start", action="store_true", help="re-read the logs from their beginning")
    p.add_argument("--rotated", action="store_true", help="on first run/--from-start, read .1 and .gz first")
    p.add_argument("--dry-run", action="store_true", help="decide and report, change no firewall state")
    p.add_argument("--ignore", action="append", metavar="CIDR", help="never ban this network (repeatable)")

    p = sub.add_parser(
        "follow",
        parents=[common],
        help="run as a daemon: follow the logs and ban within about a second (SIGHUP reloads the config)",
        epilog=EPILOG,
    )
    p.add_argument(
        "--log", action="append", metavar="PATH", help="log file to follow (repeatable; replaces logs)"
    )
    p.add_argument("--journal", action="store_true", help="follow systemd's journal (with --log: as well)")

    sub.add_parser("report", parents=[common], help="the scan report for all remembered addresses")
    p = sub.add_parser("status", parents=[common], help="list active bans", epilog=EPILOG)
    p.add_argument(
        "--check", action="store_true", help="exit 1 naming the reason when detection is not working"
    )

    p = sub.add_parser("notify", parents=[common], help="deliver queued alerts (email, webhook, exec)")
    p.add_argument("--failure", metavar="UNIT", help="first raise a detector-failure alert for this unit")

    p = sub.add_parser("ban", parents=[common], help="ban addresses by hand", epilog=EPILOG)
    p.add_argument("addresses", nargs="+", metavar="ADDR")
    p.add_argument("--duration", type=_positive_int, metavar="S", help="seconds (default: bantime)")
    p.add_argument("--reason", default="manual", metavar="TEXT")
    p.add_argument("--dry-run", action="store_true")

    p = sub.add_parser("unban", parents=[common], help="lift bans", epilog=EPILOG)
    p.add_argument("addresses", nargs="+", metavar="ADDR")
    p.add_argument("--reset", action="store_true", help="also forget the escalation history")
    p.add_argument("--dry-run", action="store_true")

    sub.add_parser(
        "restore", parents=[common], help="enforce mode: sets/table, ban hook and unexpired bans (boot)"
    )
    sub.add_parser(
        "firewall-remove",
        parents=[common],
        help="remove every rule, chain, set and table of ours (both backends)",
    )
    return parser


def _config(args: argparse.Namespace) -> Config:
    overrides: dict[str, Any] = {"state_dir": args.state}
    if getattr(args, "log", None):
        overrides["logs"] = args.log
    if getattr(args, "journal", False):
        overrides["journal"] = True
        if not args.log:
            overrides["logs"] = []  # --journal alone: the journal instead of the configured files
    if getattr(args, "rotated", False):
        overrides["read_rotated"] = True
    config = load_config(args.config, overrides)
    if getattr(args, "ignore", None):
        config = config.replace(ignore=list(config.ignore) + args.ignore)
    return config


def _print_json(data: Any) -> None:
    """Indented UTF-8 on a terminal; elsewhere one line of pure ASCII (non-ASCII as ``\\u`` escapes: the
    same JSON for any reader in any locale, and encoded faster)."""
    tty = sys.stdout.isatty()
    sys.stdout.write(json.dumps(data, indent=2 if tty else None, ensure_ascii=not tty, check_circular=False))
    sys.stdout.write("\n")


def _write(line: str) -> None:
    """One line of text output, its control characters escaped (usernames come from clients)."""
    sys.stdout.write(printable(line) + "\n")


def _print_scan(result: dict) -> None:
    for o in result["offenders"]:
        until = f" until {o['ban_until']}" if o["ban_until"] else ""
        _write(f"{o['decision']:7} {o['ip']:39} {o['failures']:6} failures{until}: {o['reason']}")
    for a in result["accounts"]:
        _write(f"alert   {a['alert']} account {a['username']} from {', '.join(a['ips'])}")
    for c in result.get("stale_clients", []):
        done = f", resolved {c['resolved']}" if c["resolved"] else ""
        shared = " (shared address)" if c["shared"] else ""
        since = f"{c['failures']} failures since {c['since']}{done}"
        _write(f"stale   {c['username']} from {c['ip']}{shared}: {since}")
    s = result["stats"]
    skipped = [
        f"{s[key]} {what}"
        for key, what in (
            ("lines_too_long", "lines too long"),
            ("journal_rejected", "untrusted journal entries"),
        )
        if s.get(key)
    ]
    _write(
        f"read {s['lines']} lines ({s['bytes']} bytes), {s['events']} events in {s['seconds']}s"
        + (f" (skipped: {', '.join(skipped)})" if skipped else "")
    )


def _cmd_parse(args: argparse.Namespace) -> int:
    now = parse_time(args.now) if args.now else None
    out = sys.stdout
    ascii_only = not out.isatty()  # as _print_json
    for path, event in parse_files(args.files, now=now):
        record = event._asdict()
        record["time"] = iso_utc(event.time)
        if args.json:
            record = {"file": path, **record}
            out.write(json.dumps(record, ensure_ascii=ascii_only, check_circular=False) + "\n")
        else:
            _write(
                f"{path}:{event.line} {record['time'] or '-'} {event.kind} {event.service}"
                f" ip={event.ip or '-'} user={event.user or '-'} count={event.count}"
            )
    return 0


def _cmd_follow(args: argparse.Namespace, config: Config, _now: float | None) -> int:
    follow(config, reload=lambda: _config(args), warn=stderr_warn)
    return 0


def _cmd_scan(args: argparse.Namespace, config: Config, now: float | None) -> int:
    result = scan(config, from_start=args.from_start, dry_run=args.dry_run, now=now)
    _print_json(result) if args.json else _print_scan(result)
    return 0


def _cmd_report(args: argparse.Namespace, config: Config, now: float | None) -> int:
    result = report(config, now=now)
    _print_json(result) if args.json else _print_scan(result)
    return 0


def _cmd_status(args: argparse.Namespace, config: Config, now: float | None) -> int:
    result = status(config, now=now)
    if args.check:
        return _check(config, result, now, args.json)
    if args.json:
        _print_json(result)
        return 0
    sys.stdout.write(f"mode {result['mode']}, {len(result['bans'])} active bans\n")
    fw = result["firewall"]
    tools = ", ".join(f"{t['name']} ({'active' if t['active'] else 'inactive'})" for t in fw["tools"])
    sys.stdout.write(f"firewall {fw['backend']}, hook {fw['hook']}; other tools: {tools or 'none'}\n")
    if fw.get("error"):
        sys.stdout.write(f"firewall error: {fw['error']}\n")
    for c in fw.get("contested", []):
        _write(f"hook contested ({c['family']}): rule {c['rule']!r} keeps taking INPUT above ours")
    for b in result["bans"]:
        flag = "" if b["enforced"] else " (not in firewall)"
        _write(f"{b['address']:39} until {b['until']} ({b['remaining']}s){flag}: {b['reason']}")
    for c in result["stale_clients"]:
        done = f", resolved {c['resolved']}" if c["resolved"] else ""
        since = f"{c['failures']} failures since {c['since']}{done}"
        _write(f"stale client {c['username']} from {c['ip']}: {since}")
    return 0


def _cmd_notify(args: argparse.Namespace, config: Config, now: float | None) -> int:
    outcome = notify(config, failure=args.failure, now=now)
    if args.json:
        _print_json(outcome)
        return 0
    _write(
        f"delivered {outcome['delivered']} alerts in {outcome['messages']} messages,"
        f" {outcome['failed']} failed (kept), {outcome['dropped']} given up,"
        f" {outcome['queued']} queued"
    )
    for line in outcome["errors"]:
        _write(f"failed: {line}")
    return 0


def _cmd_ban(args: argparse.Namespace, config: Config, now: float | None) -> int:
    result = ban(
        config, args.addresses, duration=args.duration, reason=args.reason, dry_run=args.dry_run, now=now
    )
    if args.json:
        _print_json(result)
    else:
        for address in result["added"]:
            _write(f"banned {address} until {result['until']}")
        for r in result["refused"]:
            _write(f"refused {r['address']}: {r['reason']}")
    return 1 if result["refused"] and not result["added"] else 0


def _cmd_unban(args: argparse.Namespace, config: Config, now: float | None) -> int:
    result = unban(config, args.addresses, reset=args.reset, dry_run=args.dry_run, now=now)
    if args.json:
        _print_json(result)
    else:
        sys.stdout.write("".join(f"unbanned {a}\n" for a in result["removed"]) or "nothing to unban\n")
    return 0


def _cmd_restore(args: argparse.Namespace, config: Config, now: float | None) -> int:
    result = restore(config, now=now)
    if args.json:
        _print_json(result)
    elif result["mode"] == "monitor":
        sys.stdout.write(
            f"monitor mode: firewall left unchanged, {result['pending']} bans kept for enforce mode\n"
        )
    else:
        fw = result["firewall"]
        sys.stdout.write(
            f"restored {result['restored']} bans ({fw['backend']}, hook {fw['hook']}, enforce mode)\n"
        )
    return 0


def _cmd_firewall_remove(args: argparse.Namespace, config: Config, _now: float | None) -> int:
    result = firewall_remove(config)
    if args.json:
        _print_json(result)
    else:
        sys.stdout.write("".join(f"{line}\n" for line in result["removed"]) or "nothing of ours to remove\n")
    return 0


# Every command but ``parse`` (which reads files it is given, no config): (args, config, now) -> exit code.
_COMMANDS: dict[str, Callable[[argparse.Namespace, Config, float | None], int]] = {
    "follow": _cmd_follow,
    "scan": _cmd_scan,
    "report": _cmd_report,
    "status": _cmd_status,
    "notify": _cmd_notify,
    "ban": _cmd_ban,
    "unban": _cmd_unban,
    "restore": _cmd_restore,
    "firewall-remove": _cmd_firewall_remove,
}


def _run(args: argparse.Namespace) -> int:
    if args.command == "parse":
        return _cmd_parse(args)
    config = _config(args)
    now = parse_time(args.now) if args.now else None
    return _COMMANDS[args.command](args, config, now)


def _check(config: Config, result: dict, now: float | None, as_json: bool) -> int:
    """``status --check``: OK, or FAIL with one reason per line; exit 1 when anything is wrong."""
    found = problems(config, result["firewall"], now=now)
    if as_json:
        _print_json({"ok": not found, "problems": found})
    elif found:
        for reason in found:
            _write(f"FAIL: {reason}")
    else:
        _write(
            "OK: scans succeed, logs readable" + (", ban hook attached" if config.mode == "enforce" else "")
        )
    return 1 if found else 0


def main(argv: list | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    _read_zone_once()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            raise ConfigError(
                "a command is required: parse, scan, follow, report, status, notify, ban, unban, restore"
                " or firewall-remove"
            )
        if args.command == "follow":  # a daemon: the collector runs (each cycle pauses it itself)
            code = _run(args)
        else:
            with paused_gc():  # one short command: the whole of it (see gcpause)
                code = _run(args)
        sys.stdout.flush()
        return code
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else 0
    except MbgError as err:
        _error(str(err))
        return err.exit_code
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 141
    except Exception as err:  # no traceback for users; MBG_DEBUG=1 shows it
        if os.environ.get("MBG_DEBUG"):
            raise
        _error(f"internal error: {err.__class__.__name__}: {err}")
        return 1


def _read_zone_once() -> None:
    """Without TZ, the C library looks at /etc/localtime again on every local-time conversion (a stat for
    each minute of RFC 3164 stamps, a thousand in a day's log); TZ=":/etc/localtime" names the very same
    zone (UTC when the file is missing, as before) and has it read once. A TZ already set is kept."""
    if "TZ" not in os.environ:
        os.environ["TZ"] = ":/etc/localtime"
        time.tzset()


def _error(message: str) -> None:
    first = printable(" ".join(str(message).split())) or "unknown error"
    try:
        sys.stderr.write(f"{PROG}: error: {first}\n")
        sys.stderr.flush()
    except OSError:
        pass


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
