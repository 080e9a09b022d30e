"""guard_info and guard_ban driven through their main() with ansible's unit-test pattern (patch_module_args,
exit_json/fail_json patched), against a real detector state in a temporary directory. The detector runs in
monitor mode or the module in check mode, so no firewall on this machine is touched."""

from __future__ import annotations

import json
import time

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.modules import guard_ban, guard_info
from plugin_helpers import ATTACKER, CONTROLLER, INSIDER, PROBER


class ExitJsonError(Exception):
    pass


class FailJsonError(Exception):
    pass


@pytest.fixture
def run(monkeypatch):
    def exit_json(self, **kwargs):
        kwargs.setdefault("changed", False)
        raise ExitJsonError(kwargs)

    def fail_json(self, msg, **kwargs):
        kwargs["failed"] = True
        kwargs["msg"] = msg
        raise FailJsonError(kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)

    def _run(module, args: dict, check: bool = False, diff: bool = False) -> dict:
        args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
        with patch_module_args(args), pytest.raises((ExitJsonError, FailJsonError)) as info:
            module.main()
        result = info.value.args[0]
        json.dumps(result)  # what a module returns must be JSON
        return result

    return _run


def state_bans(det) -> dict:
    state = json.loads((det.state_dir / "state.json").read_text())
    return {a: b for a, b in state["bans"].items() if float(b["until"]) > time.time()}


# ---- guard_info -------------------------------------------------------------------------------------


@pytest.mark.parametrize("check", [False, True])
def test_info_reports_offenders_bans_and_stats(run, detector, check):
    result = run(guard_info, {"config": str(detector.config_path)}, check=check)
    assert result["changed"] is False
    assert "failed" not in result
    by_ip = {o["ip"]: o for o in result["offenders"]}
    assert by_ip[ATTACKER]["decision"] == "ban"
    assert by_ip[ATTACKER]["failures"] == 8
    assert by_ip[ATTACKER]["usernames"] == ["alice@example.com"]
    assert by_ip[PROBER]["decision"] == "watch"
    assert by_ip[INSIDER]["decision"] == "ignored"
    assert [b["address"] for b in result["bans"]] == [ATTACKER]
    assert result["mode"] == "monitor"
    assert result["summary"] == {
        "offenders": 3,
        "ban": 1,
        "watch": 1,
        "ignored": 1,
        "active_bans": 1,
        "alerts": 0,
    }
    assert set(result["stats"]) >= {"lines", "events"}


def test_info_state_dir_option_overrides_config(run, detector, tmp_path):
    other = tmp_path / "elsewhere"
    result = run(guard_info, {"config": str(detector.config_path), "state_dir": str(other)})
    assert result["offenders"] == []
    assert result["bans"] == []
    assert result["state_dir"] == str(other)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read config file"),
        ("{not json", "not valid JSON"),
        ('{"maxretry": "five"}', "maxretry"),
        ('{"no_such_key": 1}', "unknown config key 'no_such_key'"),
    ],
)
def test_info_bad_config_fails_with_one_line(run, tmp_path, content, expected):
    path = tmp_path / "config.json"
    if content is not None:
        path.write_text(content)
    result = run(guard_info, {"config": str(path), "state_dir": str(tmp_path / "s")})
    assert result["failed"] is True
    assert expected in result["msg"]
    assert "\n" not in result["msg"]


def test_info_rejects_unknown_option(run, detector):
    result = run(guard_info, {"config": str(detector.config_path), "bogus": 1})
    assert result["failed"] is True
    assert "bogus" in result["msg"]


# ---- guard_ban: present -----------------------------------------------------------------------------


def ban_args(det, **kwargs) -> dict:
    return dict({"config": str(det.config_path)}, **kwargs)


def test_ban_check_mode_predicts_without_changing(run, empty_detector):
    det = empty_detector
    result = run(guard_ban, ban_args(det, addresses=["198.51.100.77"], duration=600), check=True, diff=True)
    assert result["changed"] is True
    assert result["added"] == ["198.51.100.77"]
    assert result["diff"]["before"] == ""
    assert result["diff"]["after"].startswith("198.51.100.77 until ")
    assert not (det.state_dir / "state.json").exists() or state_bans(det) == {}


