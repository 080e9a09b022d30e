"""The metrics' active bans: a scan counts them (ActiveBans) before it frees 100,000 bans; the same text."""

from __future__ import annotations

from mail_bruteforce_guard.detector.banentry import BanEntry
from mail_bruteforce_guard.detector.metrics import ActiveBans, active_bans, render

NOW = 1_790_000_000.0


def test_counted_bans_render_as_the_bans_themselves():
    bans = {
        "192.0.2.1": {"until": NOW + 60, "reason": "r"},
        "192.0.2.2": BanEntry(NOW + 60, "r", 1, NOW, True),
        "2001:db8::/64": {"until": NOW + 60},
        "192.0.2.3": {"until": NOW - 1},  # ended
        "192.0.2.4": {"until": "damaged"},
        "192.0.2.5": "damaged",
    }
    counted = active_bans(bans, NOW)
    assert counted == ActiveBans(ipv4=2, ipv6=1)
    data = {"counters": {"bans": 3}}
    assert render(data, counted, 10, {}, NOW) == render(data, bans, 10, {}, NOW)
    assert 'mail_bruteforce_guard_active_bans{family="ipv4"} 2' in render(data, counted, 10, {}, NOW)
