"""Helpers for the detector tests: real-looking mail-log lines with unambiguous (RFC 3339) timestamps, and
a real journal file written by systemd-journal-remote. (Not conftest.py: other test folders have one too.)"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import datetime, timezone

import pytest

T0 = datetime(2026, 11, 26, 8, 0, 0, tzinfo=timezone.utc).timestamp()


def stamp(offset: float) -> str:
    return datetime.fromtimestamp(T0 + offset, timezone.utc).isoformat()


def pf_fail(offset: float, ip: str = "203.0.113.5", user: str = "alice@example.com", pid: int = 588) -> str:
    return (
        f"{stamp(offset)} mx1 postfix/submission/smtpd[{pid}]: warning: unknown[{ip}]: SASL LOGIN "
        f"authentication failed: (reason unavailable), sasl_username={user}\n"
    )


def dc_fail(offset: float, ip: str = "198.51.100.7", user: str = "bob@example.com") -> str:
    return (
        f"{stamp(offset)} mx1 dovecot: imap-login: Disconnected: Aborted login by logging out "
        f"(auth failed, 1 attempts in 2 secs): user=<{user}>, method=PLAIN, rip={ip}, lip=10.0.0.2, "
        f"session=<abcd{int(offset)}>\n"
    )


def dc_login(offset: float, ip: str, user: str) -> str:
    return (
        f"{stamp(offset)} mx1 dovecot: imap-login: Login: user=<{user}>, method=PLAIN, rip={ip}, "
        f"lip=10.0.0.2, mpid=1234, session=<ok{int(offset)}>\n"
    )


def noise(offset: float, n: int = 1) -> str:
    return "".join(
        f"{stamp(offset)} mx1 postfix/qmgr[77]: 4AB{i:04d}: from=<x@example.org>, size=1234, nrcpt=1"
        " (queue active)\n"
        for i in range(n)
    )


def daemon_writer(ident: str) -> dict:
    """The trusted fields journald records for the daemon an identifier names (root, its unit)."""
    if ident.startswith("postfix"):
        unit = "postfix@-.service"
    elif ident in ("dovecot", "auth", "auth-worker") or ident.endswith("-login"):
        unit = "dovecot.service"
    else:
        unit = f"{ident}.service"
    return {"_UID": "0", "_SYSTEMD_UNIT": unit}


def journal_file(tmp_path, entries):
    """A real journal file written by systemd-journal-remote from export format. Each entry is
    ``(ident, pid, facility, message)``, written by the daemon ``ident`` names (``daemon_writer``), or
    ``(ident, pid, facility, message, writer)`` with the trusted fields (``_UID``, ...) given."""
    remote = shutil.which("systemd-journal-remote") or "/lib/systemd/systemd-journal-remote"
    if not os.path.exists(remote):
        pytest.skip("systemd-journal-remote is not installed")
    export = b""
    for i, (ident, pid, facility, msg, *given) in enumerate(entries):
        writer = given[0] if given else daemon_writer(ident)
        export += (
            f"__CURSOR=s=0;i={i}\n__REALTIME_TIMESTAMP={1795000000000000 + i * 1000000}\n"
            f"__MONOTONIC_TIMESTAMP={i + 1}\n_BOOT_ID=0123456789abcdef0123456789abcdef\n"
            f"_HOSTNAME=mx1\nSYSLOG_IDENTIFIER={ident}\n_PID={pid}\nSYSLOG_FACILITY={facility}\n"
            + "".join(f"{k}={v}\n" for k, v in writer.items())
            + f"MESSAGE={msg}\n\n"
        ).encode()
    out = tmp_path / "mail.journal"
    subprocess.run([remote, "-o", str(out), "-"], input=export, check=True, capture_output=True)
    return out
