"""The follow daemon as a real process: rotation (rename and copytruncate), truncation, a file created later,
the journal (a real journal file), SIGHUP, SIGTERM, kill -9 and restart, a second instance, an unban by hand
while it runs, sd_notify. Counts are exact: a failure lost or counted twice fails the test.

Lines are stamped a minute in the past: the correlator releases them at once (its HOLD is log time), so the
tests wait for the daemon, not for the clock.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from mbg_detector_lines import journal_file

VENV_BIN = Path(sys.executable).parent
CLI = str(VENV_BIN / "mail-bruteforce-guard")
WAIT = 60.0  # seconds a condition may take on a loaded 2-core machine (normally well under one)


def fail_line(ip: str, n: int, ago: float = 60.0) -> str:
    stamp = datetime.fromtimestamp(time.time() - ago, timezone.utc).isoformat()
    return (
        f"{stamp} mx1 postfix/submission/smtpd[{100 + n}]: warning: unknown[{ip}]: SASL LOGIN authentication"
        f" failed: (reason unavailable), sasl_username=user{n}@example.com\n"
    )


def append(path: Path, ip: str, count: int, start: int = 0) -> None:
    with path.open("a") as fh:
        for n in range(start, start + count):
            fh.write(fail_line(ip, n))


class Daemon:
    """``mail-bruteforce-guard follow`` in a subprocess, with its config file and state directory."""

    def __init__(self, tmp_path: Path, **settings) -> None:
        self.dir = tmp_path
        self.log = tmp_path / "logs" / "mail.log"
        self.log.parent.mkdir(exist_ok=True)
        self.state = tmp_path / "state"
        self.config = tmp_path / "config.json"
        values = {
            "mode": "monitor",
            "logs": [str(self.log)],
            "state_dir": str(self.state),
            "syslog": False,
            "maxretry": 100,
            "follow_save_interval": 1,
        }
        values.update(settings)
        self.write_config(values)
        self.proc: subprocess.Popen | None = None
        self.stderr = tmp_path / "stderr.txt"

    def write_config(self, values: dict) -> None:
        self.values = values
        self.config.write_text(json.dumps(values))

    def start(self, *extra: str, env: dict | None = None) -> Daemon:
        self.proc = subprocess.Popen(
            [CLI, "follow", "--config", str(self.config), *extra],
            stdout=subprocess.DEVNULL,
            stderr=self.stderr.open("a"),
            env=env,
        )
        return self

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [CLI, *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def failures(self) -> dict[str, int]:
        """Failures per address in the saved state (``report``)."""
        proc = self.cli("report", "--json")
        assert proc.returncode == 0, proc.stderr
        return {o["ip"]: o["failures"] for o in json.loads(proc.stdout)["offenders"]}

    def bans(self) -> set[str]:
        try:
            return set(json.loads((self.state / "state.json").read_text())["bans"])
        except (OSError, ValueError):
            return set()

    def alerts(self, kind: str) -> int:
        """How many alerts of ``kind`` the daemon raised (the outbox's counters; 0 before it exists)."""
        try:
            return json.loads((self.state / "notify-outbox.json").read_text())["counts"]["alerts"].get(
                kind, 0
            )
        except (OSError, ValueError, KeyError):
            return 0

    def wait_for(self, predicate, what: str) -> None:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if predicate():
                return
            assert self.proc is None or self.proc.poll() is None, f"daemon died: {self.stderr.read_text()}"
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; stderr: {self.stderr.read_text()}")

    def wait_failures(self, expected: dict[str, int]) -> None:
        self.wait_for(lambda: self.failures() == expected, f"failures {expected} (have {self.failures()})")

    def settled(self, expected: dict[str, int]) -> None:
        """Reached and still the same a few save intervals later (nothing counted twice late)."""
        self.wait_failures(expected)
        time.sleep(2.5)
        assert self.failures() == expected

    def ready(self) -> None:
        """Started: it holds its instance lock (a second follow would exit 3)."""
        self.wait_for(lambda: (self.state / "follow.lock").exists() and self._locked(), "the daemon to start")

    def _locked(self) -> bool:
        import fcntl

        fd = os.open(self.state / "follow.lock", os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)
        return False

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=WAIT)
        self.proc = None
        return code

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def errors(self) -> list[str]:
        text = self.stderr.read_text() if self.stderr.exists() else ""
        assert "Traceback" not in text
        return text.splitlines()


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(tmp_path)
    yield d
    d.close()


