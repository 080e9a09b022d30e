"""guard_ban in enforce mode against the real ipset, inside a throwaway network namespace (`unshare --net`):
the module runs as Ansible runs it (a separate Python process reading its arguments file) and the sets are
listed in the same namespace. Skipped where unshare or ipset are unavailable (not root)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from plugin_helpers import COLLECTIONS, CONTROLLER, ROOT, Detector

MODULE = ROOT / "plugins" / "modules" / "guard_ban.py"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ipset"),
    reason="needs root, unshare and ipset",
)


def run_in_netns(tmp_path, steps: list) -> tuple:
    """Run guard_ban once per step (a dict of module args) in one new network namespace; then list the sets.

    Returns (list of module results, `ipset save` output)."""
    script = []
    for index, args in enumerate(steps):
        path = tmp_path / f"args{index}.json"
        path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
        script.append(f"{sys.executable} {MODULE} {path}; echo")
    script.append("echo '--- ipset'; ipset save")
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    proc = subprocess.run(
        ["unshare", "--net", "sh", "-c", "\n".join(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    if "Operation not permitted" in proc.stderr:
        pytest.skip("unshare --net not permitted here")
    modules, _, sets = proc.stdout.partition("--- ipset")
    results = [json.loads(line) for line in modules.splitlines() if line.startswith("{")]
    assert len(results) == len(steps), proc.stdout + proc.stderr
    return results, sets


def test_enforce_ban_check_then_real_then_idempotent_then_unban(tmp_path):
    det = Detector(tmp_path, mode="enforce")
    base = {"config": str(det.config_path), "addresses": ["198.51.100.77", "2001:db8:1:2::/64", CONTROLLER]}
    end = int(time.time()) + 3600
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end))
    steps = [
        dict(base, expires=until, _ansible_check_mode=True, _ansible_diff=True),
        dict(base, expires=until),
        dict(base, expires=until),
        dict(base, state="absent", addresses=["198.51.100.77"]),
    ]
    results, sets = run_in_netns(tmp_path, steps)
    check, real, again, unban = results
    assert check["changed"] is True
    assert sorted(check["added"]) == ["198.51.100.77", "2001:db8:1:2::/64"]
    assert [r["address"] for r in check["refused"]] == [CONTROLLER]
    assert real["changed"] is True and sorted(real["added"]) == sorted(check["added"])
    assert again["changed"] is False
    assert sorted(again["unchanged"]) == ["198.51.100.77", "2001:db8:1:2::/64"]
    assert unban["changed"] is True and unban["removed"] == ["198.51.100.77"]
    # what the kernel holds at the end: the IPv6 ban only, with about an hour left; never the controller
    lines = [line.split() for line in sets.splitlines() if line.startswith("add ")]
    held = {parts[2]: int(parts[parts.index("timeout") + 1]) for parts in lines}
    assert set(held) == {"2001:db8:1:2::/64"}
    assert 3500 <= held["2001:db8:1:2::/64"] <= 3600
    assert "create mbgtest_v4 hash:net family inet" in sets
    assert "create mbgtest_v6 hash:net family inet6" in sets


def test_enforce_bans_option_one_batch_each_end_then_idempotent(tmp_path):
    det = Detector(tmp_path, mode="enforce")
    now = int(time.time())

    def at(seconds: int) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + seconds))

    bans = [
        {"address": "198.51.100.81", "expires": at(1800), "reason": "seen on a, b"},
        {"address": "198.51.100.82", "expires": at(7200)},
        {"address": "2001:db8:5::/64", "expires": at(3600)},
        {"address": CONTROLLER, "expires": at(3600)},
    ]
    base = {"config": str(det.config_path), "bans": bans}
    results, sets = run_in_netns(tmp_path, [dict(base, _ansible_check_mode=True), base, base])
    check, real, again = results
    assert check["changed"] is True and real["changed"] is True
    assert (
        sorted(real["added"])
        == sorted(check["added"])
        == ["198.51.100.81", "198.51.100.82", "2001:db8:5::/64"]
    )
    assert [r["address"] for r in real["refused"]] == [CONTROLLER]
    assert again["changed"] is False and len(again["unchanged"]) == 3
    lines = [line.split() for line in sets.splitlines() if line.startswith("add ")]
    held = {parts[2]: int(parts[parts.index("timeout") + 1]) for parts in lines}
    assert set(held) == {"198.51.100.81", "198.51.100.82", "2001:db8:5::/64"}
    assert 1700 <= held["198.51.100.81"] <= 1800
    assert 7100 <= held["198.51.100.82"] <= 7200
    assert 3500 <= held["2001:db8:5::/64"] <= 3600
