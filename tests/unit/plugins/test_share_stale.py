"""share_bans.yml's merge (fleet_merge) keeps the hosts' own never-ban policy for stale clients (issue 19).

Real detectors on real log lines: a client logs in as alice on mbg-mail3 and then retries her old password
there (a stale client: mbg-mail3 never bans it), and it mistypes bob's password once on mbg-mail1. Seen
"failing" on two hosts, it used to be banned on all of them by share_bans.yml; the attacker failing on two
hosts still is.
"""

from __future__ import annotations

import time

from ansible_collections.mailsec.mail_bruteforce_guard.plugins.filter.fleet import fleet_merge
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.filter.targets import shared_bans
from plugin_helpers import Detector, rfc3339

CLIENT = "198.51.100.20"
ATTACKER = "203.0.113.9"


def _imap(ts: float, host: str, ip: str, user: str, *, ok: bool, n: int) -> str:
    if ok:
        return (
            f"{rfc3339(ts)} {host} dovecot: imap-login: Login: user=<{user}>, method=PLAIN, rip={ip}, "
            f"lip=10.89.0.2, mpid={900 + n}, session=<ok{n}>\n"
        )
    return (
        f"{rfc3339(ts)} {host} dovecot: imap-login: Disconnected: Aborted login by logging out "
        f"(auth failed, 1 attempts in 2 secs): user=<{user}>, method=PLAIN, rip={ip}, lip=10.89.0.2, "
        f"session=<f{n}>\n"
    )


def _reports(tmp_path, other_user: bool = False) -> dict:
    now = time.time()
    t = now - 600
    mail3 = "mbg-mail3"
    # the stale client: alice logs in, then her phone retries the old password 7 times (maxretry is 5)
    stale = [_imap(t + 20 + i * 20, mail3, CLIENT, "alice@example.com", ok=False, n=i) for i in range(7)]
    # one typo of bob's from the same address on mbg-mail1; the attacker below maxretry on two hosts
    attack1 = [_imap(t + 30 + i, "mbg-mail1", ATTACKER, f"u{i}@x.org", ok=False, n=60 + i) for i in range(3)]
    attack2 = [_imap(t + 40 + i, "mbg-mail2", ATTACKER, f"v{i}@x.org", ok=False, n=70 + i) for i in range(3)]
    logs = {
        mail3: [_imap(t, mail3, CLIENT, "alice@example.com", ok=True, n=0), *stale],
        "mbg-mail1": [_imap(t + 5, "mbg-mail1", CLIENT, "bob@example.com", ok=False, n=50), *attack1],
        "mbg-mail2": attack2,
    }
    if other_user:  # the same address also fails for a username that never logged in from it there
        logs["mbg-mail3"].append(_imap(t + 200, "mbg-mail3", CLIENT, "mallory@example.com", ok=False, n=99))
    reports = {}
    for host, lines in logs.items():
        base = tmp_path / host
        base.mkdir()
        det = Detector(base)
        reports[host] = det.scan("".join(lines))
    return reports


def test_a_stale_client_is_not_a_shared_ban_the_attacker_still_is(tmp_path):
    reports = _reports(tmp_path)
    # the hosts' own view: mbg-mail3 watches the client as a stale client (never banned there)
    (own,) = [o for o in reports["mbg-mail3"]["offenders"] if o["ip"] == CLIENT]
    assert own["decision"] == "watch" and own["failures"] == 7
    assert [r["ip"] for r in reports["mbg-mail3"]["stale_clients"]] == [CLIENT]

    merged = fleet_merge(reports, min_hosts=2, bantime=86400)
    assert [m["ip"] for m in merged] == [ATTACKER]
    assert [b["address"] for b in shared_bans(merged)] == [ATTACKER]

    # with min_hosts=1 the client is still listed, for mbg-mail1's typo only (its stale failures not counted)
    (client,) = [m for m in fleet_merge(reports, min_hosts=1) if m["ip"] == CLIENT]
    assert client["hosts"] == ["mbg-mail1"] and client["failures"] == 1


def test_other_failures_from_a_stale_clients_address_still_count(tmp_path):
    # issue 19: "the moment the address fails for another username it is judged as any other"
    reports = _reports(tmp_path, other_user=True)
    merged = fleet_merge(reports, min_hosts=2, bantime=86400)
    assert sorted(m["ip"] for m in merged) == sorted([ATTACKER, CLIENT])
    (client,) = [m for m in merged if m["ip"] == CLIENT]
    assert client["per_host"]["mbg-mail1"] == 1 and client["per_host"]["mbg-mail3"] >= 1
