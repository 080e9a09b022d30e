"""The real console script, run as a subprocess: exit codes, one-line errors, JSON shape."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mail_bruteforce_guard.version import __version__
from mbg_detector_lines import dc_fail, pf_fail

VENV_BIN = Path(sys.executable).parent
CLI = str(VENV_BIN / "mail-bruteforce-guard")
NOW = "2026-11-27T00:00:00Z"


def run(*args, check_stderr_lines=True, netns=False, **kw):
    """The CLI; ``netns`` runs it in a throwaway network namespace (it may read the firewall there)."""
    prefix = ["unshare", "--net"] if netns else []
    proc = subprocess.run(
        [*prefix, CLI, *args], capture_output=True, text=True, timeout=60, check=False, **kw
    )
    if check_stderr_lines:
        assert "Traceback" not in proc.stderr
        for line in proc.stderr.splitlines():
            assert line.startswith("mail-bruteforce-guard: "), proc.stderr
    return proc


@pytest.fixture
def log(tmp_path):
    path = tmp_path / "mail.log"
    path.write_text("".join(pf_fail(i * 5) for i in range(6)) + dc_fail(40))
    return path


def test_version_and_help():
    proc = run("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"mail-bruteforce-guard {__version__}"
    proc = run("--help")
    assert proc.returncode == 0
    for command in ("parse", "scan", "status", "ban", "unban", "restore"):
        assert command in proc.stdout
    proc = run("scan", "--help")
    assert "--from-start" in proc.stdout and "--dry-run" in proc.stdout


def test_parse_json_lines(log):
    proc = run("parse", "--json", str(log), "--now", NOW)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(events) == 7
    first = events[0]
    assert {"file", "line", "time", "ip", "kind", "service", "user"} <= set(first)
    assert first["line"] == 1
    assert first["time"] == "2026-11-26T08:00:00Z"
    assert first["kind"] == "auth_failure"
    assert first["file"] == str(log)
    assert events[-1]["service"] == "dovecot"


def test_json_through_a_pipe_is_ascii_and_keeps_non_ascii_names(tmp_path):
    """Piped --json output is pure ASCII (``\\u`` escapes): the same names for any reader in any locale."""
    path = tmp_path / "mail.log"
    path.write_text("".join(pf_fail(i * 5, user="jörg@exämple.de") for i in range(6)), encoding="utf-8")
    scan = ("scan", "--log", str(path), "--state", str(tmp_path / "state"), "--dry-run", "--json")
    for args in (("parse", "--json", str(path)), scan):
        proc = run(*args, "--now", NOW)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.isascii() and "\\u00f6" in proc.stdout
        first = json.loads(proc.stdout.splitlines()[0])
        user = first["user"] if args[0] == "parse" else first["offenders"][0]["usernames"][0]
        assert user == "jörg@exämple.de"


def test_scan_dry_run_json_then_incremental(tmp_path, log):
    state = tmp_path / "state"
    args = ["scan", "--log", str(log), "--state", str(state), "--dry-run", "--json", "--now", NOW]
    proc = run(*args)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert set(result) == {"offenders", "accounts", "stale_clients", "shared_addresses", "stats", "timeline"}
    assert result["stats"]["lines"] == 7
    assert result["stats"]["bytes"] == log.stat().st_size
    by_ip = {o["ip"]: o for o in result["offenders"]}
    assert by_ip["203.0.113.5"]["decision"] == "ban"
    assert by_ip["203.0.113.5"]["ban_until"] == "2026-11-26T09:00:20Z"
    assert by_ip["198.51.100.7"]["decision"] == "watch"
    assert oct(state.stat().st_mode & 0o777) == "0o700"
    with open(log, "a") as fh:
        fh.write(pf_fail(100, ip="192.0.2.44"))
    result = json.loads(run(*args).stdout)
    assert result["stats"]["bytes"] == len(pf_fail(100, ip="192.0.2.44"))
    assert [o["ip"] for o in result["offenders"]] == ["192.0.2.44"]
    # status shows the (dry-run, so not enforced) ban while it lasts
    proc = run("status", "--state", str(state), "--json", "--now", "2026-11-26T08:30:00Z")
    status = json.loads(proc.stdout)
    assert [(b["address"], b["remaining"], b["enforced"]) for b in status["bans"]] == [
        ("203.0.113.5", 1820, False)
    ]
    proc = run("status", "--state", str(state), "--now", "2026-11-26T08:30:00Z")
    assert "203.0.113.5" in proc.stdout and "(not in firewall)" in proc.stdout


def test_scan_ignore_flag_and_human_output(tmp_path, log):
    proc = run(
        "scan", "--log", str(log), "--state", str(tmp_path / "s"), "--dry-run", "--now", NOW,
        "--ignore", "203.0.113.0/24",
    )  # fmt: skip
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[0].startswith("ignored 203.0.113.5")
    assert "read 7 lines" in proc.stdout


def test_config_file_and_errors_exit_2(tmp_path, log):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"logs": [str(log)], "state_dir": str(tmp_path / "s"), "maxretry": 10}))
    proc = run("scan", "--config", str(cfg), "--dry-run", "--json", "--now", NOW)
    assert proc.returncode == 0, proc.stderr
    assert {o["decision"] for o in json.loads(proc.stdout)["offenders"]} == {"watch"}

    cfg.write_text(json.dumps({"maxretry": "ten"}))
    proc = run("scan", "--config", str(cfg), "--dry-run")
    assert proc.returncode == 2
    assert (
        proc.stderr == "mail-bruteforce-guard: error: config key 'maxretry' must be an integer, got 'ten'\n"
    )

    cfg.write_text("{ broken")
    assert run("status", "--config", str(cfg)).returncode == 2
    assert run("scan", "--bogus").returncode == 2
    assert run("frobnicate").returncode == 2
    assert run().returncode == 2
    proc = run("scan", "--state", str(tmp_path / "s"), "--log", str(log), "--now", "yesterday")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert run("ban", "not-an-address", "--state", str(tmp_path / "s"), "--dry-run").returncode == 2


def test_missing_log_exit_1_with_warning(tmp_path):
    proc = run("scan", "--log", str(tmp_path / "nope.log"), "--state", str(tmp_path / "s"), "--dry-run")
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        f"mail-bruteforce-guard: warning: log {tmp_path / 'nope.log'} does not exist (yet)",
        "mail-bruteforce-guard: error: no log source could be read",
    ]


def test_corrupt_state_warns_and_continues(tmp_path, log):
    state = tmp_path / "s"
    state.mkdir()
    (state / "state.json").write_bytes(b"\x00\xffgarbage")
    proc = run("scan", "--log", str(log), "--state", str(state), "--dry-run", "--json", "--now", NOW)
    assert proc.returncode == 0
    assert "is corrupt" in proc.stderr
    assert json.loads(proc.stdout)["stats"]["lines"] == 7


def _wait_until_it_opened(proc: subprocess.Popen, path: Path, limit: float = 60.0) -> None:
    """Wait until ``proc`` holds ``path`` open (on a busy machine its start-up alone can take seconds)."""
    deadline = time.monotonic() + limit
    fds = Path(f"/proc/{proc.pid}/fd")
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) == str(path) for fd in fds.iterdir()):
                time.sleep(0.2)  # from open() to the blocking flock()
                return
        time.sleep(0.05)
    raise AssertionError(f"{proc.args} never opened {path}")


def test_second_concurrent_scan_exits_3(tmp_path, log):
    import fcntl

    state = tmp_path / "s"
    state.mkdir(mode=0o700)
    holder = os.open(state / "state.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another run holds the lock
    waiting = None
    try:
        proc = run("scan", "--log", str(log), "--state", str(state), "--dry-run")
        assert proc.returncode == 3
        assert proc.stderr.startswith("mail-bruteforce-guard: error: another mail-bruteforce-guard run holds")
        # a ban waits for the lock; Ctrl-C on it: exit 130, one line, no traceback
        # A shell's background job (`make test &`) runs with SIGINT ignored, which a child inherits, and
        # Python then installs no KeyboardInterrupt handler: with a handler here the child starts with the
        # default, as an admin's Ctrl-C finds it.
        parent_sigint = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            waiting = subprocess.Popen(
                [CLI, "ban", "192.0.2.9", "--state", str(state), "--dry-run"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        finally:
            signal.signal(signal.SIGINT, parent_sigint)
        _wait_until_it_opened(waiting, state / "state.lock")  # its own code runs: SIGINT is Python's now
        waiting.send_signal(signal.SIGINT)
        _, err = waiting.communicate(timeout=20)
        assert waiting.returncode == 130
        assert err == "mail-bruteforce-guard: error: interrupted\n"
    finally:
        os.close(holder)
        if waiting is not None and waiting.poll() is None:
            waiting.kill()
            waiting.wait()
    assert run("scan", "--log", str(log), "--state", str(state), "--dry-run").returncode == 0


def test_a_fifo_given_as_a_log_is_skipped_not_waited_for(tmp_path, log):
    """Issue 15 item 5: opening a FIFO blocked until a writer came, holding the lock, on every run."""
    fifo = tmp_path / "slow.log"
    os.mkfifo(fifo)
    state = str(tmp_path / "s")
    proc = run(
        "scan", "--log", str(fifo), "--log", str(log), "--state", state, "--dry-run", "--json", "--now", NOW
    )
    assert proc.returncode == 0, proc.stderr
    assert f"log {fifo} is not a regular file: skipped" in proc.stderr
    assert json.loads(proc.stdout)["stats"]["lines"] == 7
    alone = run("scan", "--log", str(fifo), "--state", state, "--dry-run", check_stderr_lines=False)
    assert alone.returncode == 1
    assert "no log source could be read" in alone.stderr


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare")
def test_report_and_unban_dry_run(tmp_path, log):
    state = str(tmp_path / "s")
    run("scan", "--log", str(log), "--state", state, "--dry-run", "--now", NOW)
    rep = json.loads(run("report", "--state", state, "--json").stdout)
    assert {o["ip"] for o in rep["offenders"]} == {"203.0.113.5", "198.51.100.7"}
    unban = ["unban", "203.0.113.5", "--state", state, "--dry-run", "--json", "--now", "2026-11-26T08:10:00Z"]
    proc = run(*unban, netns=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["removed"] == ["203.0.113.5"]
    assert json.loads(run("status", "--state", state, "--json", "--now", "2026-11-26T08:10:00Z").stdout)[
        "bans"
    ]


def test_the_local_zone_is_read_once(monkeypatch, log, capsys):
    """Without TZ the CLI names the machine's zone explicitly (read once, not looked at again for every
    conversion): the stamps keep their meaning; a TZ already set is kept."""
    from mail_bruteforce_guard.detector import api, cli
    from mail_bruteforce_guard.parser.events import iso_utc

    monkeypatch.setenv("TZ", "Europe/Berlin")  # recorded first: the test leaves TZ as it found it
    assert cli.main(["parse", "--json", "--now", NOW, str(log)]) == 0
    assert os.environ["TZ"] == "Europe/Berlin"
    capsys.readouterr()
    monkeypatch.delenv("TZ")
    try:
        time.tzset()
        expected = [iso_utc(e.time) for _, e in api.parse_files([str(log)], now=cli.parse_time(NOW))]
        assert cli.main(["parse", "--json", "--now", NOW, str(log)]) == 0
        assert os.environ["TZ"] == ":/etc/localtime"
        got = [json.loads(line)["time"] for line in capsys.readouterr().out.splitlines()]
    finally:
        monkeypatch.undo()
        time.tzset()
    assert got == expected and len(got) == 7
