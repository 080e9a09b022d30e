"""Delivery of one message (one alert, or a digest of several) through one notifier.

Every sender raises ``DeliveryError`` (one line) when the message did not get through; the outbox keeps it
and tries again later. Secrets are read from root-only files at send time and travel only inside the
process (an SMTP AUTH exchange, an HMAC header): never on a command line, never in the environment.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import http.client
import json
import os
import smtplib
import socket
import ssl
import stat
import subprocess
import threading
import time
import urllib.parse
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Callable

from .events import DIGEST, Alert, syslog_line, to_json
from .settings import Notifier, url_ok

SIGNATURE_HEADER = "X-MBG-Signature"  # "sha256=<hex HMAC of the body>" when the webhook has a secret_file
USER_AGENT = "mail-bruteforce-guard"
BACKOFF_CAP = 8.0  # seconds between a webhook's retries: 1, 2, 4, 8, 8...
RESPONSE_MAX = 65536  # bytes of a webhook's answer read (then the connection is closed)


class DeliveryError(Exception):
    """A message that did not get through (one line)."""


def read_secret(path: str) -> bytes:
    """The content of a secret file (trailing newline cut). The file must be a regular file owned by root
    (or by us) with no group/other permissions: a secret others can read is no secret."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as err:
        raise DeliveryError(f"cannot read secret file {path}: {err.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise DeliveryError(f"secret file {path} is not a regular file")
        if info.st_uid not in (0, os.geteuid()) or info.st_mode & 0o077:
            raise DeliveryError(f"secret file {path} must be owned by root and readable by its owner only")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(65536)
    finally:
        os.close(fd)
    return data.rstrip(b"\r\n")


def payload(alerts: list[Alert]) -> dict[str, Any]:
    """The JSON of a message: one alert's :func:`to_json`, or ``{"event": "digest", ...}`` for several."""
    if len(alerts) == 1:
        return to_json(alerts[0])
    counts: dict[str, int] = {}
    for alert in alerts:
        counts[alert.kind] = counts.get(alert.kind, 0) + 1
    return {
        "event": DIGEST,
        "severity": max(
            (a.severity for a in alerts), key=("info", "notice", "warning", "error", "critical").index
        ),
        "time": to_json(alerts[-1])["time"],
        "host": alerts[0].host,
        "summary": f"{len(alerts)} alerts: " + ", ".join(f"{n} {k}" for k, n in counts.items()),
        "count": len(alerts),
        "counts": counts,
        "alerts": [to_json(a) for a in alerts],
    }


def _body(alerts: list[Alert]) -> bytes:
    return json.dumps(payload(alerts), sort_keys=False).encode("utf-8")


# ---- webhook ----------------------------------------------------------------------------------------


def webhook_url(n: Notifier) -> str:
    """The notifier's URL: ``url``, or the first line of ``url_file`` (a root-only file like the other
    secrets: a Slack-style URL is itself a token). DeliveryError when it is not a one-line http(s) URL."""
    o = n.options
    if not o.get("url_file"):
        return o["url"]
    text = read_secret(o["url_file"]).decode("utf-8", "replace").strip()
    if not url_ok(text):
        raise DeliveryError(f"webhook {n.name}: url_file {o['url_file']} does not hold one http(s) URL")
    return text


def where(url: str) -> str:
    """``scheme://host[:port]`` of a URL, for messages: the user info, path and query may hold a token."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    host = f"[{host}]" if ":" in host else host
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}"


def _post(url: str, body: bytes, headers: dict, timeout: float) -> int:
    """One POST with ``timeout`` as a deadline for the whole exchange (connect, headers, the first 64 KiB of
    the answer): a receiver that drips bytes is cut off. Redirects are not followed (the status is
    returned). Returns the status; OSError or http.client.HTTPException otherwise."""
    parts = urllib.parse.urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.hostname or ""
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            host, parts.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(host, parts.port, timeout=timeout)
    cut = threading.Event()

    def cut_off() -> None:
        cut.set()
        sock = conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(timeout, cut_off)
    watchdog.daemon = True
    watchdog.start()
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read(RESPONSE_MAX)
        if cut.is_set():
            raise socket.timeout("timed out")
        return response.status
    except (OSError, http.client.HTTPException):
        if cut.is_set():
            raise socket.timeout("timed out") from None
        raise
    finally:
        watchdog.cancel()
        conn.close()


def send_webhook(n: Notifier, alerts: list[Alert], sleep: Callable[[float], None] = time.sleep) -> None:
    """POST the JSON; retry ``retries`` times (backoff 1, 2, 4 s...) on a connection error, a timeout,
    429 or 5xx. A 2xx is delivered; any other status (a redirect too: it is never followed) is a
    DeliveryError at once. Messages name ``scheme://host:port`` only."""
    o = n.options
    url = webhook_url(n)
    body = _body(alerts)
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "Connection": "close"}
    parts = urllib.parse.urlsplit(url)
    if parts.username is not None:  # http://user:password@host/: basic auth, to that host only
        pair = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
    if o["secret_file"]:
        digest = hmac.new(read_secret(o["secret_file"]), body, hashlib.sha256).hexdigest()
        headers[SIGNATURE_HEADER] = f"sha256={digest}"
    why = ""
    for attempt in range(o["retries"] + 1):
        if attempt:
            sleep(min(BACKOFF_CAP, 2.0 ** (attempt - 1)))
        try:
            status = _post(url, body, headers, o["timeout"])
        except socket.timeout:
            why = "timed out"
            continue
        except (OSError, http.client.HTTPException) as err:
            why = _error_name(err)
            continue
        if 200 <= status < 300:
            return
        why = f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")
        if status != 429 and status < 500:
            break
    raise DeliveryError(f"webhook {n.name}: {why} ({where(url)})")