def test_ban_then_rerun_is_unchanged(run, empty_detector):
    det = empty_detector
    args = ban_args(det, addresses=["198.51.100.77", "2001:db8::1"], duration=600, reason="test")
    first = run(guard_ban, args, diff=True)
    assert first["changed"] is True
    assert sorted(first["added"]) == ["198.51.100.77", "2001:db8::1"]
    bans = state_bans(det)
    assert set(bans) == {"198.51.100.77", "2001:db8::1"}
    assert bans["198.51.100.77"]["reason"] == "test"
    assert 590 <= float(bans["198.51.100.77"]["until"]) - time.time() <= 600
    second = run(guard_ban, args, diff=True)
    assert second["changed"] is False
    assert sorted(second["unchanged"]) == ["198.51.100.77", "2001:db8::1"]
    assert second["diff"]["before"] == second["diff"]["after"]
    # check mode after the fact agrees
    assert run(guard_ban, args, check=True)["changed"] is False


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def test_ban_until_is_idempotent_and_only_extends(run, empty_detector):
    det = empty_detector
    end = int(time.time()) + 7200
    args = ban_args(det, addresses=["203.0.113.99"], until=iso(end))
    first = run(guard_ban, args)
    assert first["changed"] is True
    assert first["until"] == iso(end)
    assert abs(float(state_bans(det)["203.0.113.99"]["until"]) - end) < 0.01
    assert run(guard_ban, args)["changed"] is False  # same until: no change
    assert run(guard_ban, dict(args, until=iso(end - 600)))["changed"] is False  # never shortened
    later = run(guard_ban, dict(args, until=str(end + 600)), diff=True)  # POSIX seconds work too
    assert later["changed"] is True
    assert later["diff"]["before"] == f"203.0.113.99 until {iso(end)}\n"
    assert later["diff"]["after"] == f"203.0.113.99 until {iso(end + 600)}\n"
    assert abs(float(state_bans(det)["203.0.113.99"]["until"]) - (end + 600)) < 0.01


def test_ban_until_in_the_past_bans_nothing(run, empty_detector):
    result = run(
        guard_ban, ban_args(empty_detector, addresses=["203.0.113.99"], until="2001-01-01T00:00:00Z")
    )
    assert result["changed"] is False
    assert result["expired"] == ["203.0.113.99"]


def test_ban_keeps_ban_from_scan(run, detector):
    result = run(guard_ban, ban_args(detector, addresses=[ATTACKER], duration=60))
    assert result["changed"] is False
    assert result["unchanged"] == [ATTACKER]


@pytest.mark.parametrize("address", [CONTROLLER, INSIDER, "127.0.0.1", "10.0.0.0/8"])
def test_ban_refused_is_reported_not_failed(run, detector, address):
    result = run(guard_ban, ban_args(detector, addresses=[address, "198.51.100.200"]))
    assert "failed" not in result
    assert result["changed"] is True
    assert result["added"] == ["198.51.100.200"]
    assert [r["address"] for r in result["refused"]] == [address]
    assert address not in state_bans(detector)


def test_ban_refused_fails_with_fail_on_refused(run, detector):
    result = run(guard_ban, ban_args(detector, addresses=[CONTROLLER], fail_on_refused=True), check=True)
    assert result["failed"] is True
    assert result["msg"].startswith(f"refused to ban: {CONTROLLER} (protected")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"addresses": ["999.1.1.1"]}, "addresses: invalid address '999.1.1.1'"),
        ({"addresses": ["10.1.2.3/8"]}, "host bits set"),
        ({"addresses": ["evil.example.com"]}, "invalid address"),
        ({"addresses": []}, "no address given"),
        ({"addresses": ["192.0.2.1"], "duration": 0}, "duration: must be a positive"),
        ({"addresses": ["192.0.2.1"], "expires": "tomorrow"}, "expires: 'tomorrow' is not an ISO 8601 time"),
        ({"addresses": ["192.0.2.1"], "until": "2030-01-01", "duration": 5}, "mutually exclusive"),
        ({"addresses": ["192.0.2.1"], "state": "gone"}, "state"),
        ({}, "addresses"),
    ],
)
def test_ban_bad_arguments_fail_clearly(run, empty_detector, args, expected):
    result = run(guard_ban, ban_args(empty_detector, **args))
    assert result["failed"] is True
    assert expected in result["msg"]


# ---- guard_ban: absent ------------------------------------------------------------------------------


def test_unban_check_mode_then_real_then_idempotent(run, detector):
    args = ban_args(detector, state="absent", addresses=[ATTACKER, "198.51.100.250"])
    check = run(guard_ban, args, check=True, diff=True)
    assert check["changed"] is True
    assert check["removed"] == [ATTACKER]
    assert ATTACKER in check["diff"]["before"]
    assert check["diff"]["after"] == ""
    assert ATTACKER in state_bans(detector)  # check mode changed nothing
    real = run(guard_ban, args)
    assert real["changed"] is True
    assert real["removed"] == [ATTACKER]
    assert state_bans(detector) == {}
    again = run(guard_ban, args)
    assert again["changed"] is False
    assert again["removed"] == []


def test_unban_reset_forgets_history(run, detector):
    from mail_bruteforce_guard.detector import api

    run(guard_ban, ban_args(detector, state="absent", addresses=[ATTACKER], reset=True))
    report = api.report(api.load_config(str(detector.config_path)), warn=lambda _m: None)
    assert ATTACKER not in {o["ip"] for o in report["offenders"]}


# ---- guard_ban: many bans in one call ---------------------------------------------------------------


