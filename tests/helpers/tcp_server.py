"""A real TCP server for the tests that talk to one (the SMTP relay of the notify tests, the IMAP server of
the e2e client tests, the hostile webhook receivers): 127.0.0.1, an ephemeral ``port``, one connection at a
time in a daemon thread, or each in its own (``concurrent``: a receiver that stalls must not hold the next
connection back)."""

from __future__ import annotations

import socket
import threading


class TcpServer:
    """Runs ``session(conn)`` for each connection until ``close()``; a connection that fails (a client gone,
    a TLS error: both OSError) just ends. Subclasses set their own attributes before calling ``__init__``."""

    def __init__(self, *, concurrent: bool = False) -> None:
        self.concurrent = concurrent
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
            if self.concurrent:
                threading.Thread(target=self._one, args=(conn,), daemon=True).start()
            else:
                self._one(conn)

    def _one(self, conn: socket.socket) -> None:
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
