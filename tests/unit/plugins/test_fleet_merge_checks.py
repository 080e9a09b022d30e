"""fleet_merge checks every offender record, whatever happens to it in the merge (issue #6).

The fast path checks whole columns in C; these tests hold it to the per-record rule: an ignored record, a
record of an address below min_hosts and a falsy bad value are checked like any other.
"""

from __future__ import annotations

import json
from collections import OrderedDict

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.filter.fleet import fleet_merge
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.fleet import merge
from hypothesis import given, settings
from hypothesis import strategies as st
from test_filters import reference_merge

T1, T2 = "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z"


def rec(ip="192.0.2.1", failures=1, decision="watch", **fields):
    record = {
        "ip": ip,
        "failures": failures,
        "services": ["postfix"],
        "usernames": ["alice"],
        "first_seen": T1,
        "last_seen": T2,
        "decision": decision,
        "ban_until": None,
    }
    record.update(fields)
    return record


@pytest.mark.parametrize(
    ("reports", "min_hosts", "message"),
    [
        # a record the merge leaves out (ignored) is still checked
        ({"a": [rec(decision="ignored", last_seen=5)]}, 1, r"#1 \(192.0.2.1\): 'last_seen' must be"),
        ({"a": [rec(decision="ignored", usernames=[None])]}, 1, "'usernames' must be a list of strings"),
        ({"a": [rec(decision="ignored", services=["smtp", 7])]}, 1, "'services' must be a list of strings"),
        ({"a": [rec(None, decision="ignored")]}, 1, "offender #1 has no 'ip' string"),
        # falsy values of the wrong type
        ({"a": [rec(first_seen=0)]}, 1, "'first_seen' must be an ISO 8601 string or null, got 0"),
        ({"a": [rec(last_seen=False)]}, 1, "'last_seen' must be an ISO 8601 string or null, got False"),
        ({"a": [rec(first_seen=[])]}, 1, "'first_seen' must be an ISO 8601 string or null"),
        # ban_until is checked whatever the decision
        ({"a": [rec(ban_until=5)]}, 1, "'ban_until' must be an ISO 8601 string or null, got 5"),
        # a record whose address is on too few hosts for min_hosts is still checked
        ({"a": [rec(failures="9")], "b": [rec("192.0.2.2")]}, 2, "host 'a' offender #1 .*'failures'"),
        ({"a": [rec(5)], "b": [rec("192.0.2.2")]}, 2, "host 'a' offender #1 has no 'ip' string"),
        ({"a": [rec(usernames="bob")], "b": [rec("192.0.2.2")]}, 2, "'usernames' must be a list"),
        ({"a": [rec(), rec("192.0.2.9", services=[1])], "b": [rec()]}, 2, "offender #2 .*'services'"),
        # the second record of a host, behind a good one
        (
            {"a": [rec(), rec("192.0.2.2", failures=-3)]},
            1,
            "offender #2 .*'failures' must be an integer from 0 to",
        ),
        ({"a": [rec(), rec("")]}, 1, "offender #2 has no 'ip' string"),
        ({"a": [rec(), rec(["192.0.2.2"])]}, 1, "offender #2 has no 'ip' string"),
    ],
)
def test_every_record_is_checked(reports, min_hosts, message):
    with pytest.raises(AnsibleFilterError, match=message):
        fleet_merge(reports, min_hosts=min_hosts)


def test_missing_services_defaults_to_none_listed():
    # _check_offender accepts a record without 'services' (as without 'usernames'); it used to crash with
    # a KeyError while the record was copied
    merged = fleet_merge({"a": [{"ip": "192.0.2.1", "failures": 2}]})
    assert merged[0]["services"] == [] and merged[0]["usernames"] == []
    assert merged[0]["failures"] == 2


def test_subclassed_strings_come_out_as_plain_strings():
    class Tagged(str):
        pass

    merged = fleet_merge({"a": [rec(usernames=[Tagged("bob")], first_seen=Tagged(T1))], "b": [rec()]})
    assert merged[0]["usernames"] == ["alice", "bob"]
    assert all(type(u) is str for u in merged[0]["usernames"])
    assert type(merged[0]["first_seen"]) is str


