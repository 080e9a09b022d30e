"""Fixtures for tests that run the real ipset/iptables inside throwaway network namespaces.

Every command that touches firewall state runs through ``ip netns exec NS``; nothing is created on the host.
A session-wide check fails the run if a set named like ours appears on the host.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator

import pytest

NETNS_PREFIX = "mbgtest-"
_OUR_SET_PREFIXES = ("mbg_", "mbgtmp", "mbgt_")


def netns_skip_reason() -> str | None:
    """Why namespace tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, ipset, iptables)"
    for tool in ("ip", "ipset", "iptables", "ip6tables"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install iproute2 ipset iptables)"
    return None


def _host_sets() -> set[str]:
    """Names of our sets in the host's namespace (read-only; empty when ipset is missing or not root)."""
    if shutil.which("ipset") is None:
        return set()
    out = subprocess.run(["ipset", "list", "-n"], capture_output=True, text=True, check=False).stdout
    found = {name for name in out.split() if name.startswith(_OUR_SET_PREFIXES)}
    if shutil.which("nft"):  # and our nftables table, and the iptables hook chain
        tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=False).stdout
        found |= {line for line in tables.splitlines() if "mail_bruteforce_guard" in line}
    for tool in ("iptables", "ip6tables"):
        if shutil.which(tool):
            rules = subprocess.run([tool, "-w", "-S"], capture_output=True, text=True, check=False).stdout
            found |= {f"{tool} {line}" for line in rules.splitlines() if "MBG-BAN" in line}
    return found


class Netns:
    """A named network namespace with loopback up; ``run`` executes a command inside it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.prefix: tuple[str, ...] = ("ip", "netns", "exec", name)
        self.ipset: tuple[str, ...] = (*self.prefix, "ipset")  # IpsetBackend(command=ns.ipset)
        self.nft: tuple[str, ...] = (*self.prefix, "nft")  # NftablesBackend(command=ns.nft)
        self.procs: list[subprocess.Popen] = []

    def run(self, *argv: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``argv`` inside the namespace; raise with its stderr when ``check`` and it fails."""
        proc = subprocess.run(
            [*self.prefix, *argv], input=input, capture_output=True, text=True, check=False, timeout=60
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed in {self.name}: {proc.stderr.strip()}")
        return proc

    def popen(self, *argv: str) -> subprocess.Popen:
        """Start a background process inside the namespace (killed at teardown)."""
        proc = subprocess.Popen(
            [*self.prefix, *argv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True
        )
        self.procs.append(proc)
        return proc

    def sets(self) -> dict[str, str]:
        """``ipset save`` text per set name inside the namespace."""
        out = self.run("ipset", "list", "-n").stdout.split()
        return {name: self.run("ipset", "save", name).stdout for name in out}

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, check=False)


@pytest.fixture(scope="session")
def host_untouched() -> Iterator[None]:
    """Fail the session if one of our sets, our nft table or our hook appears on the host (all of them are
    per network namespace)."""
    before = _host_sets()
    yield
    leaked = _host_sets() - before
    if leaked:
        pytest.fail(f"sets, tables or rules leaked onto the host: {sorted(leaked)}")


@pytest.fixture
def netns_tools(host_untouched: None) -> None:
    """Skip (with the reason) unless root with ip, ipset, iptables and ip6tables; guard the host.

    With MBG_REQUIRE_NETNS=1 (CI) a missing prerequisite fails instead: CI must never pass by skipping.
    """
    reason = netns_skip_reason()
    if reason and os.environ.get("MBG_REQUIRE_NETNS") == "1":
        pytest.fail(f"MBG_REQUIRE_NETNS=1 but {reason}")
    if reason:
        pytest.skip(reason)


@pytest.fixture
def nft_tools(netns_tools: None) -> None:
    """Also skip without nft (fail with MBG_REQUIRE_NETNS=1, as netns_tools does)."""
    if shutil.which("nft") is None:
        reason = "nft is not installed (apt-get install nftables)"
        if os.environ.get("MBG_REQUIRE_NETNS") == "1":
            pytest.fail(f"MBG_REQUIRE_NETNS=1 but {reason}")
        pytest.skip(reason)


@pytest.fixture
def make_netns(netns_tools: None) -> Iterator:
    """Factory: ``make_netns()`` -> a fresh Netns, deleted (with its sets, rules and links) after the test."""
    created: list[Netns] = []

    def factory() -> Netns:
        ns = Netns(f"{NETNS_PREFIX}{os.getpid()}-{secrets.token_hex(3)}")
        subprocess.run(["ip", "netns", "add", ns.name], check=True, capture_output=True)
        created.append(ns)
        ns.run("ip", "link", "set", "lo", "up")
        return ns

    try:
        yield factory
    finally:
        for ns in created:
            ns.close()


@pytest.fixture
def netns(make_netns) -> Netns:
    """One throwaway namespace."""
    return make_netns()