def test_bans_check_then_real_then_idempotent_then_extend(run, empty_detector):
    det = empty_detector
    end = int(time.time()) + 3600
    entries = [
        {"address": "198.51.100.71", "expires": iso(end), "reason": "seen on a, b"},
        {"address": "2001:DB8::7", "until": str(end + 60)},  # POSIX seconds, default reason
        {"address": "198.51.100.72", "expires": "2001-01-01T00:00:00Z"},  # past: nothing
    ]
    args = ban_args(det, bans=entries, reason="shared")
    check = run(guard_ban, args, check=True, diff=True)
    assert check["changed"] is True
    assert check["added"] == ["198.51.100.71", "2001:db8::7"]
    assert check["expired"] == ["198.51.100.72"]
    assert check["diff"]["before"] == ""
    assert check["diff"]["after"] == f"198.51.100.71 until {iso(end)}\n2001:db8::7 until {iso(end + 60)}\n"
    assert not (det.state_dir / "state.json").exists() or state_bans(det) == {}
    real = run(guard_ban, args, diff=True)
    assert real["changed"] is True and real["diff"] == check["diff"]
    assert real["until"] == iso(end + 60)
    saved = state_bans(det)
    assert set(saved) == {"198.51.100.71", "2001:db8::7"}
    assert saved["198.51.100.71"]["reason"] == "seen on a, b"
    assert saved["2001:db8::7"]["reason"] == "shared"
    assert abs(float(saved["198.51.100.71"]["until"]) - end) < 0.01
    again = run(guard_ban, args)
    assert again["changed"] is False
    assert sorted(again["unchanged"]) == ["198.51.100.71", "2001:db8::7"]
    assert run(guard_ban, args, check=True)["changed"] is False
    # one entry later: only that one is extended; an earlier end never shortens
    later = [dict(entries[0], expires=iso(end + 600)), {"address": "2001:db8::7", "expires": iso(end)}]
    extended = run(guard_ban, ban_args(det, bans=later))
    assert extended["added"] == ["198.51.100.71"] and extended["unchanged"] == ["2001:db8::7"]
    assert abs(float(state_bans(det)["198.51.100.71"]["until"]) - (end + 600)) < 0.01
    assert abs(float(state_bans(det)["2001:db8::7"]["until"]) - (end + 60)) < 0.01


def test_bans_refused_reported_and_repeated_address_keeps_later_end(run, detector):
    end = int(time.time()) + 3600
    entries = [
        {"address": CONTROLLER, "expires": iso(end)},
        {"address": "198.51.100.80", "expires": iso(end)},
        {"address": "198.51.100.80", "expires": iso(end + 900), "reason": "later"},
    ]
    result = run(guard_ban, ban_args(detector, bans=entries))
    assert result["added"] == ["198.51.100.80"]
    assert [r["address"] for r in result["refused"]] == [CONTROLLER]
    assert state_bans(detector)["198.51.100.80"]["reason"] == "later"
    assert abs(float(state_bans(detector)["198.51.100.80"]["until"]) - (end + 900)) < 0.01


def test_bans_empty_list_bans_nothing(run, empty_detector):
    result = run(guard_ban, ban_args(empty_detector, bans=[]))
    assert result["changed"] is False and result["added"] == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"bans": [{"address": "999.1.1.1", "expires": "2030-01-01"}]}, "bans[0].address: invalid address"),
        ({"bans": [{"address": "192.0.2.1", "expires": "soon"}]}, "bans[0].expires: 'soon' is not an ISO"),
        ({"bans": [{"address": "192.0.2.1"}]}, "expires"),
        ({"bans": [{"address": "192.0.2.1", "expires": "2030-01-01", "x": 1}]}, "x"),
        ({"bans": [], "addresses": ["192.0.2.1"]}, "mutually exclusive"),
        ({"bans": [], "duration": 60}, "mutually exclusive"),
        ({"bans": [], "expires": "2030-01-01"}, "mutually exclusive"),
        ({"bans": [], "state": "absent"}, "addresses"),
    ],
)
def test_bans_bad_arguments_fail_clearly(run, empty_detector, args, expected):
    result = run(guard_ban, ban_args(empty_detector, **args))
    assert result["failed"] is True
    assert expected in result["msg"]


@pytest.mark.parametrize("args", [{"duration": 10**12}, {"until": "9999-12-31T00:00:00Z"}, {"until": "1e20"}])
def test_ban_of_absurd_length_fails_cleanly_and_saves_nothing(run, empty_detector, args):
    """Issue 15 item 8: duration=10**12 was saved, then every later call on the host crashed."""
    det = empty_detector
    result = run(guard_ban, ban_args(det, addresses=["198.51.100.78"], **args))
    assert result["failed"] is True
    assert "\n" not in result["msg"] and "ten years" in result["msg"]
    assert not (det.state_dir / "state.json").exists() or state_bans(det) == {}
    assert "failed" not in run(guard_ban, ban_args(det, addresses=["198.51.100.78"], duration=600))
