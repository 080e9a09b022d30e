"""Issue 15 items 11 and 12: absurd values given to the filters are a clear AnsibleFilterError naming the host
or field (never a raw OverflowError/ValueError/TypeError), one bad host is skipped and named in the fleet
report, and no CSV cell can start a spreadsheet formula whatever the spreadsheet splits lines on."""

from __future__ import annotations

import csv
import io
import json

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.filter.fleet import fleet_merge, fleet_report
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.filter.maillog import (
    maillog_events,
    maillog_offenders,
)
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.filter.targets import shared_bans
from hypothesis import given, settings
from hypothesis import strategies as st

LINE = "Nov 26 08:00:00 m postfix/smtpd[1]: warning: unknown[192.0.2.1]: SASL LOGIN authentication failed: x"


def off(ip="192.0.2.1", failures=3, users=("bob",)):
    return {
        "ip": ip,
        "failures": failures,
        "services": ["postfix"],
        "usernames": list(users),
        "first_seen": "2026-11-26T08:00:00Z",
        "last_seen": "2026-11-26T09:00:00Z",
        "decision": "ban",
        "ban_until": "2026-11-26T10:00:00Z",
    }


GOOD = {"offenders": [off()]}
BAD_HOSTS = {
    "years 1-9999": (
        {"offenders": [], "timeline": {"0001-01-01T00:00:00Z": 1, "9999-12-31T00:00:00Z": 2}},
        "timeline time '0001-01-01T00:00:00Z'",
    ),
    "infinite count": (
        {"offenders": [], "timeline": [["2026-11-26T08:00:00Z", float("inf")]]},
        "timeline count at '2026-11-26T08:00:00Z'",
    ),
    "dict in ips": (
        {"offenders": [], "accounts": [{"username": "u", "alert": "targeted", "ips": [{"x": 1}]}]},
        "account alert whose 'ips' are not strings",
    ),
    "huge failures": (
        {"offenders": [off(failures=10**400)]},
        "'failures' must be an integer from 0 to 2**53",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_HOSTS))
@pytest.mark.parametrize("fmt", ["json", "csv", "markdown"])
def test_one_bad_host_is_named_and_skipped_not_fatal(name, fmt):
    report, message = BAD_HOSTS[name]
    text = fleet_report({"bad": report, "good": GOOD}, format=fmt, generated="2026-11-27T00:00:00Z")
    assert "192.0.2.1" in text
    doc = json.loads(fleet_report({"bad": report, "good": GOOD}, generated="2026-11-27T00:00:00Z"))
    (bad,) = [h for h in doc["hosts"] if h["host"] == "bad"]
    assert bad["status"].startswith("skipped: fleet_report: host 'bad'")
    assert message in bad["status"]
    assert doc["summary"]["hosts_ok"] == 1


def test_a_timeline_over_centuries_keeps_few_buckets():
    report = {"offenders": [], "timeline": {"1970-01-01T00:00:00Z": 1, "9999-12-31T00:00:00Z": 2}}
    doc = json.loads(fleet_report({"a": report}))
    assert len(doc["timeline"]["buckets"]) <= 72
    assert sum(b["failures"] for b in doc["timeline"]["buckets"]) == 3


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: fleet_merge({"a": GOOD}, bantime=10**20), "bantime must be a number of seconds from 0 to"),
        (lambda: maillog_events(LINE, now=1e20), "now must be an ISO 8601 time or POSIX seconds from 1970"),
        # an integer too large for a float (math.isfinite raised OverflowError on it)
        (lambda: maillog_events(LINE, now=10**400), "now must be an ISO 8601 time or POSIX seconds"),
        (
            lambda: maillog_offenders(
                [{"kind": "auth_failure", "service": "postfix", "ip": "192.0.2.1", "time": 10**400}]
            ),
            "event #1 time must be",
        ),
        (
            lambda: maillog_offenders(
                [{"kind": "auth_failure", "service": "postfix", "ip": "192.0.2.1", "time": 1e300}]
            ),
            "event #1 time must be",
        ),
        (
            lambda: maillog_offenders(
                [{"kind": "auth_failure", "service": "postfix", "ip": "192.0.2.1", "time": -1e300}]
            ),
            "event #1 time must be",
        ),
        (
            lambda: shared_bans([{"ip": "192.0.2.1", "share_until": "2026-11-26T10:00:00Z", "hosts": [1]}]),
            "192.0.2.1: 'hosts' must be a list of host names",
        ),
        (lambda: fleet_merge({"a": {"offenders": [off(failures=10**400)]}}), "host 'a' offender #1"),
    ],
)
def test_absurd_values_are_clear_filter_errors(call, message):
    with pytest.raises(AnsibleFilterError, match=message.replace("(", r"\(").replace("*", r"\*")):
        call()


SEPARATORS = [",", ";", "\t", "|", " "]


def cells_after_any_split(text: str) -> list[str]:
    """What a spreadsheet that ignores CSV quoting and splits on any one separator would put in cells."""
    out = []
    for line in text.splitlines():
        for sep in SEPARATORS:
            out += [piece[1:] if piece.startswith('"') else piece for piece in line.split(sep)]
    return out


def test_csv_formula_after_a_separator_is_neutralised():
    user = "x;=1+cmd|' /C calc'!A0"
    text = fleet_report({"a": {"offenders": [off(users=(user, "@SUM(1)", "a -2+3"))]}}, "csv")
    assert not [c for c in cells_after_any_split(text) if c[:1] in ("=", "+", "-", "@")]
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1][5] == "'@SUM(1) a '-2+3 x;'=1+cmd|' /C calc'!A0"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list("=+-@;,|\t x'\"\r\n1")), max_size=12), max_size=4))
def test_no_csv_cell_starts_a_formula(users):
    text = fleet_report({"a": {"offenders": [off(users=users)]}}, "csv")
    assert not [c for c in cells_after_any_split(text) if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
