"""Real receivers for the notifier tests: an HTTP server (webhooks) and a small SMTP server with STARTTLS
and AUTH PLAIN/LOGIN, both on 127.0.0.1 in a thread."""

from __future__ import annotations

import base64
import http.server
import json
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

from tcp_server import TcpServer


class Hook(http.server.BaseHTTPRequestHandler):
    """Records every POST; answers the status codes queued in ``server.statuses`` (then 200)."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        server = self.server
        server.requests.append(
            {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body, "at": time.monotonic()}
        )
        if server.delay:
            time.sleep(server.delay)
        status = server.statuses.pop(0) if server.statuses else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


class WebhookServer:
    def __init__(self) -> None:
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        self.httpd.requests = []
        self.httpd.statuses = []
        self.httpd.delay = 0.0
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    @property
    def requests(self) -> list:
        return self.httpd.requests

    def json(self, i: int = -1) -> dict:
        return json.loads(self.requests[i]["body"])

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def make_cert(directory: Path) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (openssl)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


class SmtpServer(TcpServer):
    """One SMTP session at a time: EHLO, STARTTLS, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, QUIT. Records the
    messages, the credentials it was given, and whether the session was under TLS when AUTH came."""

    def __init__(self, cert: str, key: str, require_tls: bool = True) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.require_tls = require_tls
        self.messages: list[dict] = []
        self.auth: list[tuple[str, str, bool]] = []
        super().__init__()

    def session(self, conn: socket.socket) -> None:  # noqa: PLR0912, PLR0915 - an SMTP dialogue, verb by verb
        tls = False
        f = conn.makefile("rwb")

        def say(line: str) -> None:
            f.write(line.encode() + b"\r\n")
            f.flush()

        say("220 test ESMTP")
        mail: dict = {}
        while True:
            raw = f.readline()
            if not raw:
                return
            line = raw.decode().rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                caps = ["250-test"] + ([] if tls else ["250-STARTTLS"])
                if tls or not self.require_tls:
                    caps.append("250-AUTH PLAIN LOGIN")
                say("\r\n".join([*caps, "250 8BITMIME"]))
            elif verb == "STARTTLS":
                say("220 go ahead")
                f.close()
                conn = self.context.wrap_socket(conn, server_side=True)
                f = conn.makefile("rwb")
                tls = True
            elif verb == "AUTH":
                parts = line.split()
                if parts[1].upper() == "PLAIN":
                    blob = parts[2] if len(parts) > 2 else None
                    if blob is None:
                        say("334 ")
                        blob = f.readline().decode().strip()
                    _, user, password = base64.b64decode(blob).decode().split("\x00")
                else:
                    say("334 VXNlcm5hbWU6")
                    user = base64.b64decode(f.readline().strip()).decode()
                    say("334 UGFzc3dvcmQ6")
                    password = base64.b64decode(f.readline().strip()).decode()
                self.auth.append((user, password, tls))
                say("235 ok")
            elif verb == "MAIL":
                mail = {"from": line, "rcpt": [], "tls": tls}
                say("250 ok")
            elif verb == "RCPT":
                mail["rcpt"].append(line)
                say("250 ok")
            elif verb == "DATA":
                say("354 end with .")
                data = []
                while True:
                    chunk = f.readline()
                    if chunk in (b".\r\n", b".\n", b""):
                        break
                    data.append(chunk)
                mail["data"] = b"".join(data).decode("utf-8", "replace")
                self.messages.append(mail)
                say("250 queued")
            elif verb == "QUIT":
                say("221 bye")
                return
            else:
                say("250 ok")
