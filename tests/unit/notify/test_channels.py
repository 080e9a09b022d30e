"""The notifiers against real receivers: an HTTP server (HMAC, retries on 500, timeout), an SMTP server
with STARTTLS and AUTH, the sendmail interface and exec with real scripts; secrets never on a command line."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import sys
import time
from email import message_from_string
from email.policy import default as email_policy

import pytest
from mail_bruteforce_guard.notify import channels
from mail_bruteforce_guard.notify.events import account_alert, ban_alert
from mail_bruteforce_guard.notify.settings import notifier

NOW = 1_800_000_000.0
SECRET = "s3cr3t-Very-Unlikely-On-Argv"


def secret_file(tmp_path, text=SECRET, mode=0o600):
    path = tmp_path / "secret"
    path.write_text(text + "\n")
    path.chmod(mode)
    return str(path)


def a_ban():
    return ban_alert("203.0.113.5", NOW + 3600, "6 failures in 600s", NOW, host="mx1")


def test_webhook_posts_json_with_hmac(hook, tmp_path):
    n = notifier({"type": "webhook", "url": hook.url, "secret_file": secret_file(tmp_path)}, 0)
    channels.send(n, [a_ban()])
    (req,) = hook.requests
    body = json.loads(req["body"])
    assert body["event"] == "ban"
    assert body["address"] == "203.0.113.5"
    assert body["severity"] == "notice"
    assert body["host"] == "mx1"
    want = hmac.new(SECRET.encode(), req["body"], hashlib.sha256).hexdigest()
    assert req["headers"][channels.SIGNATURE_HEADER.lower()] == f"sha256={want}"
    assert req["headers"]["content-type"] == "application/json"


def test_webhook_retries_500_with_backoff(hook):
    hook.httpd.statuses[:] = [500, 503]
    slept = []
    n = notifier({"type": "webhook", "url": hook.url, "retries": 3}, 0)
    channels.send_webhook(n, [a_ban()], sleep=slept.append)
    assert len(hook.requests) == 3
    assert slept == [1.0, 2.0]


def test_webhook_gives_up_after_retries_and_not_on_4xx(hook):
    hook.httpd.statuses[:] = [500] * 5
    n = notifier({"type": "webhook", "url": hook.url, "retries": 2}, 0)
    with pytest.raises(channels.DeliveryError, match="HTTP 500"):
        channels.send_webhook(n, [a_ban()], sleep=lambda _s: None)
    assert len(hook.requests) == 3
    hook.requests.clear()
    hook.httpd.statuses[:] = [404]
    with pytest.raises(channels.DeliveryError, match="HTTP 404"):
        channels.send_webhook(n, [a_ban()], sleep=lambda _s: None)
    assert len(hook.requests) == 1  # a client error is not retried


def test_webhook_timeout(hook):
    hook.httpd.delay = 3.0
    n = notifier({"type": "webhook", "url": hook.url, "timeout": 1, "retries": 0}, 0)
    started = time.monotonic()
    with pytest.raises(channels.DeliveryError, match="timed out"):
        channels.send(n, [a_ban()])
    assert time.monotonic() - started < 3.0


def test_webhook_refused_connection():
    n = notifier({"type": "webhook", "url": "http://127.0.0.1:9/x", "retries": 1}, 0)
    with pytest.raises(channels.DeliveryError, match="webhook webhook0"):
        channels.send_webhook(n, [a_ban()], sleep=lambda _s: None)


@pytest.mark.parametrize("mode", [0o640, 0o604])
def test_secret_file_others_can_read_is_refused(tmp_path, hook, mode):
    n = notifier({"type": "webhook", "url": hook.url, "secret_file": secret_file(tmp_path, mode=mode)}, 0)
    with pytest.raises(channels.DeliveryError, match="readable by its owner only"):
        channels.send(n, [a_ban()])
    assert not hook.requests


def test_digest_payload():
    alerts = [ban_alert(f"203.0.113.{i}", NOW + 60, "r", NOW, host="mx1") for i in range(3)]
    alerts.append(account_alert("compromised", "alice", ["203.0.113.1"], NOW, host="mx1"))
    body = channels.payload(alerts)
    assert body["event"] == "digest"
    assert body["count"] == 4
    assert body["counts"] == {"ban": 3, "compromised": 1}
    assert body["severity"] == "critical"
    assert [a["event"] for a in body["alerts"]] == ["ban", "ban", "ban", "compromised"]


def script(tmp_path, name, body):
    path = tmp_path / name
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


RECORDER = """import json, os, sys
out = os.environ.get("OUT") or sys.argv[1]
data = sys.stdin.buffer.read()
cmdlines = {}
for pid in [os.getpid(), os.getppid()]:
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        cmdlines[pid] = fh.read().decode("utf-8", "replace")
with open(out, "w") as fh:
    json.dump({"argv": sys.argv, "stdin": data.decode(), "cmdlines": cmdlines, "env": dict(os.environ)}, fh)
