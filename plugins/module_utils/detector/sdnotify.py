"""systemd's notification protocol (``Type=notify``) with the standard library: one AF_UNIX datagram per
message to ``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace). Without the variable
(not started by systemd) every call does nothing.
"""

from __future__ import annotations

import os
import socket


class Notifier:
    """``ready()``, ``watchdog()``, ``stopping()``, ``status(text)``; ``watchdog_interval`` is half of
    ``$WATCHDOG_USEC`` in seconds (None: no watchdog asked for, or it is meant for another process)."""

    def __init__(self, environ: dict | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):
            address = "\0" + address[1:]  # the abstract namespace
        self.address = address if address and (address[0] in "/\0") else ""
        self.watchdog_interval: float | None = None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog_interval = int(usec) / 2e6
        self._sock: socket.socket | None = None

    def send(self, message: str) -> bool:
        """Send one message; False when there is no socket or it could not be sent (never raises)."""
        if not self.address:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(message.encode("utf-8", "replace"), self.address)
        except OSError:
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.send("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def reloading(self) -> bool:
        return self.send("RELOADING=1")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
