"""The attacks-over-time chart end to end: a real detector's per-hour counts, read by guard_info, drawn by
fleet_report as "measured" (and "estimated" again as soon as one host's report has no timeline)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.filter.fleet import fleet_report
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.fleet.timeline import nice_axis
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.modules import guard_info
from plugin_helpers import ATTACKER, Detector, attack_log

# attack_log starts 300 s before this: 8 attacker failures 09:58:30-09:59:05, 2 prober ones at 10:00:10,
# one from an ignored address at 10:00:30
NOW = datetime(2026, 11, 26, 10, 3, 30, tzinfo=timezone.utc).timestamp()


def host_report(tmp_path, name: str) -> dict:
    det = Detector(tmp_path / name)
    det.scan(attack_log(NOW, host=name))
    result = guard_info.gather(str(det.config_path), None, lambda _msg: None)
    return json.loads(json.dumps(result))  # what a module hands to the controller


def test_fleet_chart_is_measured_from_detector_timelines(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    reports = {"mbg-mail1": host_report(tmp_path, "a"), "mbg-mail2": host_report(tmp_path, "b")}
    assert reports["mbg-mail1"]["timeline"] == {"2026-11-26T09:00:00Z": 8, "2026-11-26T10:00:00Z": 2}
    doc = json.loads(fleet_report(reports, "json"))
    timeline = doc["timeline"]
    # two hours of per-hour counts are too coarse for an attack of two minutes: minutes from first/last seen
    assert timeline["source"] == "estimated from first/last seen (per-hour counts too coarse for this span)"
    assert timeline["bucket_seconds"] == 60
    assert len(timeline["buckets"]) == 12
    assert sum(b["failures"] for b in timeline["buckets"]) == 20
    assert [b["start"][11:16] for b in timeline["buckets"] if b["failures"]] == ["09:58", "09:59", "10:00"]
    assert {m["ip"] for m in timeline["bans"]} == {ATTACKER}
    assert all(0 <= m["position"] < 1 for m in timeline["bans"])
    assert ATTACKER in {o["ip"] for o in doc["offenders"]}


def test_fleet_chart_falls_back_to_estimate_when_a_host_has_no_timeline(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    old = host_report(tmp_path, "b")
    del old["timeline"]  # a host still running a detector from before the per-hour counts
    reports = {"mbg-mail1": host_report(tmp_path, "a"), "mbg-mail2": old}
    timeline = json.loads(fleet_report(reports, "json"))["timeline"]
    assert timeline["source"] == "estimated from first/last seen"
    assert sum(b["failures"] for b in timeline["buckets"]) == 20


def _doc(offenders=(), timeline=None):
    report = {"offenders": list(offenders)}
    if timeline is not None:
        report["timeline"] = timeline
    return json.loads(fleet_report({"mx1": report}, "json", generated="2026-11-27T00:00:00Z"))["timeline"]


def _off(ip, first, last, failures, decision="ban"):
    return {
        "ip": ip,
        "failures": failures,
        "services": ["postfix"],
        "usernames": [],
        "first_seen": first,
        "last_seen": last,
        "decision": decision,
        "reason": "",
        "ban_until": None,
        "bans": 1,
    }


def test_a_five_minute_attack_is_drawn_in_minutes_among_quiet_ones():
    """Issue 16 item 5: a five-minute attack drew one bar filling the chart, the axis read 0 / 15.0 / 30."""
    timeline = _doc(
        [_off("203.0.113.9", "2026-11-26T08:00:10Z", "2026-11-26T08:04:50Z", 30)],
        {"2026-11-26T08:00:00Z": 30},
    )
    assert timeline["bucket_seconds"] == 60
    assert timeline["bucket_name"] == "minute"
    bars = [b["failures"] for b in timeline["buckets"]]
    assert len(bars) == 12  # padded with quiet minutes
    assert sum(bars) == 30 and max(bars) == 6 and bars.count(6) == 5
    assert timeline["axis"] == {"max": 6, "ticks": [0, 2, 4, 6]}  # integers only
    (mark,) = timeline["bans"]
    assert mark["time"] == "2026-11-26T08:04:50Z" and 0 < mark["position"] < 1


def test_days_are_drawn_in_hours_and_the_axis_stays_whole():
    timeline = _doc(timeline={"2026-11-24T00:00:00Z": 3, "2026-11-26T18:00:00Z": 1234})
    assert timeline["source"] == "measured"
    assert (timeline["bucket_seconds"], timeline["bucket_name"], len(timeline["buckets"])) == (
        3600,
        "hour",
        67,
    )
    timeline = _doc(timeline={"2026-11-16T00:00:00Z": 3, "2026-11-26T18:00:00Z": 1234})
    assert (timeline["bucket_seconds"], timeline["bucket_name"], len(timeline["buckets"])) == (
        21600,
        "6 hours",
        44,
    )
    assert timeline["axis"] == {"max": 1500, "ticks": [0, 500, 1000, 1500]}


@pytest.mark.parametrize(
    ("peak", "axis"),
    [
        (0, [0, 1]),
        (1, [0, 1]),
        (3, [0, 1, 2, 3]),
        (5, [0, 2, 4, 6]),
        (30, [0, 10, 20, 30]),
        (31, [0, 10, 20, 30, 40]),
        (41, [0, 20, 40, 60]),
    ],
)
def testnice_axis(peak, axis):
    assert nice_axis(peak)["ticks"] == axis
