"""The benchmarks that change a firewall (bench_firewall, bench_bans, bench_follow) run themselves again
inside a throwaway network namespace (``unshare --net``): this machine's own sets and rules are never
touched. The re-run gets ``--inside-netns`` with the caller's namespace inode and refuses to run if it is
still in that namespace."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

INSIDE = "--inside-netns"


def netns_id() -> int:
    """Inode of this process's network namespace."""
    return os.stat("/proc/self/ns/net").st_ino


def add_inside_option(parser: argparse.ArgumentParser) -> None:
    """The hidden option of the re-run: the caller's namespace inode (None in the caller)."""
    parser.add_argument(INSIDE, type=int, default=None, help=argparse.SUPPRESS)


def in_host_netns(name: str, caller: int) -> bool:
    """True, with one line on stderr, when the re-run is still in its caller's namespace."""
    if netns_id() != caller:
        return False
    print(f"{name}: refusing to run in the host network namespace", file=sys.stderr)
    return True


def rerun_in_new_netns(name: str, tools: tuple[str, ...], *, skip: bool = False) -> int:
    """Run this script again, with the same arguments, in a new network namespace; its exit status. Without
    root or one of ``tools``: one line and 2 (or, with ``skip``, a "skipped" line and 0)."""
    why = "needs root (a throwaway network namespace)" if os.geteuid() != 0 else ""
    for tool in () if why else ("unshare", *tools):
        if shutil.which(tool) is None:
            why = f"{tool} is not installed"
            break
    if why and skip:
        print(f"{name}: {why}: skipped")
        return 0
    if why:
        print(f"{name}: {why}", file=sys.stderr)
        return 2
    argv = [sys.executable, str(Path(sys.argv[0]).resolve()), *sys.argv[1:], INSIDE, str(netns_id())]
    return subprocess.run(["unshare", "--net", "--", *argv], check=False).returncode
