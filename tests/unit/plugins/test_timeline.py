"""The attacks-over-time chart end to end: a real detector's per-hour counts, read by guard_info, drawn by
fleet_report as "measured" (and "estimated" again as soon as one host's report has no timeline)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from ansible_collections.mailsec.mail_bruteforce_guard.plugins.filter.fleet import fleet_report
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
    assert timeline["source"] == "measured"
    assert timeline["bucket_seconds"] == 3600
    assert timeline["buckets"] == [
        {"start": "2026-11-26T09:00:00Z", "failures": 16},
        {"start": "2026-11-26T10:00:00Z", "failures": 4},
    ]
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