def test_ignored_and_repeated_records_of_one_address():
    reports = {
        "b": [rec(failures=2, usernames=["x"]), rec(failures=3, decision="ban", ban_until=T2)],
        "a": [rec(failures=7, decision="ignored", usernames=["never"], services=["dovecot"])],
        "c": [rec(failures=1, usernames=[], first_seen="2026-11-26T09:00:00Z")],
    }
    (entry,) = fleet_merge(reports)
    assert entry["hosts"] == ["b", "c"]
    assert list(entry["per_host"].items()) == [("b", 5), ("c", 1)]
    assert entry["usernames"] == ["alice", "x"]
    assert entry["services"] == ["postfix"]
    assert entry["ignored_on"] == ["a"]
    assert entry["banned_on"] == ["b"] and entry["ban_until"] == T2
    assert entry["first_seen"] == "2026-11-26T09:00:00Z"


# ---- property: an error exactly when some record breaks the rule, else the reference result -------------

_GOOD = {
    "ip": st.sampled_from(["192.0.2.1", "192.0.2.2", "2001:db8::1"]),
    "failures": st.integers(0, 9),
    "services": st.lists(st.sampled_from(["postfix", "dovecot"]), max_size=2),
    "usernames": st.lists(st.sampled_from(["a", "b", "c@x"]), max_size=2),
    "first_seen": st.sampled_from([None, T1, T2, ""]),
    "last_seen": st.sampled_from([None, T1, T2]),
    "decision": st.sampled_from(["ban", "watch", "ignored"]),
    "ban_until": st.sampled_from([None, T2]),
}
_BAD = {
    "ip": st.sampled_from(["", None, 5, 0]),
    "failures": st.sampled_from([-1, True, "3", 2.0, None]),
    "services": st.sampled_from(["postfix", [None], ["postfix", 1], None, {}]),
    "usernames": st.sampled_from(["bob", [None], [0], None]),
    "first_seen": st.sampled_from([0, 5, False, []]),
    "last_seen": st.sampled_from([0, 7.5, True]),
    "ban_until": st.sampled_from([0, 1, ["x"]]),
}


@st.composite
def _record(draw):
    record = {key: draw(value) for key, value in _GOOD.items()}
    if draw(st.integers(0, 9)) == 0:  # now and then one bad value
        key = draw(st.sampled_from(sorted(_BAD)))
        record[key] = draw(_BAD[key])
    return record


def _valid(record: dict) -> bool:
    """The documented rule for one record, written out independently of the filter."""
    times_ok = all(
        record[k] is None or type(record[k]) is str for k in ("first_seen", "last_seen", "ban_until")
    )
    lists_ok = all(
        type(record[k]) is list and all(type(x) is str for x in record[k]) for k in ("services", "usernames")
    )
    failures = record["failures"]
    return (
        type(record["ip"]) is str
        and record["ip"] != ""
        and type(failures) is int
        and failures >= 0
        and lists_ok
        and times_ok
    )


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["m1", "m2", "m3"]), st.lists(_record(), max_size=5), max_size=3),
    st.integers(1, 3),
)
def test_error_exactly_when_a_record_is_bad(reports, min_hosts):
    if all(_valid(r) for records in reports.values() for r in records):
        assert fleet_merge(reports, min_hosts=min_hosts) == reference_merge(reports, min_hosts)
    else:
        with pytest.raises(AnsibleFilterError, match="offender #"):
            fleet_merge(reports, min_hosts=min_hosts)


# ---- record layouts the fast path meets (key objects, first records, repeated addresses) ----------------


def test_json_decoded_and_literal_reports_merge_alike():
    # JSON decoding shares one key object between the records of a report (the fast path looks keys up with
    # the first record's own objects); literal and separately decoded reports have other key objects
    first = [rec(failures=2, usernames=["bob"]), rec("192.0.2.2", decision="ban", ban_until=T2)]
    reports = {
        "a": json.loads(json.dumps(first)),
        "b": [json.loads(json.dumps(rec(failures=3))), rec("192.0.2.2", usernames=["carol", "alice"])],
        "c": [rec(failures=4, services=["dovecot"])],
    }
    assert fleet_merge(reports) == reference_merge(reports, 1)
    assert fleet_merge(reports)[0]["per_host"] == {"a": 2, "b": 3, "c": 4}