def _error_name(err: BaseException) -> str:
    """A connection error in one line without the URL (http.client quotes the URL in some messages)."""
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return type(err).__name__


# ---- exec -------------------------------------------------------------------------------------------


def send_exec(n: Notifier, alerts: list[Alert]) -> None:
    """Run ``command`` (argv, no shell) with the JSON on stdin; exit 0 = delivered."""
    o = n.options
    _pipe(o["command"], _body(alerts), o["timeout"], f"exec {n.name}:")


def _pipe(argv: list[str], data: bytes, timeout: float, who: str) -> None:
    """Run ``argv`` (no shell) with ``data`` on stdin; DeliveryError naming its last stderr line unless 0."""
    try:
        done = subprocess.run(
            argv,
            input=data,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout,
            check=False,
            close_fds=True,
        )
    except subprocess.TimeoutExpired:
        raise DeliveryError(f"{who} timed out after {timeout}s") from None
    except OSError as err:
        raise DeliveryError(f"{who} cannot run {argv[0]}: {err.strerror}") from None
    if done.returncode != 0:
        last = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        raise DeliveryError(f"{who} exit {done.returncode} {last[0][:200]}".rstrip())


# ---- email ------------------------------------------------------------------------------------------


def message(n: Notifier, alerts: list[Alert]) -> EmailMessage:
    """The mail: subject from the alert (or the digest), one syslog-style line per alert, then the JSON."""
    data = payload(alerts)
    mail = EmailMessage()
    mail["Subject"] = f"[mail-bruteforce-guard] {data['host']}: {data['summary']}"[:200]
    mail["From"] = n.options["from"] or f"mail-bruteforce-guard@{socket.getfqdn()}"
    mail["To"] = ", ".join(n.options["to"])
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid("mbg")
    mail["Auto-Submitted"] = "auto-generated"
    lines = [syslog_line(a) for a in alerts]
    mail.set_content("\n".join(lines) + "\n\n" + json.dumps(data, indent=2) + "\n")
    return mail


def send_email(n: Notifier, alerts: list[Alert]) -> None:
    """Through the host's MTA (``sendmail -t -oi``, message on stdin) or an SMTP relay (STARTTLS, AUTH with
    the password from ``password_file``)."""
    o = n.options
    mail = message(n, alerts)
    if o["via"] == "sendmail":
        _pipe([o["sendmail"], "-t", "-oi"], mail.as_bytes(), o["timeout"], f"email {n.name}: sendmail")
        return
    try:
        _smtp(n, mail)
    except (smtplib.SMTPException, OSError, ssl.SSLError) as err:
        raise DeliveryError(f"email {n.name}: {o['smtp_host']}:{o['smtp_port']}: {str(err)[:200]}") from None


def _smtp(n: Notifier, mail: EmailMessage) -> None:
    o = n.options
    context = ssl.create_default_context(cafile=o["ca_file"] or None)
    if o["smtp_port"] == 465:
        client: smtplib.SMTP = smtplib.SMTP_SSL(o["smtp_host"], 465, timeout=o["timeout"], context=context)
    else:
        client = smtplib.SMTP(o["smtp_host"], o["smtp_port"], timeout=o["timeout"])
    with client:
        client.ehlo()
        if o["starttls"] and o["smtp_port"] != 465:
            client.starttls(context=context)
            client.ehlo()
        if o["username"]:
            client.login(o["username"], read_secret(o["password_file"]).decode("utf-8"))
        client.send_message(mail)


SENDERS: dict[str, Callable[[Notifier, list], None]] = {
    "email": send_email,
    "webhook": send_webhook,
    "exec": send_exec,
}


def send(n: Notifier, alerts: list[Alert]) -> None:
    """Deliver one message through ``n``; DeliveryError when it did not get through."""
    SENDERS[n.type](n, alerts)
