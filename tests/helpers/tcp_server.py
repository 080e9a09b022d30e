"""A real TCP server for the tests that talk to one (the SMTP relay of the notify tests, the IMAP server of
the e2e client tests): 127.0.0.1, an ephemeral ``port``, one connection at a time in a daemon thread."""

from __future__ import annotations

import socket
import threading


class TcpServer:
    """Runs ``session(conn)`` for each connection until ``close()``; a connection that fails (a client gone,
    a TLS error: both OSError) just ends. Subclasses set their own attributes before calling ``__init__``."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn = self.sock.accept()[0]
            except OSError:
                return
            try:
                self.session(conn)
            except OSError:
                pass
            finally:
                conn.close()

    def session(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.sock.close()
