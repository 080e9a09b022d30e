"""Alert formatting (syslog line, JSON) and the notify config keys' validation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mail_bruteforce_guard.detector.config import Config
from mail_bruteforce_guard.errors import ConfigError
from mail_bruteforce_guard.notify.events import (
    account_alert,
    ban_alert,
    failure_alert,
    from_json,
    syslog_line,
    to_json,
    unban_alert,
)
from mail_bruteforce_guard.notify.settings import notifier
from mail_bruteforce_guard.schema import errors

NOW = 1_800_000_000.0


def tail(line: str) -> dict:
    """Split the key=value tail the way a log tool would."""
    _, _, rest = line.rpartition(": event=")
    pairs = ("event=" + rest).split(" ")
    return dict(p.split("=", 1) for p in pairs)


def test_syslog_lines_have_a_stable_tail():
    line = syslog_line(ban_alert("203.0.113.5", NOW + 3600, "6 failures in 600s", NOW, count=2, host="mx1"))
    assert line == (
        "banned 203.0.113.5 for 3600s: 6 failures in 600s: event=ban severity=notice address=203.0.113.5 "
        "until=2027-01-15T09:00:00Z duration=3600 bans=2"
    )
    assert syslog_line(unban_alert("2001:db8::/64", NOW, host="h")).endswith(
        "event=unban severity=info address=2001:db8::/64"
    )
    line = syslog_line(account_alert("compromised", "alice", ["198.51.100.9", "192.0.2.1"], NOW, host="h"))
    assert tail(line) == {
        "event": "compromised",
        "severity": "critical",
        "user": "alice",
        "addresses": "192.0.2.1,198.51.100.9",
        "count": "2",
    }
    line = syslog_line(failure_alert("log", "cannot read /var/log/mail.log", NOW, host="h"))
    assert tail(line) == {"event": "failure", "severity": "error", "component": "log"}


@given(st.text(max_size=80))
def test_hostile_usernames_cannot_break_the_line_or_the_tail(user):
    alert = account_alert("targeted", user, ["192.0.2.1"], NOW, host="h")
    line = syslog_line(alert)
    assert "\n" not in line and "\r" not in line and "\x00" not in line
    fields = tail(line)
    assert fields["event"] == "targeted"
    assert fields["addresses"] == "192.0.2.1"
    assert " " not in fields["user"] and "=" not in fields["user"]


def test_json_round_trip():
    for alert in (
        ban_alert("203.0.113.5", NOW + 60, "r", NOW, host="h"),
        account_alert("targeted", "bob", ["192.0.2.1"], NOW, host="h"),
        failure_alert("mail-bruteforce-guard-scan.service", "failed", NOW, host="h"),
    ):
        body = to_json(alert)
        assert body["time"] == "2027-01-15T08:00:00Z"
        back = from_json(body)
        assert (back.kind, back.subject, back.time, back.host) == (alert.kind, alert.subject, alert.time, "h")
    with pytest.raises(ValueError):
        from_json({"event": "nonsense"})


def test_filters():
    n = notifier({"type": "exec", "command": ["/bin/true"], "min_severity": "warning"}, 0)
    assert [k for k in ("ban", "unban", "targeted", "compromised", "failure") if n.wants(k)] == [
        "targeted",
        "compromised",
        "failure",
    ]
    n = notifier({"type": "exec", "command": ["/bin/true"], "events": ["ban"]}, 0)
    assert n.wants("ban") and not n.wants("compromised")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"type": "pager"}, "'type' must be"),
        ({"type": "webhook"}, "needs exactly one of 'url' and 'url_file'"),
        ({"type": "webhook", "url": "http://x", "url_file": "/etc/mbg/url"}, "exactly one of"),
        ({"type": "webhook", "url_file": "url.txt"}, "'url_file' must be an absolute path"),
        ({"type": "webhook", "url": "ftp://x"}, "'url' must be http:// or https://"),
        # http.client refuses a space or control character at send time (a traceback, before): refused here
        ({"type": "webhook", "url": "http://x/a b/TOKEN"}, "no spaces or control characters"),
        ({"type": "webhook", "url": "http://x/a\tb"}, "no spaces or control characters"),
        ({"type": "webhook", "url": "http://x", "secret": "inline"}, "unknown key 'secret'"),
        ({"type": "webhook", "url": "http://x", "secret_file": "rel/path"}, "absolute path"),
        ({"type": "webhook", "url": "http://x", "retries": 99}, "'retries' must be an integer 0-10"),
        ({"type": "exec", "command": "/bin/sh -c 'x'"}, "argv, no shell"),
        ({"type": "exec", "command": ["notify-send"]}, "absolute path"),
        ({"type": "email", "via": "smtp"}, "'smtp_host' is required"),
        ({"type": "email", "username": "u"}, "'username' and 'password_file' go together"),
        # the docs promise the password only over TLS: starttls false on a plain port would send it in clear
        (
            {
                "type": "email",
                "via": "smtp",
                "smtp_host": "h",
                "username": "u",
                "password_file": "/p",
                "starttls": False,
            },
            "no password in clear text",
        ),
        ({"type": "email", "to": []}, "'to' must be"),
        ({"type": "email", "events": ["ban", "boom"]}, "'events' must be"),
        ({"type": "email", "min_severity": "loud"}, "'min_severity' must be"),
    ],
)
def test_bad_notifiers_are_one_line_config_errors(entry, message):
    with pytest.raises(ConfigError, match=message) as err:
        Config({"notify": [entry]})
    assert "\n" not in str(err.value)
    assert "config key 'notify' entry 0" in str(err.value)


def test_global_keys():
    assert Config({}).alert_interval == 3600
    with pytest.raises(ConfigError, match="'alert_rate_limit'"):
        Config({"alert_rate_limit": 0})
    with pytest.raises(ConfigError, match="'alert_digest_min' must be >= 2"):
        Config({"alert_digest_min": 1})
    with pytest.raises(ConfigError, match="'scan_interval_seconds' must be <= 604800"):
        Config({"scan_interval_seconds": 604801})
    with pytest.raises(ConfigError, match="'metrics_file' must be a string"):
        Config({"metrics_file": None})
    assert Config({"metrics_file": ""}).metrics_file == ""  # off
    # the role writes the path into the scan unit's ReadWritePaths=: absolute, no spaces
    assert errors({"metrics_file": "/var/lib/node exporter/m.prom"}, for_role=True) == [
        "mail_bruteforce_guard_metrics_file: must be an absolute path without spaces,"
        " got '/var/lib/node exporter/m.prom'"
    ]
    with pytest.raises(ConfigError, match="'notify' must be a list of objects"):
        Config({"notify": ["email"]})
    with pytest.raises(ConfigError, match="names must differ"):
        Config({"notify": [{"type": "email", "name": "a"}, {"type": "email", "name": "a"}]})
