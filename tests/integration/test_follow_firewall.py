"""The follow daemon against the real ipset and iptables in a throwaway network namespace: a crossing failure
puts the address into the kernel set while the daemon runs, an unban by hand is not undone by it, and a hook
another tool removed is put back within ``follow_hook_interval``."""

from __future__ import annotations

import json
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

CLI = str(Path(sys.executable).parent / "mail-bruteforce-guard")
WAIT = 60.0


def fail_line(ip: str, n: int) -> str:
    stamp = datetime.fromtimestamp(time.time() - 60, timezone.utc).isoformat()
    return (
        f"{stamp} mx1 postfix/submission/smtpd[{100 + n}]: warning: unknown[{ip}]: SASL LOGIN authentication"
        f" failed: (reason unavailable), sasl_username=user{n}@example.com\n"
    )


def wait_for(predicate, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_follow_bans_into_the_kernel_set_and_keeps_an_unban(netns, tmp_path):
    log = tmp_path / "mail.log"
    log.write_text("")
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "mode": "enforce",
                "logs": [str(log)],
                "state_dir": str(tmp_path / "state"),
                "syslog": False,
                "firewall_backend": "iptables",
                "maxretry": 3,
                "follow_save_interval": 1,
                "follow_hook_interval": 1,
            }
        )
    )

    def cli(*args: str):
        return netns.run(CLI, *args, "--config", str(config))

    def members() -> set[str]:
        text = netns.run("ipset", "list", "mbg_ban_v4").stdout
        return {line.split()[0] for line in text.split("Members:")[-1].splitlines() if line.strip()}

    def hooked() -> bool:
        return "-j MBG-BAN" in netns.run("iptables", "-S", "INPUT").stdout

    cli("restore")
    daemon = netns.popen(CLI, "follow", "--config", str(config))
    with log.open("a") as fh:
        for n in range(3):
            fh.write(fail_line("203.0.113.60", n))
            fh.flush()
    wait_for(lambda: "203.0.113.60" in members(), "the ban in the kernel set")
    assert cli("unban", "203.0.113.60").returncode == 0
    assert "203.0.113.60" not in members()
    with log.open("a") as fh:  # the daemon runs cycles and saves again: the unban stays
        fh.write(fail_line("203.0.113.61", 9))
    state = tmp_path / "state" / "state.json"
    wait_for(
        lambda: json.loads(state.read_text())["tracker"] and "203.0.113.61" in state.read_text(), "a save"
    )
    time.sleep(1.5)
    assert "203.0.113.60" not in members()
    assert "203.0.113.60" not in json.loads(state.read_text())["bans"]
    # another tool's reload takes the hook away: the daemon's periodic check puts it back
    netns.run("iptables", "-D", "INPUT", "-j", "MBG-BAN")
    assert not hooked()
    wait_for(hooked, "the hook re-attached")
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=WAIT) == 0