def test_first_record_without_optional_keys_then_full_records():
    # the first record's keys give the look-ups; a later record with more keys is still read right
    reports = {"a": [{"ip": "192.0.2.1", "failures": 2}, rec("192.0.2.2", failures=5)], "b": [rec()]}
    merged = {o["ip"]: o for o in fleet_merge(reports)}
    assert merged["192.0.2.1"]["per_host"] == {"a": 2, "b": 1}
    assert merged["192.0.2.1"]["usernames"] == ["alice"]
    assert merged["192.0.2.2"]["failures"] == 5


def test_first_record_not_a_mapping_is_named():
    with pytest.raises(AnsibleFilterError, match=r"host 'a' offender #1 must be a mapping, got str"):
        fleet_merge({"a": ["192.0.2.1", rec()]})


def test_mapping_records_that_are_not_dicts():
    reports = {"a": [OrderedDict(rec(failures=2))], "b": [OrderedDict(rec(decision="ban", ban_until=T2))]}
    (entry,) = fleet_merge(reports)
    assert entry["per_host"] == {"a": 2, "b": 1} and entry["banned_on"] == ["b"]


def test_repeated_ban_records_of_one_host_name_it_once():
    reports = {
        "b": [rec(decision="ban", ban_until=T1), rec(failures=2, decision="ban", ban_until=T2)],
        "a": [rec(decision="ban", ban_until=None)],
        "c": [rec(decision="watch")],
    }
    (entry,) = fleet_merge(reports)
    assert entry["banned_on"] == ["a", "b"]
    assert entry["hosts"] == ["a", "b", "c"] and entry["per_host"] == {"a": 1, "b": 3, "c": 1}
    assert entry["ban_until"] == T2


def test_order_by_hosts_then_failures_then_address():
    reports = {
        "a": [rec("192.0.2.9", failures=5), rec("192.0.2.3", failures=5), rec("192.0.2.1", failures=9)],
        "b": [rec("192.0.2.7", failures=1), rec("192.0.2.5", failures=1)],
    }
    order = [(o["ip"], o["host_count"], o["failures"]) for o in fleet_merge(reports)]
    assert order == [
        ("192.0.2.1", 1, 9),
        ("192.0.2.3", 1, 5),
        ("192.0.2.9", 1, 5),
        ("192.0.2.5", 1, 1),
        ("192.0.2.7", 1, 1),
    ]


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["m1", "m2", "m3"]), st.lists(_record(), max_size=5), max_size=3),
    st.integers(1, 3),
    st.sets(st.sampled_from(["m1", "m2", "m3"])),
)
def test_json_decoded_reports_match_reference(reports, min_hosts, decoded):
    # some hosts' reports through JSON (shared key objects, as Ansible hands them over), the others literal
    mixed = {
        host: json.loads(json.dumps(records)) if host in decoded else records
        for host, records in reports.items()
    }
    if all(_valid(r) for records in reports.values() for r in records):
        assert fleet_merge(mixed, min_hosts=min_hosts) == reference_merge(reports, min_hosts)
    else:
        with pytest.raises(AnsibleFilterError, match="offender #"):
            fleet_merge(mixed, min_hosts=min_hosts)


@pytest.mark.parametrize(("shared", "left_out"), [(0, True), (200, False)])
def test_min_hosts_leave_out_or_merge_then_drop_agree(shared, left_out, monkeypatch):
    """With min_hosts > 1 the merge either leaves the addresses on too few hosts out before grouping (many
    addresses are) or groups them and drops them (few are): same result, same checks, either way."""
    reports = {
        host: [rec(f"198.51.{i // 200}.{i % 200}", failures=i + 1) for i in range(shared)]
        + [rec(f"203.0.{h}.{i}") for i in range(8)]
        for h, host in enumerate(("a", "b", "c"))
    }
    checked = []
    real_check = merge._check_records
    monkeypatch.setattr(merge, "_check_records", lambda *a: checked.append(1) or real_check(*a))
    merged = fleet_merge(reports, min_hosts=2)
    assert bool(checked) is left_out  # which way the merge went
    assert merged == reference_merge(reports, 2)
    assert len(merged) == shared
    reports["b"].append(rec("192.0.2.77", services="postfix"))  # on one host: dropped, still checked
    with pytest.raises(AnsibleFilterError, match=r"host 'b' offender #\d+ .*'services' must be a list"):
        fleet_merge(reports, min_hosts=2)