def test_follows_appends_and_both_rotation_styles(daemon):
    log = daemon.log
    append(log, "203.0.113.5", 2)
    daemon.start().ready()
    daemon.wait_failures({"203.0.113.5": 2})
    append(log, "203.0.113.5", 1, 2)
    daemon.wait_failures({"203.0.113.5": 3})
    # rename rotation: a line reaches the old file after the rename, the new file starts later
    log.rename(log.with_name("mail.log.1"))
    append(log.with_name("mail.log.1"), "203.0.113.5", 1, 3)
    time.sleep(0.5)
    append(log, "203.0.113.6", 2)
    daemon.wait_failures({"203.0.113.5": 4, "203.0.113.6": 2})
    # copytruncate: the copy is made, the file truncated in place, then written again
    append(log, "203.0.113.6", 1, 2)
    daemon.wait_failures({"203.0.113.5": 4, "203.0.113.6": 3})
    log.with_name("mail.log.1").write_bytes(log.read_bytes())
    with log.open("r+") as fh:
        fh.truncate(0)
    append(log, "203.0.113.7", 3)
    daemon.settled({"203.0.113.5": 4, "203.0.113.6": 3, "203.0.113.7": 3})
    assert daemon.stop() == 0
    # the half second between the rename and the new file: said once, nothing else
    assert all(line.endswith("does not exist (yet)") for line in daemon.errors()), daemon.errors()


def test_truncation_and_a_file_created_later(daemon):
    log = daemon.log
    daemon.start().ready()  # no log yet: warned about once, followed once it appears
    time.sleep(1)
    append(log, "198.51.100.1", 3)
    daemon.wait_failures({"198.51.100.1": 3})
    with log.open("r+") as fh:  # truncated with no copy kept (an admin's "> mail.log")
        fh.truncate(0)
    append(log, "198.51.100.2", 2)
    daemon.settled({"198.51.100.1": 3, "198.51.100.2": 2})
    assert daemon.stop() == 0
    errors = daemon.errors()
    assert sum("does not exist" in line for line in errors) == 1, errors
    assert all(line.startswith("mail-bruteforce-guard: warning: ") for line in errors)


def test_sigterm_saves_what_was_read(daemon):
    daemon.write_config({**daemon.values, "follow_save_interval": 60})
    daemon.start().ready()
    append(daemon.log, "203.0.113.9", 4)
    time.sleep(3)  # read at once, not saved yet (60 s interval, no ban)
    assert daemon.stop() == 0
    assert daemon.failures() == {"203.0.113.9": 4}


def test_kill_9_and_restart_lose_nothing_and_count_nothing_twice(daemon):
    daemon.write_config({**daemon.values, "follow_save_interval": 2})
    append(daemon.log, "203.0.113.20", 3)
    daemon.start().ready()
    daemon.wait_failures({"203.0.113.20": 3})
    saved = (daemon.state / "state.json").stat().st_mtime_ns
    append(daemon.log, "203.0.113.20", 2, 3)
    append(daemon.log, "203.0.113.21", 1)
    time.sleep(0.3)  # read, most likely not saved yet: either way nothing may be lost or doubled
    assert daemon.stop(signal.SIGKILL) == -signal.SIGKILL
    unsaved = (daemon.state / "state.json").stat().st_mtime_ns == saved
    append(daemon.log, "203.0.113.21", 1, 1)
    daemon.start().ready()
    daemon.settled({"203.0.113.20": 5, "203.0.113.21": 2})
    assert daemon.stop() == 0
    print(f"killed before the save: {unsaved}")


