"""Helpers of the plugin tests (a module name of its own, unlike conftest): the collection on sys.path, and a
real detector (config, log, state) in a temporary directory."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _collections_dir() -> str:
    """A directory with ansible_collections/mailsec/mail_bruteforce_guard -> this checkout."""
    link = ROOT / ".collections" / "ansible_collections" / "mailsec" / "mail_bruteforce_guard"
    if link.exists() and link.resolve() == ROOT:
        return str(ROOT / ".collections")
    tmp = Path(tempfile.mkdtemp(prefix="mbg-collections-"))
    (tmp / "ansible_collections" / "mailsec").mkdir(parents=True)
    (tmp / "ansible_collections" / "mailsec" / "mail_bruteforce_guard").symlink_to(ROOT)
    return str(tmp)


COLLECTIONS = _collections_dir()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

ATTACKER = "203.0.113.7"  # 8 failures: banned
PROBER = "198.51.100.4"  # 2 failures: watched
INSIDER = "10.1.2.3"  # in the ignore network
CONTROLLER = "192.0.2.10"  # protected


def rfc3339(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".000000+00:00"


def attack_log(now: float, host: str = "mbg-mail1") -> str:
    """Real Postfix/Dovecot line shapes (as Debian 12 logs them), dated just before ``now``."""
    lines = []
    t = now - 300
    for i in range(8):
        lines.append(
            f"{rfc3339(t + i * 5)} {host} postfix/submission/smtpd[{600 + i}]: warning: unknown[{ATTACKER}]: "
            f"SASL LOGIN authentication failed: (reason unavailable), sasl_username=alice@example.com"
        )
    for i in range(2):
        lines.append(
            f"{rfc3339(t + 100 + i)} {host} dovecot: imap-login: Disconnected: Aborted login by logging out "
            f"(auth failed, 1 attempts in 2 secs): user=<bob@example.com>, method=PLAIN, rip={PROBER}, "
            f"lip=10.89.0.2, session=<abc{i}>"
        )
    lines.append(
        f"{rfc3339(t + 120)} {host} postfix/smtpd[700]: warning: unknown[{INSIDER}]: "
        f"SASL PLAIN authentication failed: (reason unavailable), sasl_username=carol@example.com"
    )
    return "\n".join(lines) + "\n"


class Detector:
    """A real detector set-up in a temporary directory: config (monitor mode), mail log, state dir."""

    def __init__(self, base: Path, mode: str = "monitor") -> None:
        self.base = base
        self.log = base / "mail.log"
        self.state_dir = base / "state"
        self.config_path = base / "config.json"
        self.values = {
            "mode": mode,
            "logs": [str(self.log)],
            "state_dir": str(self.state_dir),
            "ignore": ["10.0.0.0/8"],
            "protected": [CONTROLLER],
            "ipset_v4": "mbgtest_v4",
            "ipset_v6": "mbgtest_v6",
            "syslog": False,
        }
        self.config_path.write_text(json.dumps(self.values))
        self.log.write_text("")

    def scan(self, text: str | None = None) -> dict:
        from mail_bruteforce_guard.detector import api

        if text is not None:
            with self.log.open("a") as fh:
                fh.write(text)
        return api.scan(api.load_config(str(self.config_path)), warn=lambda _msg: None)
