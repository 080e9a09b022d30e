"""Golden outputs of the fleet merge: ``fleet_merge``, ``merge_accounts``, ``merge_stale``, ``merge_shared``
and ``fleet_report`` (JSON, CSV, Markdown) on bench_merge.py's synthetic reports and on hand-made edge cases
(IPv6, ignored and repeated records, stale clients, failed hosts, subclassed values, missing keys, hostile
input), byte for byte: the merge is tuned for speed, and its answers must not move while it is.

The golden file (tests/data/golden/fleet.json.gz) holds each case's output as JSON text, in the output's own
key order. When a change of behaviour is intended, rewrite it and review the diff of the decompressed file:

    MBG_REGEN_GOLDEN=1 scripts/in-netns.sh .venv/bin/pytest tests/unit/plugins/test_fleet_golden.py
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import os
import random
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.filter.fleet import fleet_merge, fleet_report
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.fleet import merge
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.fleet.reports import (
    FleetInputError,
    host_entries,
)
from bench_merge import make_reports

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "fleet.json.gz"
REGEN = os.environ.get("MBG_REGEN_GOLDEN") == "1"
GENERATED = "2026-11-27T00:00:00Z"


class Tagged(str):
    """A str subclass, as Ansible's tagged values are: merged through the checked slow path."""


class TaggedList(list):
    """A list subclass (Ansible's tagged lists)."""


def _edge_reports(seed: int = 7) -> dict:
    """A dozen hosts whose reports hold what the merge must get right besides the bulk: IPv6 addresses and
    prefixes, ignored and repeated records, zero and huge failure counts, missing times, bans without an
    end, stale clients (whose failures fleet_merge leaves out), shared addresses, account alerts, the bans
    held now, and hosts without a usable report."""
    rng = random.Random(seed)
    reports = make_reports(12, 40, 120, seed=seed)
    v6 = [f"2001:db8:{i:x}::{i * 7 + 1:x}" for i in range(6)] + ["2001:db8:1::/64", "2001:db8:ff::/56"]
    users = ["alice@example.com", "bob@example.com", "<x>@evil", "o'neil", "=cmd|' /C calc'!A0", "ü@x.de"]
    for h, (_host, report) in enumerate(sorted(reports.items())):
        offenders = report["offenders"]
        for i, off in enumerate(offenders):
            if i % 5 == 0:
                off["ip"] = v6[rng.randrange(len(v6))]
            if i % 11 == 3:
                off["decision"] = "ignored"
            if i % 13 == 4:
                off["failures"] = 0
            if i % 17 == 5:
                off["first_seen"] = None
            if i % 19 == 6:
                off["last_seen"] = ""
            if i % 23 == 7 and off["decision"] == "ban":
                off["ban_until"] = None
            if i % 7 == 1:
                off["usernames"] = rng.sample(users, 2)
        offenders.append(dict(offenders[3], failures=5))  # the same address twice in one report
        if h == 2:
            offenders.append(dict(offenders[0], failures=(1 << 53) - 1))
        stale_ip = offenders[1]["ip"]
        report["stale_clients"] = [
            {"username": "carol@example.com", "ip": stale_ip, "failures": offenders[1]["failures"] + h % 3,
             "since": "2026-11-17T08:00:00Z", "last_seen": "2026-11-17T09:00:00Z", "shared": h % 2 == 0,
             "resolved": None if h % 4 else "2026-11-18T00:00:00Z"},
        ]  # fmt: skip
        report["shared_addresses"] = [{"ip": offenders[2]["ip"], "users": 3 + h % 5}]
        report["accounts"] = [
            {"username": users[h % len(users)], "alert": ("targeted", "compromised", "odd")[h % 3],
             "ips": sorted({offenders[4]["ip"], offenders[5]["ip"]})},
        ]  # fmt: skip
        report["bans"] = [
            {"address": o["ip"], "until": o["ban_until"]} for o in offenders[:10] if o["decision"] == "ban"
        ]
        report["mode"] = "enforce" if h % 3 else "monitor"
        report["timeline"] = {f"2026-11-17T{hour:02d}:00:00Z": (h + 1) * hour for hour in range(0, 24, 6)}
    reports["zz-bare.example.com"] = [dict(o) for o in reports["mail0000.example.com"]["offenders"][:6]]
    reports["zz-failed.example.com"] = {"failed": True, "msg": "connection refused"}
    reports["zz-unreachable.example.com"] = {"unreachable": True}
    reports["zz-skipped.example.com"] = {"skipped": True, "msg": "skipped"}
    reports["zz-none.example.com"] = None
    reports["zz-text.example.com"] = "no guard_info result"
    return reports