def test_second_instance_exits_3_with_one_line(daemon):
    daemon.start().ready()
    proc = subprocess.run(
        [CLI, "follow", "--config", str(daemon.config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 3
    assert proc.stderr.count("\n") == 1 and "another mail-bruteforce-guard follow" in proc.stderr
    assert daemon.stop() == 0


def test_unban_and_ban_by_hand_while_following_are_kept(daemon):
    daemon.write_config({**daemon.values, "maxretry": 3, "follow_save_interval": 1})
    daemon.start().ready()
    append(daemon.log, "203.0.113.30", 3)
    daemon.wait_for(lambda: "203.0.113.30" in daemon.bans(), "the daemon's ban")
    proc = daemon.cli("unban", "203.0.113.30")
    assert proc.returncode == 0, proc.stderr
    proc = daemon.cli("ban", "192.0.2.77", "--duration", "600")
    assert proc.returncode == 0, proc.stderr
    status = daemon.cli("status", "--json")  # reads work while the daemon runs
    assert status.returncode == 0, status.stderr
    append(daemon.log, "203.0.113.31", 1)  # the daemon writes its state again
    daemon.wait_for(lambda: "203.0.113.31" in daemon.failures(), "the next line")
    time.sleep(1.5)
    assert daemon.bans() == {"192.0.2.77"}
    assert daemon.failures()["203.0.113.31"] == 1
    assert daemon.stop() == 0
    assert daemon.bans() == {"192.0.2.77"}


def test_sighup_reloads_and_keeps_running_on_a_bad_config(daemon):
    daemon.start().ready()
    append(daemon.log, "203.0.113.40", 3)
    daemon.wait_failures({"203.0.113.40": 3})
    good = dict(daemon.values)
    daemon.config.write_text("{not json")
    daemon.proc.send_signal(signal.SIGHUP)
    time.sleep(1)
    assert daemon.proc.poll() is None
    errors = [line for line in daemon.errors() if "config not reloaded" in line]
    assert len(errors) == 1 and "not valid JSON" in errors[0], daemon.errors()
    daemon.write_config({**good, "maxretry": 4})  # a lower threshold: the next failure bans
    daemon.proc.send_signal(signal.SIGHUP)
    time.sleep(1)
    append(daemon.log, "203.0.113.40", 1, 3)
    daemon.wait_for(lambda: "203.0.113.40" in daemon.bans(), "a ban under the reloaded maxretry")
    assert daemon.failures() == {"203.0.113.40": 4}
    assert daemon.stop() == 0


def test_sd_notify_ready_watchdog_stopping(daemon, tmp_path):
    address = "\0mbg-test-notify-" + str(os.getpid())
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(WAIT)
    env = dict(os.environ, NOTIFY_SOCKET="@" + address[1:], WATCHDOG_USEC="400000")
    try:
        daemon.start(env=env)
        got = [sock.recv(4096).decode() for _n in range(3)]
        assert got[0].startswith("READY=1"), got
        assert "WATCHDOG=1" in got[1:], got
        daemon.proc.send_signal(signal.SIGTERM)
        messages = []
        with contextlib.suppress(TimeoutError, socket.timeout):
            sock.settimeout(10)
            while "STOPPING=1" not in messages:
                messages.append(sock.recv(4096).decode())
        assert "STOPPING=1" in messages
        assert daemon.proc.wait(timeout=WAIT) == 0
    finally:
        sock.close()


JOURNAL_SCRIPT = textwrap.dedent(
    """
    import sys
    from mail_bruteforce_guard.detector.config import load_config
    from mail_bruteforce_guard.detector.follow import follow
    from mail_bruteforce_guard.detector.api import stderr_warn
    command = ["journalctl", "--file=" + sys.argv[2]]
    follow(load_config(sys.argv[1]), warn=stderr_warn, journal_command=command)
    """
)


def _entries(ip: str, start: int, count: int, ago: float = 60.0) -> list:
    message = (
        "warning: unknown[{ip}]: SASL LOGIN authentication failed: (reason unavailable), sasl_username=u{n}"
    )
    return [("postfix/smtpd", 900 + n, 2, message.format(ip=ip, n=n)) for n in range(start, start + count)]


def test_journal_is_followed_from_the_saved_cursor(daemon, tmp_path):
    daemon.write_config({**daemon.values, "logs": [], "journal": True})
    first = journal_file(tmp_path, _entries("203.0.113.50", 0, 2))
    remote = "/lib/systemd/systemd-journal-remote"
    script = tmp_path / "run.py"
    script.write_text(JOURNAL_SCRIPT)

    def start():
        daemon.proc = subprocess.Popen(
            [sys.executable, str(script), str(daemon.config), str(first)],
            stdout=subprocess.DEVNULL,
            stderr=daemon.stderr.open("a"),
        )
        daemon.ready()

    start()
    daemon.wait_failures({"203.0.113.50": 2})

    def add(entries, base):
        # journal_file's stamps are fixed (2026-11-18): the policy counts them as they are
        export = b""
        for i, (ident, pid, facility, msg) in enumerate(entries):
            export += (
                f"__CURSOR=s=0;i={base + i}\n__REALTIME_TIMESTAMP={1795000000000000 + (base + i) * 1000000}\n"
                f"__MONOTONIC_TIMESTAMP={base + i + 1}\n_BOOT_ID=0123456789abcdef0123456789abcdef\n"
                f"_HOSTNAME=mx1\nSYSLOG_IDENTIFIER={ident}\n_PID={pid}\nSYSLOG_FACILITY={facility}\n"
                f"_UID=0\n_COMM=smtpd\n_EXE=/usr/lib/postfix/sbin/smtpd\n_SYSTEMD_UNIT=postfix@-.service\n"
                f"MESSAGE={msg}\n\n"
            ).encode()
        subprocess.run([remote, "-o", str(first), "-"], input=export, check=True, capture_output=True)

    add(_entries("203.0.113.50", 2, 1), 2)
    daemon.wait_failures({"203.0.113.50": 3})
    assert daemon.stop() == 0
    add(_entries("203.0.113.50", 3, 2), 3)  # written while it was down: read from the saved cursor
    start()
    daemon.settled({"203.0.113.50": 5})
    assert daemon.stop() == 0
    assert all("journalctl" not in line for line in daemon.errors())


def test_a_ban_that_expires_raises_one_unban_alert(daemon):
    daemon.start().ready()
    proc = daemon.cli("ban", "192.0.2.88", "--duration", "2")  # by hand, while the daemon runs
    assert proc.returncode == 0, proc.stderr
    daemon.wait_for(lambda: daemon.alerts("unban") >= 1, "the unban alert of the expired ban")
    time.sleep(1.5)
    assert daemon.alerts("unban") == 1
    assert daemon.stop() == 0


def test_an_unreadable_log_raises_one_failure_alert_until_it_is_back(daemon):
    """A configured log that vanishes stops detection: the daemon tells it once (as a scan would), not every
    cycle, and reads the log again when it is back."""
    append(daemon.log, "192.0.2.61", 1)
    daemon.start().ready()
    daemon.wait_failures({"192.0.2.61": 1})
    assert daemon.alerts("failure") == 0
    daemon.log.unlink()
    daemon.wait_for(lambda: daemon.alerts("failure") >= 1, "the failure alert of the vanished log")
    time.sleep(2.0)  # many cycles later: still one
    assert daemon.alerts("failure") == 1
    append(daemon.log, "192.0.2.62", 1)  # back: read again (a second loss is told again, subject to the
    daemon.wait_failures({"192.0.2.61": 1, "192.0.2.62": 1})  # outbox's de-duplication per alert_interval)
    assert daemon.stop() == 0


def test_watchdog_pinged_while_a_manual_run_holds_the_state_lock(daemon):
    """A cycle waits up to LOCK_WAIT (30 s) for a scan, ban or unban by hand: systemd's watchdog (also 30 s)
    killed the daemon while it waited. The watchdog is pinged during the wait."""
    import fcntl

    address = "\0mbg-test-watchdog-" + str(os.getpid())
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(WAIT)
    # watchdog every second (half of WATCHDOG_USEC); the lock is held six times that long
    env = dict(os.environ, NOTIFY_SOCKET="@" + address[1:], WATCHDOG_USEC="2000000")
    daemon.log.touch()
    try:
        daemon.start(env=env)
        assert sock.recv(4096).decode().startswith("READY=1")
        fd = os.open(daemon.state / "state.lock", os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            append(daemon.log, "203.0.113.7", 1)  # wakes the daemon: its cycle waits for the lock
            held = time.monotonic()
            pings = [held]
            sock.settimeout(0.5)
            while time.monotonic() - held < 6.0:
                with contextlib.suppress(TimeoutError, socket.timeout):
                    if "WATCHDOG=1" in sock.recv(4096).decode():
                        pings.append(time.monotonic())
        finally:
            os.close(fd)
        pings.append(time.monotonic())
        gap = max(b - a for a, b in zip(pings, pings[1:]))
        assert gap < 4.0, f"no watchdog ping for {gap:.1f} s while the state lock was held"
        daemon.wait_failures({"203.0.113.7": 1})
    finally:
        sock.close()


SLOW_SAVE_SCRIPT = textwrap.dedent(
    """
    import sys
    from mail_bruteforce_guard.detector import follow
    from mail_bruteforce_guard.detector.api import stderr_warn
    from mail_bruteforce_guard.detector.config import load_config
    # a huge state: a save costs so much CPU that new bans wait for the next save (here 5 s, not 1)
    follow.Follower._ban_save_gap = lambda self: 5.0
    follow.follow(load_config(sys.argv[1]), warn=stderr_warn)
    """
)


def test_unban_by_hand_of_a_ban_not_saved_yet_is_kept(daemon):
    """A ban applied in a cycle whose save is put off (huge state): an unban by hand in between found nothing
    in state.json and the daemon, taking that file, read the lines again and banned once more."""
    daemon.write_config({**daemon.values, "maxretry": 3, "follow_save_interval": 60})
    daemon.log.touch()
    daemon.proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_SAVE_SCRIPT, str(daemon.config)],
        stdout=subprocess.DEVNULL,
        stderr=daemon.stderr.open("a"),
    )
    daemon.ready()
    append(daemon.log, "198.51.100.1", 3)
    daemon.wait_for(lambda: "198.51.100.1" in daemon.bans(), "the first ban, saved at once")
    append(daemon.log, "203.0.113.50", 3)
    daemon.wait_for(lambda: daemon.alerts("ban") == 2, "the second ban (its save put off)")
    proc = daemon.cli("unban", "203.0.113.50")
    assert proc.returncode == 0, proc.stderr
    assert "unbanned 203.0.113.50" in proc.stdout, proc.stdout
    time.sleep(2)
    assert daemon.bans() == {"198.51.100.1"}
    assert daemon.stop() == 0
    assert daemon.bans() == {"198.51.100.1"}
    assert daemon.failures()["203.0.113.50"] == 3


def noise(n: int) -> str:
    stamp = datetime.fromtimestamp(time.time() - 120, timezone.utc).isoformat()
    ip = f"198.18.{n % 250}.{n % 200 + 1}"
    return f"{stamp} mx1 postfix/smtpd[{5000 + n % 1000}]: connect from unknown[{ip}]\n"


def saved_offset(daemon: Daemon) -> int:
    try:
        return json.loads((daemon.state / "state.json").read_text())["logs"][str(daemon.log)]["offset"]
    except (OSError, ValueError, KeyError):
        return 0


def test_a_backlog_is_read_in_bounded_cycles_saved_as_it_goes_and_survives_kill_9(daemon):
    """A backlog was read in one cycle: what the cycle holds (the addresses it touched, their offenders) grew
    with the backlog until its end, the first save (300,000 distinct attackers: 254 MiB). It is read
    CYCLE_BYTES at a time, each cycle settled and saved as any other: the saved position moves on during the
    catch-up, and a kill -9 in the middle of it loses and doubles nothing."""
    from mail_bruteforce_guard.detector.follow import CYCLE_BYTES

    expected: dict[str, int] = {}
    with daemon.log.open("w") as fh:
        n = 0
        while fh.tell() < 3 * CYCLE_BYTES:  # about 130,000 failures of 2,000 addresses: seconds of reading
            ip = f"10.1.{n % 2000 // 250}.{n % 250 + 1}"
            expected[ip] = expected.get(ip, 0) + 1
            fh.write(fail_line(ip, n, ago=300))
            n += 1
    size = daemon.log.stat().st_size
    daemon.start().ready()
    offsets = set()
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        offset = saved_offset(daemon)
        offsets.add(offset)
        if 0 < offset < size:
            break
        assert offset < size, "the backlog was read in one cycle: no save in between"
        time.sleep(0.02)
    assert any(0 < o < size for o in offsets), offsets
    assert daemon.stop(signal.SIGKILL) == -signal.SIGKILL
    daemon.start().ready()
    daemon.wait_for(lambda: saved_offset(daemon) == size, "the end of the backlog")
    daemon.settled(expected)
    assert daemon.stop() == 0


def test_copytruncate_of_an_empty_log_between_two_looks_loses_nothing(daemon):
    """The daemon had read an empty log (offset 0: no first line to know the file by); before its next look,
    lines were written, copied and the file truncated and written again, no smaller than before: the copied
    lines were lost (a busy or stopped daemon, logrotate's copytruncate at that moment)."""
    daemon.log.touch()
    daemon.start().ready()
    daemon.wait_for((daemon.state / "state.json").exists, "the first save")
    time.sleep(1.0)
    daemon.proc.send_signal(signal.SIGSTOP)  # between two looks
    try:
        append(daemon.log, "192.0.2.31", 3)
        (daemon.log.parent / "mail.log.1").write_bytes(daemon.log.read_bytes())
        with daemon.log.open("r+") as fh:
            fh.truncate(0)
        append(daemon.log, "192.0.2.32", 4)
    finally:
        daemon.proc.send_signal(signal.SIGCONT)
    daemon.settled({"192.0.2.31": 3, "192.0.2.32": 4})
    assert daemon.stop() == 0
    assert daemon.errors() == []


def test_an_over_long_line_is_skipped_once_and_never_read_again(daemon):
    """A line beyond MAX_LINE still being written (no newline yet) was read again from its start on every
    write to it (megabytes per write, for ever with a line that never ends). It is skipped once, counted once
    in the run counters (metrics.json lines_too_long) and never read again."""
    from mail_bruteforce_guard.detector.logsource import MAX_LINE

    append(daemon.log, "192.0.2.41", 1)
    daemon.start().ready()
    daemon.wait_failures({"192.0.2.41": 1})
    with daemon.log.open("ab") as fh:
        fh.write(b"x" * (MAX_LINE + 1))
    time.sleep(1.0)

    def read_bytes() -> int:
        for line in Path(f"/proc/{daemon.proc.pid}/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
        raise AssertionError("no rchar")

    before = read_bytes()
    for _write in range(20):  # its writer goes on: 20 writes of 1,000 bytes
        with daemon.log.open("ab") as fh:
            fh.write(b"x" * 1000)
        time.sleep(0.1)
    time.sleep(1.0)
    grown = read_bytes() - before
    assert grown < MAX_LINE // 2, f"the daemon read {grown} bytes for 20,000 written"
    with daemon.log.open("ab") as fh:
        fh.write(b"x\n")
    append(daemon.log, "192.0.2.41", 1, 1)
    daemon.settled({"192.0.2.41": 2})
    assert daemon.stop() == 0
    counters = json.loads((daemon.state / "metrics.json").read_text())["counters"]
    assert counters["lines_too_long"] == 1
