"""Fast checks of the end-to-end attacker and client scripts (molecule `mail` runs them for real).

Real sockets only: a listener on 127.0.0.1 for `open`, a closed port for `refused`, and an iptables DROP rule
inside a throwaway network namespace (`unshare --net`, root) for `blocked`.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from tcp_server import TcpServer

HERE = Path(__file__).resolve().parent


def load(name: str):
    """Import tests/e2e/<name>.py as a module."""
    spec = importlib.util.spec_from_file_location(f"mbg_e2e_{name}", HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


attack = load("attack")
client = load("client")


def run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(HERE / script), *args], capture_output=True, text=True, timeout=30, check=False
    )


@pytest.mark.parametrize("value", ["-1", "51", "ten", "1.5"])
def test_attempt_counts_are_bounded(value):
    result = run("attack.py", "attack", "--target", "10.0.0.1", "--smtp", value)
    assert result.returncode == 2
    assert "--smtp" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("value", ["0", "50"])
def test_bounds_accept_the_limits(value):
    assert attack.bounded(value) == int(value)


@pytest.mark.parametrize(
    ("script", "args"),
    [
        ("attack.py", ["attack", "--target", "1.1.1.1"]),
        ("attack.py", ["probe", "--target", "8.8.8.8", "--port", "587", "--expect", "open"]),
        ("attack.py", ["probe", "--target", "127.0.0.1", "--port", "587", "--expect", "open"]),
        (
            "client.py",
            [
                "--target",
                "9.9.9.9",
                "--user",
                "a@example.com",
                "--password",
                "x",
                "--to",
                "b",
                "--to-password",
                "y",
            ],
        ),
    ],
)
def test_refuses_targets_outside_the_private_test_network(script, args):
    """Public and loopback targets are refused before any connection, with one clear line."""
    result = run(script, *args)
    assert result.returncode in {1, 2}
    assert "not a private test address" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_too_many_workers_is_a_usage_error():
    result = run("attack.py", "attack", "--target", "10.0.0.1", "--workers", "100")
    assert result.returncode == 2
    assert result.stderr.strip() == "attack.py: error: --workers must be between 1 and 32"


def test_tcp_state_open_and_refused():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        assert attack.tcp_state("127.0.0.1", port, 2.0) == "open"
    # the port is closed again: the kernel answers with a reset
    assert attack.tcp_state("127.0.0.1", port, 2.0) == "refused"


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("iptables"),
    reason="needs root, unshare and iptables for a throwaway network namespace",
)
def test_tcp_state_blocked_by_a_drop_rule():
    """A dropped SYN is 'blocked' (what a ban looks like to the attacker), in a namespace of its own."""
    code = (
        "import importlib.util, socket, sys\n"
        f"spec = importlib.util.spec_from_file_location('a', {str(HERE / 'attack.py')!r})\n"
        "a = importlib.util.module_from_spec(spec); spec.loader.exec_module(a)\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 5870)); s.listen(1)\n"
        "print(a.tcp_state('127.0.0.1', 5870, 0.5))\n"
    )
    script = (
        f'ip link set lo up && iptables -A INPUT -p tcp --dport 5870 -j DROP && {sys.executable} -c "$CODE"'
    )
    result = subprocess.run(
        ["unshare", "--net", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, "CODE": code},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "blocked"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--attempts", "0"], "--attempts"),
        (["--attempts", "51"], "--attempts"),
        (["--every", "0"], "--every"),
        (["--every", "soon"], "--every"),
    ],
)
def test_stale_client_bounds(args, message):
    base = ["--target", "10.0.0.1", "--user", "a@example.com", "--password", "x", "--old-password", "y"]
    result = run("stale_client.py", *base, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_stale_client_refuses_a_public_target():
    result = run("stale_client.py", "--target", "8.8.8.8", "--user", "a@example.com", "--password", "x",
                 "--old-password", "y")  # fmt: skip
    assert result.returncode == 1
    assert "not a private test address" in result.stderr


class _FakeImap(TcpServer):
    """A real IMAP listener on 127.0.0.1 that accepts the password ``right`` and refuses any other."""

    def __init__(self) -> None:
        self.logins: list[str] = []
        super().__init__()

    def session(self, conn: socket.socket) -> None:
        with conn.makefile("rwb") as stream:
            stream.write(b"* OK ready\r\n")
            stream.flush()
            for line in stream:
                tag, command, *args = line.decode().split()
                if command.upper() == "LOGIN":
                    password = args[-1].strip('"')
                    self.logins.append(password)
                    verdict = "OK" if password == "right" else "NO [AUTHENTICATIONFAILED]"
                    stream.write(f"{tag} {verdict} done\r\n".encode())
                elif command.upper() == "CAPABILITY":
                    stream.write(f"* CAPABILITY IMAP4rev1\r\n{tag} OK done\r\n".encode())
                else:  # LOGOUT
                    stream.write(f"* BYE\r\n{tag} OK bye\r\n".encode())
                stream.flush()


def test_the_stale_client_tells_a_refused_login_from_an_unreachable_server(monkeypatch):
    """Both scripts log in through client.imap_login: accepted, refused (the stale phone: False, the run goes
    on) and unreachable (a ban: ClientError) are three different outcomes."""
    stale = load("stale_client")
    server = _FakeImap()
    monkeypatch.setattr(sys.modules[stale.ClientError.__module__], "IMAP_PORT", server.port)
    assert stale.login("127.0.0.1", "alice@example.com", "right", 5.0) is True
    assert stale.login("127.0.0.1", "alice@example.com", "old", 5.0) is False
    assert server.logins == ["right", "old"]
    closed = socket.socket()  # bound, never listening: connections to its port are refused
    closed.bind(("127.0.0.1", 0))
    monkeypatch.setattr(sys.modules[stale.ClientError.__module__], "IMAP_PORT", closed.getsockname()[1])
    unreachable = r"^IMAP connect failed \(banned\?\): ConnectionRefusedError"
    with closed, pytest.raises(stale.ClientError, match=unreachable):
        stale.login("127.0.0.1", "alice@example.com", "right", 5.0)