def _subclassed(reports: dict) -> dict:
    """The edge reports with Ansible-like subclassed values here and there (the slow path's plain copies)."""
    out = copy.deepcopy(reports)
    for h, host in enumerate(sorted(out)):
        report = out[host]
        offenders = report.get("offenders", []) if isinstance(report, dict) else report
        if not isinstance(offenders, list):
            continue
        for i, off in enumerate(offenders):
            if (h + i) % 9 == 0:
                off["ip"] = Tagged(off["ip"])
                off["usernames"] = TaggedList(Tagged(u) for u in off["usernames"])
            if (h + i) % 10 == 1 and off["first_seen"] is not None:
                off["first_seen"] = Tagged(off["first_seen"])
        if offenders:
            offenders[0] = OrderedDict(offenders[0])
    return out


def _without_optional_keys(reports: dict) -> dict:
    """The edge reports with optional keys missing from some records (the slow path fills them in)."""
    out = copy.deepcopy(reports)
    optional = ("services", "usernames", "first_seen", "last_seen", "decision", "ban_until")
    for h, host in enumerate(sorted(out)):
        report = out[host]
        if isinstance(report, dict) and "offenders" in report:
            for i, off in enumerate(report["offenders"]):
                if (h + i) % 6 == 0:
                    del off[optional[(h + i) % len(optional)]]
    return out


def _bad_inputs() -> list:
    """(reports, min_hosts, bantime) that fleet_merge must refuse, each with its own message."""
    good = _edge_reports()
    base = good["mail0001.example.com"]["offenders"]

    def with_record(index: int, **fields: Any) -> dict:
        reports = copy.deepcopy(good)
        reports["mail0001.example.com"]["offenders"][index] = dict(base[index], **fields)
        return reports

    return [
        ([], 1, None),
        ({"a": 5}, 1, None),
        ({"": []}, 1, None),
        ({"a": {"stats": {}}}, 1, None),
        (good, 0, None),
        (good, "two", None),
        (good, True, None),
        (good, 1, -1),
        (good, 1, "soon"),
        (good, 1, 10**12),
        (with_record(7, failures="9"), 1, None),
        (with_record(7, failures=True), 1, None),
        (with_record(7, failures=-1), 1, None),
        (with_record(7, failures=1 << 53), 1, None),
        (with_record(7, failures=2.0), 1, None),
        (with_record(8, ip=""), 1, None),
        (with_record(8, ip=None), 1, None),
        (with_record(8, ip=["192.0.2.1"]), 1, None),
        (with_record(8, ip=5), 2, None),
        (with_record(9, services="postfix"), 1, None),
        (with_record(9, services=["postfix", 7]), 1, None),
        (with_record(9, services=None), 1, None),
        (with_record(9, services={"postfix": 1}), 1, None),
        (with_record(10, usernames=[None]), 1, None),
        (with_record(10, usernames=[["alice"]]), 1, None),
        (with_record(10, usernames=("alice",)), 1, None),
        (with_record(11, first_seen=0), 1, None),
        (with_record(11, last_seen=False), 1, None),
        (with_record(11, first_seen=[]), 1, None),
        (with_record(11, ban_until=5, decision="watch"), 1, None),
        (with_record(12, decision="ignored", last_seen=7.5), 1, None),
        (with_record(12, decision="ignored", usernames=[0]), 3, None),
        (with_record(13, ip=Tagged("")), 1, None),
        (with_record(14, first_seen=Tagged("x"), last_seen=3), 1, None),
        ({**good, "mail0001.example.com": {"offenders": [*base[:3], "192.0.2.1"]}}, 1, None),
        ({**good, "mail0001.example.com": {"offenders": [*base[:3], {"failures": 2}]}}, 1, None),
        ({**good, "mail0001.example.com": {"offenders": base, "stale_clients": [{"ip": "x"}]}}, 1, None),
        ({**good, "mail0001.example.com": {"offenders": base, "stale_clients": "x"}}, 1, None),
    ]


def _merge_output(reports: dict, min_hosts: Any = 1, bantime: Any = None) -> list:
    return fleet_merge(reports, min_hosts=min_hosts, bantime=bantime)


def _extras(reports: dict) -> dict:
    entries = host_entries(reports, "golden")
    return {
        "accounts": merge.merge_accounts(entries, "golden"),
        "stale": merge.merge_stale(entries, "golden"),
        "shared": merge.merge_shared(entries, "golden"),
    }


def _errors() -> list:
    messages = []
    for reports, min_hosts, bantime in _bad_inputs():
        try:
            merge.fleet_merge(reports, min_hosts=min_hosts, bantime=bantime)
        except FleetInputError as err:
            messages.append(str(err))
        else:
            messages.append("accepted")
    return messages


