"""Speed figure of the fleet_merge filter: 1,000 hosts x 1,000 offenders must merge in under 2 s.

Usage: bench_merge.py [--hosts N] [--offenders N] [--pool N] [--min-hosts N] [--budget SECONDS] [--runs N]
                      [--wall]
Prints the best of --runs timings, CPU time of this process and wall-clock time, and exits 1 when the best
exceeds the budget (run by `make bench`). The budget applies to CPU time unless --wall is given: on a shared
machine wall-clock time mostly measures the other processes (the load average is printed next to it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def make_reports(hosts: int, offenders: int, pool: int, seed: int = 1) -> dict:
    """Deterministic synthetic per-host reports shaped like guard_info results."""
    rng = random.Random(seed)
    addresses = [f"{10 + i // 65536 % 200}.{i // 256 % 256}.{i % 256}.{7 + i % 200}" for i in range(pool)]
    users = [f"user{i}@example.com" for i in range(500)]
    services = (["postfix"], ["dovecot"], ["dovecot", "postfix"])
    base = 1_795_000_000.0
    reports = {}
    for h in range(hosts):
        offs = []
        for ip in rng.sample(addresses, offenders):
            first = base + rng.randrange(0, 86400)
            banned = rng.random() < 0.2
            offs.append(
                {
                    "ip": ip,
                    "failures": rng.randrange(1, 40),
                    "services": services[rng.randrange(3)],
                    "usernames": rng.sample(users, rng.randrange(0, 4)),
                    "first_seen": iso(first),
                    "last_seen": iso(first + rng.randrange(0, 3600)),
                    "decision": "ban" if banned else "watch",
                    "reason": "bench",
                    "ban_until": iso(first + 7200) if banned else None,
                    "bans": 1 if banned else 0,
                }
            )
        reports[f"mail{h:04d}.example.com"] = {
            "offenders": offs,
            "accounts": [],
            "stats": {},
            "changed": False,
        }
    # Through JSON, as Ansible decodes module results: every string and list is its own object, laid out in
    # parse order (objects shared between records would flatter the merge, which is bound by memory traffic).
    return json.loads(json.dumps(reports))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--offenders", type=int, default=1000)
    parser.add_argument(
        "--pool", type=int, default=20000, help="distinct addresses the offenders are drawn from"
    )
    parser.add_argument(
        "--min-hosts", type=int, default=1, help="min_hosts given to fleet_merge (share_bans.yml uses 2)"
    )
    parser.add_argument("--budget", type=float, default=2.0, help="seconds allowed (default 2.0)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--wall", action="store_true", help="apply the budget to wall-clock time")
    args = parser.parse_args()
    counts = (args.hosts, args.offenders, args.pool, args.runs, args.min_hosts)
    if min(counts) < 1 or args.offenders > args.pool:
        parser.error("counts must be >= 1 and --offenders <= --pool")

    sys.path.insert(0, str(ROOT / "tests" / "helpers"))
    import plugin_helpers  # noqa: F401 - puts the collection on sys.path
    from ansible_collections.mailsec.mail_bruteforce_guard.plugins.filter.fleet import fleet_merge

    reports = make_reports(args.hosts, args.offenders, args.pool)
    cpu: list = []
    wall: list = []
    merged: list = []
    for _ in range(args.runs):
        merged = []  # free the previous result first
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        merged = fleet_merge(reports, min_hosts=args.min_hosts)
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start_wall)
    shared = sum(1 for o in merged if o["host_count"] >= 2)
    records = args.hosts * args.offenders
    best = min(wall) if args.wall else min(cpu)
    load = os.getloadavg()[0]
    print(
        f"fleet_merge: {args.hosts} hosts x {args.offenders} offenders ({records:,} records,"
        f" min_hosts {args.min_hosts}: {len(merged):,} addresses, {shared:,} on >= 2 hosts)\n"
        f"  cpu  best {min(cpu):.3f} s of {', '.join(f'{t:.3f}' for t in cpu)}"
        f" ({records / min(cpu) / 1e6:.2f} M records/s)\n"
        f"  wall best {min(wall):.3f} s of {', '.join(f'{t:.3f}' for t in wall)}"
        f" (load average {load:.1f} on {os.cpu_count()} CPUs)\n"
        f"  budget {args.budget:.1f} s ({'wall' if args.wall else 'cpu'}):"
        f" {'ok' if best <= args.budget else 'MISSED'}"
    )
    if best > args.budget:
        print(f"bench_merge: FAILED: {best:.3f} s > {args.budget:.1f} s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
