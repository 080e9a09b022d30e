"""Speed figure of the enforcement layer: 10,000 new bans must reach the kernel in ONE batch in under 1 s,
through the ipset backend and through the nftables backend.

Usage: bench_firewall.py [--count N] [--budget SECONDS] [--runs N]
Runs itself inside a throwaway network namespace (``unshare --net``: the real ipset and nft, never the host's
sets), prints per backend the best of --runs timings of Enforcer.ban() (guard checks, set check, one
``ipset restore`` / one ``nft -f`` transaction) plus the re-ban and unban figures, and exits 1 when a best
exceeds the budget (run by `make bench`). Needs root.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from netns_bench import add_inside_option, in_host_netns, rerun_in_new_netns

ROOT = Path(__file__).resolve().parents[2]


def run_inside(args: argparse.Namespace) -> int:
    if in_host_netns("bench_firewall", args.inside_netns):
        return 2
    try:
        from mail_bruteforce_guard.firewall.base import Ban
        from mail_bruteforce_guard.firewall.enforce import Enforcer
        from mail_bruteforce_guard.firewall.ipset import IpsetBackend
        from mail_bruteforce_guard.firewall.nftables import NftablesBackend
    except ImportError:  # a bare checkout without the editable install: module_utils is the package
        sys.path.insert(0, str(ROOT / "plugins"))
        from module_utils.firewall.base import Ban
        from module_utils.firewall.enforce import Enforcer
        from module_utils.firewall.ipset import IpsetBackend
        from module_utils.firewall.nftables import NftablesBackend

    backends = [(IpsetBackend(), "ipset restore batch", ["ipset", "destroy"])]
    if shutil.which("nft"):
        backends.append((NftablesBackend(), "nft -f transaction", ["nft", "flush", "ruleset"]))
    else:
        print("bench_firewall: nft is not installed: no nftables figure", file=sys.stderr)
    code = 0
    for backend, how, wipe in backends:
        code = max(code, bench_backend(args, backend, how, wipe, Ban=Ban, Enforcer=Enforcer))
    return code


def bench_backend(args: argparse.Namespace, backend, how: str, wipe: list, *, Ban, Enforcer) -> int:  # noqa: N803
    """Time Enforcer.ban() of --count new bans from an empty firewall (best of --runs), re-ban and unban."""
    enforcer = Enforcer(backend, ignore=["10.0.0.0/8"], protected=["192.0.2.10"], use_syslog=False)
    timings = []
    for _ in range(args.runs):
        subprocess.run(wipe, check=True)  # this namespace's sets/tables only: start empty
        now = time.time()
        bans = [
            Ban(
                f"{100 + i // 65536}.{i // 256 % 256}.{i % 256}.0/24"
                if i % 10 == 0
                else f"{100 + i // 65536}.{i // 256 % 256}.{i % 256}.{1 + i % 250}",
                now + 3600 + i % 600,
                "bench: 12 SASL failures in 240s (postfix, dovecot)",
            )
            for i in range(args.count)
        ]
        started = time.perf_counter()
        result = enforcer.ban(bans, now)
        timings.append(time.perf_counter() - started)
        held = backend.list()
        if len(result.added) != args.count or len(held) != args.count:
            print(f"bench_firewall: FAILED: {len(held)} entries held, {args.count} expected", file=sys.stderr)
            return 1
    started = time.perf_counter()
    again = enforcer.ban(bans, now)
    reban = time.perf_counter() - started
    started = time.perf_counter()
    removed = enforcer.unban(b.address for b in bans)
    unban = time.perf_counter() - started
    if again.changed or len(removed.removed) != args.count or backend.list():
        print("bench_firewall: FAILED: re-ban changed entries or unban left some", file=sys.stderr)
        return 1
    best = min(timings)
    print(
        f"bench_firewall: {args.count:,} new bans in one {how}: best {best:.3f} s "
        f"(runs: {', '.join(f'{t:.3f}' for t in timings)}; budget {args.budget:g} s); "
        f"re-ban unchanged {reban:.3f} s; unban all {unban:.3f} s"
    )
    if best > args.budget:
        print(f"bench_firewall: FAILED: {best:.3f} s > {args.budget:g} s", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--budget", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    add_inside_option(parser)
    args = parser.parse_args()
    if args.count < 1 or args.runs < 1:
        parser.error("--count and --runs must be at least 1")
    if args.inside_netns is not None:
        return run_inside(args)
    return rerun_in_new_netns("bench_firewall", ("ipset",))


if __name__ == "__main__":
    sys.exit(main())
