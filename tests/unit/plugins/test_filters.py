"""The four filters: maillog_events, maillog_offenders, fleet_merge, fleet_report (incl. their errors)."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.filter.fleet import (
    FilterModule as FleetFilters,
)
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.filter.fleet import fleet_merge, fleet_report
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.filter.maillog import (
    FilterModule as MaillogFilters,
)
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.filter.maillog import (
    maillog_events,
    maillog_offenders,
)
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.filter.targets import (
    FilterModule as TargetFilters,
)
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.filter.targets import ban_targets, shared_bans
from hypothesis import given, settings
from hypothesis import strategies as st
from plugin_helpers import ATTACKER, INSIDER, PROBER, attack_log

NOW = 1795000000.0  # 2026-11-18T...Z
FORUM = "/work/shared/seed/forum-thread.txt"
PLESK_LINES = [
    "Aug 12 08:08:18 www postfix/smtpd[4805]: warning: unknown[162.255.86.250]: SASL LOGIN authentication"
    " failed: authentication failure",
    "Aug 12 08:08:20 www plesk_saslauthd[4434]: failed mail authenticatication attempt for user"
    " 'info@example.com' (password len=6)",
]


def test_filter_modules_export_the_documented_names():
    assert set(FleetFilters().filters()) == {"fleet_merge", "fleet_report"}
    assert set(MaillogFilters().filters()) == {"maillog_events", "maillog_offenders"}
    assert set(TargetFilters().filters()) == {"ban_targets", "shared_bans"}


# ---- maillog_events ---------------------------------------------------------------------------------


@pytest.mark.parametrize("as_list", [False, True])
def test_events_from_text_or_lines(as_list):
    data = PLESK_LINES if as_list else "\n".join(PLESK_LINES) + "\n"
    events = maillog_events(data, now="2026-09-01T00:00:00Z", tz="UTC")
    assert len(events) == 1
    ev = events[0]
    assert ev["ip"] == "162.255.86.250"
    assert ev["kind"] == "auth_failure"
    assert ev["user"] == "info@example.com"  # Plesk line correlated with the smtpd failure
    assert ev["time"] == "2026-08-12T08:08:18Z"
    json.dumps(events)


def test_events_year_comes_from_now_and_tz_applies():
    events = maillog_events(
        PLESK_LINES[:1], now=time.mktime((2025, 9, 1, 0, 0, 0, 0, 0, -1)), tz="Europe/Berlin"
    )
    assert events[0]["time"] == "2025-08-12T06:08:18Z"


def test_events_info_kinds_only_on_request():
    line = (
        "2026-11-26T17:29:09.818109+00:00 m1 dovecot: imap-login: Disconnected: Aborted login by logging out"
        " (no auth attempts in 0 secs): user=<>, rip=198.51.100.9, lip=10.0.0.1, session=<x>"
    )
    assert maillog_events(line) == []
    kinds = [e["kind"] for e in maillog_events(line, info=True)]
    assert kinds and "auth_failure" not in kinds


def test_events_never_take_the_address_from_a_username():
    line = (
        "2026-11-26T17:29:09.818109+00:00 m1 postfix/smtpd[5]: warning: unknown[198.51.100.9]: SASL LOGIN"
        " authentication failed: (reason unavailable), sasl_username=unknown[203.0.113.66]"
    )
    events = maillog_events(line)
    assert [e["ip"] for e in events] == ["198.51.100.9"]


def test_events_of_the_forum_thread():
    with open(FORUM, encoding="utf-8") as fh:
        events = maillog_events(fh.read(), now="2026-09-01T00:00:00Z", tz="UTC")
    assert sum(e["count"] for e in events if e["kind"] == "auth_failure") == 39
    assert {e["ip"] for e in events} == {"162.255.86.250"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((42,), "expects log text (a string) or a list of lines, got int"),
        ((["ok", 3],), "line 2 must be a string"),
        (("x", "yesterday"), "now must be an ISO 8601 time"),
        (("x", None, "Mars/Olympus"), "tz must be 'local', 'UTC' or an IANA zone name"),
        (("x", None, "UTC", "yes"), "info must be true or false"),
    ],
)
def test_events_bad_input(args, message):
    with pytest.raises(AnsibleFilterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        maillog_events(*args)


# ---- maillog_offenders ------------------------------------------------------------------------------


def test_offenders_under_default_and_custom_policy():
    events = maillog_events(attack_log(NOW), now=NOW)
    default = maillog_offenders(events)
    by_ip = {o["ip"]: o for o in default["offenders"]}
    assert by_ip[ATTACKER]["decision"] == "ban"
    assert by_ip[PROBER]["decision"] == "watch"
    assert by_ip[INSIDER]["decision"] == "watch"  # no ignore list given
    assert default["stats"]["counted"] == 11
    strict = maillog_offenders(events, {"maxretry": 2, "ignore": ["10.0.0.0/8"]})
    by_ip = {o["ip"]: o for o in strict["offenders"]}
    assert by_ip[PROBER]["decision"] == "ban"
    assert by_ip[INSIDER]["decision"] == "ignored"
    lenient = maillog_offenders(events, {"maxretry": 50, "slow_maxretry": 0})
    assert {o["decision"] for o in lenient["offenders"]} == {"watch"}


def test_offenders_take_events_with_info_kinds():
    line = (
        "2026-11-26T17:29:09.818109+00:00 m1 dovecot: imap-login: Disconnected: Aborted login by logging out"
        " (no auth attempts in 0 secs): user=<>, rip=198.51.100.9, lip=10.0.0.1, session=<x>"
    )
    events = maillog_events([line, *attack_log(NOW).splitlines()], info=True)
    result = maillog_offenders(events)
    assert result["stats"]["ignored_kinds"] == 0  # a pre-auth kind: the policy counts it
    assert {o["ip"] for o in result["offenders"]} == {ATTACKER, PROBER, INSIDER}  # one is no offender
    result = maillog_offenders(events, {"preauth_maxretry": 0})
    assert result["stats"]["ignored_kinds"] >= 1
    assert {o["ip"] for o in result["offenders"]} == {ATTACKER, PROBER, INSIDER}


def test_offenders_account_alert_targeted():
    lines = [
        f"2026-11-26T17:29:{10 + i:02d}.000000+00:00 m1 postfix/smtpd[{10 + i}]: warning:"
        f" unknown[198.51.100.{i}]: SASL LOGIN authentication failed: (reason unavailable),"
        " sasl_username=ceo@example.com"
        for i in range(6)
    ]
    result = maillog_offenders(maillog_events(lines), {"targeted_min_ips": 5})
    assert [(a["username"], a["alert"]) for a in result["accounts"]] == [("ceo@example.com", "targeted")]
    assert len(result["accounts"][0]["ips"]) >= 5


def test_offenders_renormalise_addresses_of_hand_made_events():
    events = [
        {"kind": "auth_failure", "service": "dovecot", "ip": "::ffff:198.51.100.3", "time": NOW + i}
        for i in range(3)
    ]
    result = maillog_offenders(events, {"maxretry": 3})
    assert [(o["ip"], o["decision"]) for o in result["offenders"]] == [("198.51.100.3", "ban")]


@pytest.mark.parametrize(
    ("events", "policy", "message"),
    [
        ("text", None, "expects a list of events"),
        ([1], None, "event #1 must be a mapping"),
        ([{"kind": "auth_failure"}], None, "needs string 'kind' and 'service'"),
        ([{"kind": "auth_failure", "service": "x", "ip": "unknown[1.2.3.4]"}], None, "is not an IP address"),
        ([{"kind": "auth_failure", "service": "x", "ip": "1.2.3.4", "count": -1}], None, "'count' must be"),
        ([{"kind": "auth_failure", "service": "x", "time": "noon"}], None, "time must be an ISO 8601"),
        ([], {"maxretries": 3}, "unknown policy key 'maxretries'"),
        ([], {"maxretry": 0}, "'maxretry' must be >= 1"),
        ([], {"ignore": ["not-a-net"]}, "invalid network"),
        ([], ["maxretry"], "policy must be a mapping"),
    ],
)
def test_offenders_bad_input(events, policy, message):
    with pytest.raises(AnsibleFilterError, match=message.replace("[", r"\[").replace("(", r"\(")):
        maillog_offenders(events, policy)


# ---- fleet_merge ------------------------------------------------------------------------------------


def off(ip, failures, decision="watch", services=("postfix",), users=(), *, first="2026-11-26T10:00:00Z",
        last="2026-11-26T10:05:00Z", until=None):  # fmt: skip
    return {
        "ip": ip,
        "failures": failures,
        "services": list(services),
        "usernames": list(users),
        "first_seen": first,
        "last_seen": last,
        "decision": decision,
        "reason": "r",
        "ban_until": until,
        "bans": 1 if decision == "ban" else 0,
    }


REPORTS = {
    "mbg-mail1": {
        "offenders": [
            off("203.0.113.7", 10, "ban", ("postfix",), ("alice",), last="2026-11-26T10:06:00Z",
                until="2026-11-26T11:06:00Z"),
            off("198.51.100.4", 2),
            off("10.1.2.3", 7, "ignored"),
        ],
        "accounts": [{"username": "alice", "alert": "targeted", "ips": ["203.0.113.7", "198.51.100.8"]}],
        "bans": [{"address": "203.0.113.7"}],
        "mode": "enforce",
    },
    "mbg-mail2": {
        "offenders": [
            off("203.0.113.7", 4, "watch", ("dovecot",), ("bob", "alice"), first="2026-11-26T09:00:00Z"),
            off("10.1.2.3", 3),
        ],
        "accounts": [{"username": "alice", "alert": "compromised", "ips": ["203.0.113.7"]}],
        "mode": "enforce",
    },
    "mbg-mail3": {"offenders": [], "accounts": [], "mode": "monitor"},
}  # fmt: skip


def test_merge_combines_per_address():
    merged = {o["ip"]: o for o in fleet_merge(REPORTS)}
    a = merged["203.0.113.7"]
    assert a["hosts"] == ["mbg-mail1", "mbg-mail2"]
    assert a["host_count"] == 2
    assert a["failures"] == 14
    assert a["per_host"] == {"mbg-mail1": 10, "mbg-mail2": 4}
    assert a["services"] == ["dovecot", "postfix"]
    assert a["usernames"] == ["alice", "bob"]
    assert a["first_seen"] == "2026-11-26T09:00:00Z"
    assert a["last_seen"] == "2026-11-26T10:06:00Z"
    assert a["banned_on"] == ["mbg-mail1"]
    assert a["ban_until"] == "2026-11-26T11:06:00Z"
    assert a["summary"] == "seen on mbg-mail1, mbg-mail2: 14 failures"
    # ignored on mail1, an attacker on mail2: counted for mail2 only
    assert merged["10.1.2.3"]["hosts"] == ["mbg-mail2"]
    assert merged["10.1.2.3"]["ignored_on"] == ["mbg-mail1"]
    assert merged["198.51.100.4"]["summary"] == "seen on mbg-mail1: 2 failures"


@pytest.mark.parametrize(("min_hosts", "expected"), [(1, 3), (2, 1), ("2", 1), (3, 0)])
def test_merge_min_hosts(min_hosts, expected):
    merged = fleet_merge(REPORTS, min_hosts=min_hosts)
    assert len(merged) == expected
    assert all(o["host_count"] >= int(min_hosts) for o in merged)


def test_merge_order_hosts_then_failures():
    assert [o["ip"] for o in fleet_merge(REPORTS)] == ["203.0.113.7", "10.1.2.3", "198.51.100.4"]


def test_merge_skips_failed_hosts_and_takes_bare_lists():
    reports = {
        "a": [off("192.0.2.1", 1)],
        "b": {"failed": True, "msg": "unreachable"},
        "c": {"unreachable": True},
        "d": {"skipped": True},
    }
    assert [o["hosts"] for o in fleet_merge(reports)] == [["a"]]


def test_merge_same_address_twice_in_one_report_adds_up():
    merged = fleet_merge({"a": [off("192.0.2.1", 1), off("192.0.2.1", 2)], "b": [off("192.0.2.1", 4)]})
    assert merged[0]["per_host"] == {"a": 3, "b": 4}
    assert merged[0]["host_count"] == 2


def test_merge_fills_optional_keys():
    merged = fleet_merge({"a": [{"ip": "192.0.2.1", "failures": 2, "services": ["postfix"]}]})
    assert merged[0]["usernames"] == [] and merged[0]["first_seen"] is None


def test_merge_accepts_str_subclasses():
    class Tagged(str):
        pass

    merged = fleet_merge({Tagged("a"): [dict(off("192.0.2.1", 1), ip=Tagged("192.0.2.1"))]})
    assert merged[0]["ip"] == "192.0.2.1"
    assert merged[0]["hosts"] == ["a"]


@pytest.mark.parametrize(
    ("reports", "min_hosts", "message"),
    [
        ([], 1, "expects a mapping of host name -> report, got list"),
        ({"a": 5}, 1, "the report of host 'a' must be a mapping"),
        ({"a": {"stats": {}}}, 1, "host 'a' has no 'offenders' list"),
        ({"a": [1]}, 1, "host 'a' offender #1 must be a mapping"),
        ({"a": [{"failures": 1}]}, 1, "host 'a' offender #1 has no 'ip' string"),
        ({"a": [off("1.2.3.4", 1), dict(off("1.2.3.5", 1), failures="9")]}, 1, "offender #2 .*'failures'"),
        ({"a": [dict(off("1.2.3.4", 1), failures=-1)]}, 1, "'failures' must be an integer from 0 to"),
        ({"a": [dict(off("1.2.3.4", 1), services="postfix")]}, 1, "'services' must be a list of strings"),
        ({"a": [dict(off("1.2.3.4", 1), usernames=[None])]}, 1, "'usernames' must be a list of strings"),
        ({"a": [dict(off("1.2.3.4", 1), last_seen=5)]}, 1, "'last_seen' must be an ISO 8601 string"),
        ({"a": []}, 0, "min_hosts must be an integer >= 1"),
        ({"a": []}, "two", "min_hosts must be an integer >= 1"),
    ],
)
def test_merge_bad_input(reports, min_hosts, message):
    with pytest.raises(AnsibleFilterError, match=message):
        fleet_merge(reports, min_hosts=min_hosts)


# ---- fleet_report -----------------------------------------------------------------------------------


def test_report_json_document():
    doc = json.loads(fleet_report(REPORTS, "json", generated="2026-11-26T12:00:00Z"))
    assert doc["generated"] == "2026-11-26T12:00:00Z"
    assert doc["summary"] == {
        "hosts": 3,
        "hosts_ok": 3,
        "hosts_failed": 0,
        "offenders": 3,
        "multi_host": 1,
        "banned": 1,
        "failures": 19,
        "alerts": 2,
        "compromised": 1,
        "active_bans": 1,
        "stale_clients": 0,
        "shared_addresses": 0,
    }
    assert [h["host"] for h in doc["hosts"]] == ["mbg-mail1", "mbg-mail2", "mbg-mail3"]
    mail1 = doc["hosts"][0]
    assert (mail1["offenders"], mail1["ban_decisions"], mail1["ignored"], mail1["failures"]) == (2, 1, 1, 12)
    assert doc["accounts"][0] == {
        "username": "alice",
        "alert": "compromised",
        "hosts": ["mbg-mail2"],
        "ips": ["203.0.113.7"],
    }
    by_ip = {o["ip"]: o for o in doc["offenders"]}
    assert by_ip["203.0.113.7"]["active_on"] == ["mbg-mail1"]  # from mbg-mail1's active bans
    assert by_ip["198.51.100.4"]["active_on"] == []
    timeline = doc["timeline"]
    assert timeline["bucket_seconds"] == 60  # 09:00-10:06: minutes, not two hour-wide bars
    assert timeline["source"] == "estimated from first/last seen"
    starts = [b["start"] for b in timeline["buckets"]]
    assert (starts[0], starts[-1], len(starts)) == ("2026-11-26T09:00:00Z", "2026-11-26T10:06:00Z", 67)
    assert sum(b["failures"] for b in timeline["buckets"]) == 19  # whole numbers, none rounded away
    assert timeline["bans"] == [
        {"time": "2026-11-26T10:06:00Z", "ip": "203.0.113.7", "host": "mbg-mail1", "position": 0.9851}
    ]


def test_report_timeline_prefers_measured_counts_and_widens_buckets():
    reports = {
        "a": {"offenders": [], "timeline": {"2026-11-01T00:00:00Z": 5, "2026-11-20T13:00:00Z": 7}},
    }
    timeline = json.loads(fleet_report(reports))["timeline"]
    assert timeline["source"] == "measured"
    assert timeline["bucket_seconds"] == 43200  # 20 days in 12 h buckets: 39 bars
    assert len(timeline["buckets"]) <= 72
    assert sum(b["failures"] for b in timeline["buckets"]) == 12


def test_report_lists_failed_hosts():
    reports = {"a": [], "b": {"unreachable": True, "msg": "ssh: timeout"}, "c": "no report: down", "d": None}
    doc = json.loads(fleet_report(reports))
    assert doc["hosts"][1:] == [
        {"host": "b", "status": "unreachable: ssh: timeout"},
        {"host": "c", "status": "no report: down"},
        {"host": "d", "status": "no report"},
    ]
    assert doc["summary"]["hosts_failed"] == 3


def test_report_csv_neutralises_formulas():
    reports = {
        "a": [off("192.0.2.1", 3, users=('=HYPERLINK("http://x")', "bob"))],
        "b": [off("192.0.2.1", 1)],
    }
    rows = list(csv.reader(io.StringIO(fleet_report(reports, "csv"))))
    assert rows[0][:4] == ["ip", "host_count", "hosts", "failures"]
    assert rows[1][:4] == ["192.0.2.1", "2", "a b", "4"]
    assert rows[1][5].startswith("'=HYPERLINK")


def test_report_markdown_escapes_attacker_text():
    reports = {"a": [off("192.0.2.1", 3, users=("<script>|x", "`rm`"))]}
    md = fleet_report(reports, "markdown", min_hosts=1)
    assert "# Mail brute-force guard: fleet report" in md
    assert "\\<script\\>\\|x" in md and "\\`rm\\`" in md
    assert "<script>" not in md
    row = next(line for line in md.splitlines() if line.startswith("| 192.0.2.1"))
    assert row.count(" | ") == 8  # no column injected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (({}, "xml"), "format must be one of json, csv, markdown"),
        (([], "json"), "expects a mapping"),
        (({}, "json", 0), "min_hosts"),
        (({}, "json", 1, 5), "generated must be a string"),
    ],
)
def test_report_bad_input(args, message):
    with pytest.raises(AnsibleFilterError, match=message):
        fleet_report(*args)


# ---- ban_targets ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("203.0.113.7", ["203.0.113.7"]),
        ("203.0.113.7, 2001:DB8::1 203.0.113.7", ["203.0.113.7", "2001:db8::1"]),
        (["::ffff:198.51.100.7", "2001:db8:1:2::/64"], ["198.51.100.7", "2001:db8:1:2::/64"]),
        ("[2001:db8::5]", ["2001:db8::5"]),
    ],
)
def test_ban_targets_normalise(value, expected):
    assert ban_targets(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("999.1.1.1", "invalid address '999.1.1.1'"),
        ("10.1.2.3/8", "host bits set"),
        ("203.0.113.7,evil.example.com", "invalid address 'evil.example.com'"),
        ("", "no address given"),
        (" , ", "no address given"),
        ([5], "5 is not an IP address or network"),
        ({"ip": "1.2.3.4"}, "expects an address, a comma separated string or a list, got dict"),
    ],
)
def test_ban_targets_bad_input(value, message):
    with pytest.raises(AnsibleFilterError, match=message):
        ban_targets(value)


# ---- shared_bans ------------------------------------------------------------------------------------


def test_shared_bans_from_fleet_merge():
    merged = fleet_merge(REPORTS, min_hosts=1, bantime=3600)
    bans = shared_bans(merged)
    by_address = {b["address"]: b for b in bans}
    assert [b["address"] for b in bans] == [o["ip"] for o in merged if o["share_until"]]
    entry = next(o for o in merged if o["ip"] == "203.0.113.7")
    assert by_address["203.0.113.7"] == {
        "address": "203.0.113.7",
        "expires": entry["share_until"],
        "reason": entry["summary"],
    }


def test_shared_bans_leaves_out_records_without_an_end():
    assert shared_bans([{"ip": "192.0.2.1", "share_until": None, "summary": "s"}]) == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"ip": "192.0.2.1"}, "expects the list fleet_merge returns, got dict"),
        (["192.0.2.1"], "item #1 is not a fleet_merge record"),
        ([{"ip": "192.0.2.1", "summary": "s"}], "192.0.2.1 has no 'share_until': give fleet_merge a bantime"),
    ],
)
def test_shared_bans_bad_input(value, message):
    with pytest.raises(AnsibleFilterError, match=message):
        shared_bans(value)


# ---- fleet_merge against a plain reference implementation ------------------------------------------

_TIMES = [f"2026-11-26T{h:02d}:00:00Z" for h in range(0, 24, 3)]
_OFFENDER = st.fixed_dictionaries(
    {
        "ip": st.sampled_from(["192.0.2.1", "192.0.2.2", "2001:db8::1", "198.51.100.9"]),
        "failures": st.integers(0, 50),
        "services": st.lists(st.sampled_from(["postfix", "dovecot", "plesk"]), max_size=2),
        "usernames": st.lists(st.sampled_from(["a", "b", "c@x", "<d>"]), max_size=3),
        "first_seen": st.one_of(st.none(), st.sampled_from(_TIMES)),
        "last_seen": st.one_of(st.none(), st.sampled_from(_TIMES)),
        "decision": st.sampled_from(["ban", "watch", "watch", "ignored"]),
        "ban_until": st.one_of(st.none(), st.sampled_from(_TIMES)),
    }
)
_REPORTS = st.dictionaries(
    st.sampled_from(["m1", "m2", "m3", "m4"]), st.lists(_OFFENDER, max_size=6), max_size=4
)


def reference_merge(reports: dict, min_hosts: int) -> list:
    """The obvious implementation, record by record."""
    acc: dict = {}
    for host, offenders in reports.items():
        for o in offenders:
            e = acc.setdefault(o["ip"], {"per_host": {}, "services": set(), "usernames": set(),
                                         "first": [], "last": [], "banned": set(), "until": [],
                                         "ignored": set()})  # fmt: skip
            if o["decision"] == "ignored":
                e["ignored"].add(host)
                continue
            e["per_host"][host] = e["per_host"].get(host, 0) + o["failures"]
            e["services"] |= set(o["services"])
            e["usernames"] |= set(o["usernames"])
            e["first"] += [o["first_seen"]] if o["first_seen"] else []
            e["last"] += [o["last_seen"]] if o["last_seen"] else []
            if o["decision"] == "ban":
                e["banned"].add(host)
                e["until"] += [o["ban_until"]] if o["ban_until"] else []
    out = []
    for ip, e in acc.items():
        if not e["per_host"] or len(e["per_host"]) < min_hosts:
            continue
        hosts = sorted(e["per_host"])
        total = sum(e["per_host"].values())
        out.append({
            "ip": ip, "hosts": hosts, "host_count": len(hosts), "failures": total, "per_host": e["per_host"],
            "services": sorted(e["services"]), "usernames": sorted(e["usernames"]),
            "first_seen": min(e["first"], default=None), "last_seen": max(e["last"], default=None),
            "banned_on": sorted(e["banned"]), "ban_until": max(e["until"], default=None),
            "ignored_on": sorted(e["ignored"]), "summary": f"seen on {', '.join(hosts)}: {total} failure"
            + ("" if total == 1 else "s"),
        })  # fmt: skip
    return sorted(out, key=lambda o: (-o["host_count"], -o["failures"], o["ip"]))


@settings(max_examples=150, deadline=None)
@given(_REPORTS, st.integers(1, 4))
def test_merge_matches_reference(reports, min_hosts):
    assert fleet_merge(reports, min_hosts=min_hosts) == reference_merge(reports, min_hosts)
