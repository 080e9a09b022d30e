"""Helpers of the coexist scenario's tests: commands in the containers, the facts, playbook runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

SCENARIO = Path(__file__).resolve().parents[1]
PROJECT = SCENARIO.parents[1]
sys.path.insert(0, str(PROJECT / "molecule" / "shared"))  # scenario_run: what every scenario's tests share
FACTS = {
    **yaml.safe_load((PROJECT / "molecule" / "mail" / "files" / "scenario.yml").read_text()),
    **{
        k: v
        for k, v in yaml.safe_load((SCENARIO / "files" / "coexist.yml").read_text()).items()
        if "{{" not in str(v)
    },
}
UFW = FACTS["mbg_coexist_ufw_hosts"]
NFT = FACTS["mbg_coexist_nft_hosts"]
HOSTS = UFW + NFT
ATTACKER = FACTS["mbg_e2e_attacker"]
CLIENT = FACTS["mbg_e2e_client"]
SCRIPTS = FACTS["mbg_e2e_script_dir"]
SNAPSHOT = FACTS["mbg_coexist_snapshot_dir"]
LAUNCHER = "/usr/local/sbin/mail-bruteforce-guard"
CONFIG = "/etc/mail-bruteforce-guard/config.json"
SCAN_INTERVAL = 60  # the role's default scan timer (minutely)
HOLD = 16  # the correlator releases an event 15 s (log time) after it


def sh(
    container: str, command: str, *, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run a shell command in a container (podman exec)."""
    run = subprocess.run(
        ["podman", "exec", container, "sh", "-c", command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and run.returncode != 0:
        raise AssertionError(
            f"{container}: {command!r} exited {run.returncode}: {run.stdout[-2000:]} {run.stderr[-2000:]}"
        )
    return run


def address(container: str) -> str:
    """The container's address on the scenario network (changes on every run)."""
    out = subprocess.run(
        ["podman", "container", "inspect", container], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)[0]["NetworkSettings"]["Networks"][FACTS["mbg_e2e_network"]]["IPAddress"]


def probe(
    source: str, targets: list[str], ports: list[int], timeout: float = 3.0
) -> dict[tuple[str, int], str]:
    """attack.py probe from a container: {(target, port): open|blocked|refused|...}."""
    argv = ["python3", f"{SCRIPTS}/attack.py", "probe", "--expect=open", f"--timeout={timeout}"]
    argv += [f"--target={t}" for t in targets] + [f"--port={p}" for p in ports]
    run = subprocess.run(
        ["podman", "exec", source, *argv], capture_output=True, text=True, timeout=120, check=False
    )
    result = json.loads(run.stdout)["targets"]
    return {(t, p): result[t][str(p)] for t in targets for p in ports}


def status(host: str) -> dict:
    return json.loads(sh(host, f"{LAUNCHER} status --json --config {CONFIG}").stdout)


def banned(host: str, ip: str) -> bool:
    return any(ban["address"] == ip for ban in status(host)["bans"])


def input_chain(host: str, tool: str = "iptables") -> list[str]:
    """The rules of INPUT, in order (``iptables -S INPUT`` without the policy line)."""
    return [rule for rule in sh(host, f"{tool} -w -S INPUT").stdout.splitlines() if rule.startswith("-A ")]


def without_table(ruleset: str, table: str) -> str:
    """`nft list ruleset` without one table's block (blocks start at "table " and end at "}" in column 0)."""
    out, skip = [], False
    for line in ruleset.splitlines():
        if line.startswith("table "):
            skip = line.startswith(f"table {table} ")
        if not skip:
            out.append(line)
        if line == "}":
            skip = False
    return "\n".join(out)


def ours(rule: str) -> bool:
    """An iptables -S line of the project (its chains MBG-*, or the jump to one)."""
    return "MBG-" in rule
