"""The alerting layer against a hostile world: receivers that lie, drip or redirect, usernames built to
break a mail header or a log tool, secrets in webhook URLs, a planted FIFO in the metrics directory, a
damaged outbox, an alert storm and a clock that goes back. Real sockets, files and programs throughout."""

from __future__ import annotations

import base64
import http.server
import json
import os
import re
import socket
import threading
import time
from email import message_from_bytes
from email.policy import default as email_policy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mail_bruteforce_guard.detector import metrics
from mail_bruteforce_guard.detector.config import Config
from mail_bruteforce_guard.notify import channels, outbox
from mail_bruteforce_guard.notify.events import account_alert, ban_alert, syslog_line
from mail_bruteforce_guard.notify.settings import notifier
from receivers import WebhookServer
from tcp_server import TcpServer

NOW = 1_800_000_000.0
TOKEN = "T0KEN-xoxb-Never-In-A-Message"


def a_ban(i: int = 5, now: float = NOW):
    return ban_alert(f"203.0.113.{i}", now + 600, "r", now, host="mx1")


# ---- webhook receivers --------------------------------------------------------------------------------


class RawServer(TcpServer):
    """A receiver whose every connection, once its request is read, runs ``behaviour(conn)`` (each in its own
    thread)."""

    def __init__(self, behaviour) -> None:
        self.behaviour = behaviour
        super().__init__(concurrent=True)

    def session(self, conn: socket.socket) -> None:
        conn.recv(65536)
        self.behaviour(conn)


def _drip(head: bytes, each: bytes):
    def behaviour(conn: socket.socket) -> None:
        conn.sendall(head)
        for _tick in range(60):  # 30 s of one line every half second: each read is within any timeout
            conn.sendall(each)
            time.sleep(0.5)

    return behaviour