def _cases() -> dict[str, Callable[[], Any]]:
    """Case name -> a function computing its output (anything json.dumps takes)."""
    dense = make_reports(40, 150, 600)  # each address on ~10 hosts
    sparse = make_reports(40, 150, 6000)  # most on one host or none: min_hosts > 1 leaves those out first
    edge = _edge_reports()
    return {
        # the inputs themselves first: a change of bench_merge.make_reports or of the edge cases is named so
        "inputs_sha256": lambda: hashlib.sha256(json.dumps([dense, sparse, edge]).encode()).hexdigest(),
        "bench_dense_min1": lambda: _merge_output(dense),
        "bench_dense_min3_bantime": lambda: _merge_output(dense, 3, 3600),
        "bench_sparse_min2": lambda: _merge_output(sparse, "2", 86400),
        "edge_min1_bantime": lambda: _merge_output(edge, 1, 86400),
        "edge_min2": lambda: _merge_output(edge, 2),
        "edge_min13": lambda: _merge_output(edge, 13),
        "edge_subclassed": lambda: _merge_output(_subclassed(edge), 1, 0),
        "edge_missing_keys": lambda: _merge_output(_without_optional_keys(edge), 2, 600),
        "edge_extras": lambda: _extras(edge),
        "edge_report_json": lambda: fleet_report(edge, "json", 1, GENERATED),
        "edge_report_csv": lambda: fleet_report(edge, "csv", 2, GENERATED),
        "edge_report_markdown": lambda: fleet_report(edge, "markdown", 1, GENERATED),
        "dense_report_json": lambda: fleet_report(make_reports(20, 100, 400), "json", 2, GENERATED),
        "errors": _errors,
    }


def _exact_types(value: Any, path: str = "$") -> None:
    """Every value of an output is of a plain JSON type (no subclass of the input leaks out)."""
    kind = type(value)
    assert kind in (dict, list, str, int, bool, type(None)), f"{path}: {kind.__name__}"
    if kind is dict:
        for key, item in value.items():
            key_kind = type(key)
            assert key_kind is str, f"{path}: key {key!r} is a {key_kind.__name__}"
            _exact_types(item, f"{path}.{key}")
    elif kind is list:
        for index, item in enumerate(value):
            _exact_types(item, f"{path}[{index}]")


def _first_difference(got: str, want: str) -> str:
    at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    start, end = max(at - 200, 0), at + 200
    return f"at character {at}:\n got  {got[start:end]!r}\n want {want[start:end]!r}"


@pytest.fixture(scope="module")
def golden() -> dict:
    if REGEN:
        return {}
    return json.loads(gzip.decompress(GOLDEN.read_bytes()))


@pytest.fixture(scope="module")
def produced() -> dict:
    return {}


@pytest.mark.parametrize("name", list(_cases()))
def test_output_matches_the_golden_file(name: str, golden: dict, produced: dict) -> None:
    output = _cases()[name]()
    if not isinstance(output, str):
        _exact_types(output)
    text = json.dumps(output, ensure_ascii=False)
    if REGEN:
        produced[name] = text
        data = dict(json.loads(gzip.decompress(GOLDEN.read_bytes()))) if GOLDEN.exists() else {}
        data[name] = text
        GOLDEN.write_bytes(gzip.compress(json.dumps(data, indent=0, sort_keys=True).encode(), 9, mtime=0))
        return
    assert name in golden, f"no golden output for {name}: run with MBG_REGEN_GOLDEN=1"
    if name == "inputs_sha256":
        assert text == golden[name], (
            "bench_merge.make_reports or this module's edge cases make other reports than the golden file was"
            " made from: if that change is meant, regenerate it (MBG_REGEN_GOLDEN=1, see the docstring)"
        )
    assert text == golden[name], f"{name} differs from its golden, {_first_difference(text, golden[name])}"


def test_the_golden_cases_are_not_trivial(golden: dict) -> None:
    """The cases really exercise the merge: shared addresses, bans, ignored records, stale clients, IPv6,
    the leave-out path of min_hosts, and every hostile input is refused with a message of its own."""
    if REGEN:
        pytest.skip("regenerating")
    dense = json.loads(golden["bench_dense_min1"])
    assert len(dense) == 600 and min(o["host_count"] for o in dense) >= 2
    assert sum(bool(o["banned_on"]) for o in dense) > 400
    sparse = json.loads(golden["bench_sparse_min2"])
    assert 1000 < len(sparse) < 2000 and min(o["host_count"] for o in sparse) == 2
    edge = json.loads(golden["edge_min1_bantime"])
    assert any(":" in o["ip"] for o in edge) and any(o["ignored_on"] for o in edge)
    assert any(o["failures"] >= (1 << 53) - 1 for o in edge) and all("share_until" in o for o in edge)
    assert len(json.loads(golden["edge_subclassed"])) == len(edge)
    extras = json.loads(golden["edge_extras"])
    assert extras["accounts"] and extras["stale"] and extras["shared"]
    errors = json.loads(golden["errors"])
    assert "accepted" not in errors and len(errors) == len(_bad_inputs())


def test_the_golden_file_is_small() -> None:
    assert GOLDEN.stat().st_size < 400_000


def test_the_filter_names_the_first_bad_record() -> None:
    """The Ansible filter raises the library's message as AnsibleFilterError (the golden errors are the
    library's)."""
    reports, min_hosts, bantime = _bad_inputs()[10]
    with pytest.raises(AnsibleFilterError, match=r"host 'mail0001.example.com' offender #8 .*'failures'"):
        fleet_merge(reports, min_hosts=min_hosts, bantime=bantime)