"""


def test_exec_gets_json_on_stdin_no_shell(tmp_path):
    out = tmp_path / "out.json"
    cmd = script(tmp_path, "rec", RECORDER)
    n = notifier({"type": "exec", "command": [cmd, str(out), "$(touch pwned)"]}, 0)
    channels.send(n, [a_ban()])
    seen = json.loads(out.read_text())
    assert json.loads(seen["stdin"])["address"] == "203.0.113.5"
    assert seen["argv"][1:] == [str(out), "$(touch pwned)"]  # literal: no shell
    assert not (tmp_path / "pwned").exists()


def test_exec_failure_and_timeout(tmp_path):
    bad = script(tmp_path, "bad", "import sys\nsys.stderr.write('no route to pager\\n')\nsys.exit(3)\n")
    with pytest.raises(channels.DeliveryError, match="exit 3 no route to pager"):
        channels.send(notifier({"type": "exec", "command": [bad]}, 0), [a_ban()])
    slow = script(tmp_path, "slow", "import time\ntime.sleep(30)\n")
    with pytest.raises(channels.DeliveryError, match="timed out"):
        channels.send(notifier({"type": "exec", "command": [slow], "timeout": 1}, 0), [a_ban()])
    with pytest.raises(channels.DeliveryError, match="cannot run"):
        channels.send(notifier({"type": "exec", "command": [str(tmp_path / "missing")]}, 0), [a_ban()])


def test_email_through_sendmail_interface(tmp_path):
    """The sendmail interface (``-t -oi``, message on stdin) with a recording program in sendmail's place;
    the real Postfix sendmail is exercised in the molecule mail scenario."""
    out = tmp_path / "mail.json"
    fake = script(
        tmp_path, "sendmail", RECORDER.replace('os.environ.get("OUT") or sys.argv[1]', repr(str(out)))
    )
    n = notifier({"type": "email", "to": ["root", "ops@example.org"], "sendmail": fake}, 0)
    channels.send(n, [account_alert("compromised", "alice@example.com", ["198.51.100.9"], NOW, host="mx1")])
    seen = json.loads(out.read_text())
    assert seen["argv"][1:] == ["-t", "-oi"]
    mail = message_from_string(seen["stdin"], policy=email_policy)
    assert mail["To"] == "root, ops@example.org"
    assert "account alice@example.com logged into after failures" in mail["Subject"]
    assert mail["Auto-Submitted"] == "auto-generated"
    assert "event=compromised severity=critical user=alice@example.com" in mail.get_content()


def relay(server, password_file: str, **extra) -> dict:
    """An email notifier through the SMTP relay ``server``."""
    return {
        "type": "email",
        "via": "smtp",
        "smtp_host": "127.0.0.1",
        "smtp_port": server.port,
        "username": "mbg",
        "password_file": password_file,
        **extra,
    }


def test_email_through_smtp_relay_starttls_auth(tmp_path, cert, smtp):
    settings = relay(smtp, secret_file(tmp_path), ca_file=cert[0], to=["ops@example.org"])
    channels.send(notifier({**settings, "from": "guard@mx1.example.org"}, 0), [a_ban()])
    assert smtp.auth == [("mbg", SECRET, True)]  # the password went over TLS only
    (mail,) = smtp.messages
    assert mail["tls"]
    assert "ops@example.org" in mail["rcpt"][0]
    assert "banned 203.0.113.5 for 3600s" in mail["data"]


def test_smtp_relay_with_an_untrusted_certificate_fails(tmp_path, smtp):
    n = notifier(relay(smtp, secret_file(tmp_path)), 0)
    with pytest.raises(channels.DeliveryError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify"):
        channels.send(n, [a_ban()])
    assert smtp.auth == []  # no password sent to a server we could not verify


def test_secrets_never_on_argv_or_environment(tmp_path, hook, cert, smtp):
    """Every notifier with a secret configured, then the children's command lines (/proc/PID/cmdline of the
    child and of its parent, this process) and environments hold no secret."""
    secret = secret_file(tmp_path)
    outs = [tmp_path / "exec.json", tmp_path / "sendmail.json"]
    exec_cmd = script(tmp_path, "rec", RECORDER)
    fake = script(
        tmp_path, "sendmail", RECORDER.replace('os.environ.get("OUT") or sys.argv[1]', repr(str(outs[1])))
    )
    for entry in (
        {"type": "webhook", "url": hook.url, "secret_file": secret},
        {"type": "exec", "command": [exec_cmd, str(outs[0])]},
        {"type": "email", "sendmail": fake},
        relay(smtp, secret, ca_file=cert[0], username="u"),
    ):
        channels.send(notifier(entry, 0), [a_ban()])
    assert smtp.auth[0][1] == SECRET  # the secret was really used
    assert hook.requests[0]["headers"][channels.SIGNATURE_HEADER.lower()].startswith("sha256=")
    for out in outs:
        seen = json.loads(out.read_text())
        assert seen["cmdlines"]  # really read
        for cmdline in seen["cmdlines"].values():
            assert SECRET not in cmdline
        assert SECRET not in json.dumps(seen["env"])
        assert SECRET not in seen["stdin"]
    with open(f"/proc/{os.getpid()}/cmdline", "rb") as fh:
        assert SECRET.encode() not in fh.read()