HOSTILE = {
    "garbage status line": lambda c: c.sendall(b"HELLO THERE\r\n\r\n"),
    "header line over 64 KiB": lambda c: c.sendall(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000 + b"\r\n\r\n"),
    "headers dripped": _drip(b"HTTP/1.1 200 OK\r\n", b"X-A: b\r\n"),
    "body dripped": _drip(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n", b"a"),
    "closed at once": lambda c: None,
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_receiver_is_one_delivery_error_within_the_timeout(name):
    """Before: http.client's BadStatusLine and LineTooLong escaped as tracebacks (the run died with its
    leases taken), and a receiver dripping a byte per read held the run for as long as it liked."""
    server = RawServer(HOSTILE[name])
    try:
        n = notifier({"type": "webhook", "url": f"http://127.0.0.1:{server.port}/h", "timeout": 1}, 0)
        started = time.monotonic()
        with pytest.raises(channels.DeliveryError) as err:
            channels.send_webhook(n, [a_ban()], sleep=lambda _s: None)
        assert time.monotonic() - started < 15  # 4 attempts of 1 s; the drip lasts 30 s per attempt
        assert str(err.value).startswith("webhook webhook0: ")
        assert "\n" not in str(err.value)
    finally:
        server.close()


class _Redirect(http.server.BaseHTTPRequestHandler):
    """POST /h: answers ``server.code`` to ``server.location``; any other request: kept in ``server.seen``."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path != "/h":
            self.do_GET()
            return
        self.send_response(self.server.code)
        self.send_header("Location", self.server.location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self.server.seen.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_redirects_are_never_followed(tmp_path, code):
    """Before: a 302 made urllib GET the Location (another host: the metadata address, an internal
    service) with the signature header, and a 200 there counted the alert as delivered: it was lost."""
    redirect = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Redirect)
    redirect.seen = []
    # another "host" (port) standing for http://169.254.169.254/ or an internal service
    redirect.code, redirect.location = code, f"http://127.0.0.1:{redirect.server_address[1]}/metadata"
    threading.Thread(target=redirect.serve_forever, daemon=True).start()
    try:
        n = notifier({"type": "webhook", "url": f"http://127.0.0.1:{redirect.server_address[1]}/h"}, 0)
        with pytest.raises(channels.DeliveryError, match=f"HTTP {code} \\(redirects are not followed\\)"):
            channels.send_webhook(n, [a_ban()], sleep=lambda _s: None)
        assert redirect.seen == []
    finally:
        redirect.shutdown()
        redirect.server_close()


@pytest.mark.parametrize(
    "url",
    [
        f"http://user:{TOKEN}@127.0.0.1:9/x",  # refused port: the error names the URL
        f"http://127.0.0.1:9/services/T000/B000/{TOKEN}",  # a Slack-style path token
        f"http://127.0.0.1:9/hook?token={TOKEN}",
    ],
)
def test_webhook_errors_never_carry_the_url_secret(url):
    """Before: the error (syslog, the outbox file, notify's output) held the URL but its query: a password
    in the user info and a Slack token in the path were written out."""
    n = notifier({"type": "webhook", "url": url, "retries": 0, "timeout": 1}, 0)
    with pytest.raises(channels.DeliveryError) as err:
        channels.send_webhook(n, [a_ban()], sleep=lambda _s: None)
    assert TOKEN not in str(err.value)
    assert "webhook webhook0: " in str(err.value)


def test_messages_name_scheme_host_and_port_only():
    assert (
        channels.where(f"https://u:{TOKEN}@[2001:db8::1]:8443/p/{TOKEN}?t={TOKEN}")
        == "https://[2001:db8::1]:8443"
    )
    assert channels.where(f"http://hooks.example.org/services/{TOKEN}") == "http://hooks.example.org"


def test_user_info_is_basic_auth_to_that_host_only():
    hook = WebhookServer()
    try:
        port = hook.httpd.server_address[1]
        channels.send(
            notifier({"type": "webhook", "url": f"http://mbg:{TOKEN}@127.0.0.1:{port}/h"}, 0), [a_ban()]
        )
        auth = hook.requests[0]["headers"]["authorization"]
        assert base64.b64decode(auth.split()[1]).decode() == f"mbg:{TOKEN}"
    finally:
        hook.close()


def test_url_file_keeps_a_token_url_out_of_the_config(tmp_path):
    hook = WebhookServer()
    try:
        url_file = tmp_path / "hook.url"
        url_file.write_text(f"{hook.url}?token={TOKEN}\n")
        url_file.chmod(0o600)
        entry = {"type": "webhook", "url_file": str(url_file)}
        assert TOKEN not in json.dumps(Config({"notify": [entry]}).as_dict())
        channels.send(notifier(entry, 0), [a_ban()])
        assert hook.json()["address"] == "203.0.113.5"
        url_file.chmod(0o644)  # a token others can read is no secret
        with pytest.raises(channels.DeliveryError, match="readable by its owner only"):
            channels.send(notifier(entry, 0), [a_ban()])
        url_file.write_text(f"gopher://x/{TOKEN}\n")
        url_file.chmod(0o600)
        with pytest.raises(channels.DeliveryError, match="does not hold one http") as err:
            channels.send(notifier(entry, 0), [a_ban()])
        assert TOKEN not in str(err.value)
    finally:
        hook.close()


# ---- attacker-chosen usernames ------------------------------------------------------------------------

SEPARATORS = ["\u2028", "\u2029", "\x85", "\udcff", "\x1b[31m", "\u202e", "\r\n"]


@pytest.mark.parametrize("sep", SEPARATORS)
def test_a_username_cannot_make_mail_unsendable_or_add_a_header(sep):
    """Before: U+2028, U+2029 or U+0085 in a username (valid UTF-8 a client can send) made the email package
    refuse the Subject: every message holding that alert, a digest with the other alerts too, failed as a
    'damaged entry' and was retried for seven days."""
    user = f"x{sep}Bcc: evil@example.org"
    alerts = [account_alert("compromised", user, ["192.0.2.1"], NOW, host="mx1"), a_ban()]
    n = notifier({"type": "email", "to": ["root"]}, 0)
    for group in (alerts[:1], alerts):
        raw = channels.message(n, group).as_bytes()
        mail = message_from_bytes(raw, policy=email_policy)
        assert "Bcc" not in mail and mail["To"] == "root"
        assert "evil@example.org" in mail["Subject"] or len(group) > 1


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_any_username_builds_a_mail_with_the_fixed_headers(user):
    n = notifier({"type": "email", "to": ["root"]}, 0)
    raw = channels.message(n, [account_alert("targeted", user, ["192.0.2.1"], NOW, host="mx1")]).as_bytes()
    mail = message_from_bytes(raw, policy=email_policy)
    assert sorted(mail.keys()) == sorted(
        [
            "Subject",
            "From",
            "To",
            "Date",
            "Message-ID",
            "Auto-Submitted",
            "Content-Type",
            "Content-Transfer-Encoding",
            "MIME-Version",
        ]
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([*"ab =:.,?", "event", "address", "192.0.2.66"]), max_size=12).map("".join)
    | st.text(max_size=40)
)
def test_no_key_value_look_alike_before_the_syslog_tail(user):
    """Before: the sentence held the username as is, so ``x address=192.0.2.66 event=ban`` put
    ``address=192.0.2.66`` before the tail: a tool taking the first ``event=``/``address=`` read the lie."""
    line = syslog_line(account_alert("compromised", user, ["198.51.100.1"], NOW, host="h"))
    assert re.search(r"event=(\S+)", line).group(1) == "compromised"
    head = line.partition(": event=compromised severity=critical ")[0]
    assert "=" not in head


# ---- the metrics file ---------------------------------------------------------------------------------


def test_a_fifo_planted_in_the_metrics_directory_cannot_hang_the_scan(tmp_path):
    """Before: the temp file had a fixed name (``<file>.tmp``) opened without O_EXCL: a FIFO planted there by
    whoever may write the textfile directory blocked the scan forever (and detection with it)."""
    state = tmp_path / "state"
    state.mkdir()
    target = tmp_path / "mbg.prom"
    os.mkfifo(f"{target}.tmp")
    warnings: list[str] = []
    done = threading.Event()

    def write() -> None:
        metrics.write_textfile(str(target), {}, {}, state_dir=str(state), now=NOW, warn=warnings.append)
        done.set()

    threading.Thread(target=write, daemon=True).start()
    finished = done.wait(20)
    if not finished:  # unblock the old code's open() so the thread ends
        os.close(os.open(f"{target}.tmp", os.O_RDONLY | os.O_NONBLOCK))
    assert finished, "the metrics write blocked on a planted FIFO"
    assert not warnings
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert "mail_bruteforce_guard_runs_total 0" in target.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mbg.prom", "mbg.prom.tmp", "state"]


# ---- the outbox ---------------------------------------------------------------------------------------


def config(tmp_path, notify, **kw):
    return Config({"state_dir": str(tmp_path / "state"), "syslog": False, "notify": notify, **kw})


EXEC = [{"type": "exec", "command": ["/bin/true"]}]

DAMAGE = {
    "no time": lambda e: e["alert"].pop("time"),
    "tries a word": lambda e: e.update(tries="x"),
    "next not a number": lambda e: e.update(next=float("nan")),
    "a field an object": lambda e: e["alert"].update(address={"a": 1}),
    "first infinite": lambda e: e.update(first=float("inf")),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_entry_is_set_aside_and_the_rest_delivered(tmp_path, damage):
    """Before: a KeyError, TypeError or ValueError traceback in the delivery run (with every entry leased),
    or an entry never due nor ever too old; one bad entry in a digest failed the whole digest."""
    cfg = config(tmp_path, EXEC, alert_interval=60)
    outbox.raise_alerts(cfg, [a_ban(i) for i in range(6)], now=NOW, warn=print)
    path = tmp_path / "state" / outbox.OUTBOX
    data = json.loads(path.read_text())
    DAMAGE[damage](data["queue"][0])
    path.write_text(json.dumps(data))
    sent: list[list[str]] = []
    warnings: list[str] = []
    result = outbox.deliver(
        cfg,
        now=NOW,
        warn=warnings.append,
        sender=lambda _n, alerts: sent.append([a.subject for a in alerts]),
    )
    assert len(warnings) == 1 and "1 damaged entries moved to" in warnings[0]
    aside = [p for p in (tmp_path / "state").iterdir() if ".damaged-" in p.name]
    assert len(aside) == 1 and oct(aside[0].stat().st_mode & 0o777) == "0o600"
    assert len(json.loads(aside[0].read_text())) == 1  # nothing lost: kept for a look
    assert sent == [[f"203.0.113.{i}" for i in range(1, 6)]]
    assert result.queued == 0
    assert outbox.deliver(cfg, now=NOW, warn=warnings.append, sender=lambda _n, _a: None).messages == 0
    assert len(warnings) == 1  # set aside once


def test_entries_given_up_with_an_odd_summary_are_logged_not_a_traceback(tmp_path):
    """Before: giving up a too-old entry sliced its summary: a number there was a TypeError traceback."""
    cfg = config(tmp_path, EXEC)
    outbox.raise_alerts(cfg, [a_ban(i) for i in range(3)], now=NOW, warn=print)
    path = tmp_path / "state" / outbox.OUTBOX
    data = json.loads(path.read_text())
    for entry in data["queue"]:
        entry["alert"]["summary"] = 5
    path.write_text(json.dumps(data))
    result = outbox.deliver(cfg, now=NOW + outbox.MAX_AGE + 1, warn=print, sender=lambda _n, _a: None)
    assert (result.dropped, result.queued) == (3, 0)


def test_a_storm_of_bans_cannot_push_a_compromised_alert_out(tmp_path):
    """Before: beyond MAX_QUEUE the oldest entries went first, whatever their severity: 5,000 bans (one
    botnet) evicted the queued alert that an account was broken into."""
    cfg = config(tmp_path, EXEC)
    outbox.raise_alerts(
        cfg, [account_alert("compromised", "alice", ["192.0.2.1"], NOW, host="h")], now=NOW, warn=print
    )
    storm = [
        ban_alert(f"2001:db8::{i:x}", NOW + 600, "r", NOW, host="h") for i in range(outbox.MAX_QUEUE + 100)
    ]
    outbox.raise_alerts(cfg, storm, now=NOW + 1, warn=print)
    queue = json.loads((tmp_path / "state" / outbox.OUTBOX).read_text())["queue"]
    assert len(queue) == outbox.MAX_QUEUE
    assert queue[0]["alert"]["event"] == "compromised"
    assert queue[1]["alert"]["address"] == "2001:db8::65"  # then the newest bans
    assert outbox.pending(cfg.state_dir, print)["counts"]["dropped"] == {"overflow": 101}


def test_a_clock_that_went_back_holds_nothing_longer_than_an_interval(tmp_path):
    """Before: times recorded under a clock a year ahead held the account's de-duplication and the
    notifier's rate limit for that year after the clock was corrected."""
    cfg = config(tmp_path, EXEC, alert_rate_limit=2, alert_interval=3600)
    ahead = NOW + 365 * 86400
    alice = account_alert("compromised", "alice", ["192.0.2.1"], ahead, host="h")
    outbox.raise_alerts(cfg, [alice], now=ahead, warn=print)
    for i in range(2):
        outbox.raise_alerts(cfg, [a_ban(i, ahead)], now=ahead + i, warn=print)
        outbox.deliver(cfg, now=ahead + i, warn=print, sender=lambda _n, _a: None)
    # the clock is corrected: within one interval the old limits still hold, after it they are gone
    assert outbox.raise_alerts(cfg, [alice._replace(time=NOW)], now=NOW, warn=print) == []
    assert len(outbox.raise_alerts(cfg, [alice._replace(time=NOW + 3600)], now=NOW + 3600, warn=print)) == 1
    sent = []
    outbox.deliver(cfg, now=NOW + 3600, warn=print, sender=lambda _n, alerts: sent.append(alerts))
    assert "alice" in [a.subject for group in sent for a in group]


def test_each_message_is_recorded_as_it_goes(tmp_path):
    """Before: the results were written after the last send: a run killed by the unit's timeout (a slow
    receiver after a fast one) forgot what went out, and the fast notifier sent it again."""
    cfg = config(
        tmp_path,
        [
            {"type": "exec", "name": "fast", "command": ["/bin/true"]},
            {"type": "exec", "name": "slow", "command": ["/bin/true"]},
        ],
    )
    outbox.raise_alerts(cfg, [a_ban()], now=NOW, warn=print)

    def sender(n, _alerts):
        if n.name == "slow":
            raise KeyboardInterrupt  # stands for SIGTERM from TimeoutStartSec=

    with pytest.raises(KeyboardInterrupt):
        outbox.deliver(cfg, now=NOW, warn=print, sender=sender)
    assert outbox.pending(cfg.state_dir, print)["queued"] == {"slow": 1}
