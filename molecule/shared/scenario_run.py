"""What the molecule scenarios' tests share (imported by their conftest.py): one ansible-playbook run on
molecule's inventory, read back as its return code, plain output and recap, and a command in a container."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;]*m")
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def playbook(playbook_path: Path, *extra: str) -> tuple[int, str, dict[str, tuple[str, ...]]]:
    """ansible-playbook on molecule's inventory: rc, plain output, {host: (changed, unreachable, failed)}."""
    inventory = str(Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory")
    env = {
        **os.environ,
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_STDOUT_CALLBACK": "default",
    }
    run = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", inventory, *extra, str(playbook_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    out = ANSI.sub("", run.stdout + run.stderr)
    return run.returncode, out, {host: tuple(rest[1:]) for host, *rest in RECAP.findall(out)}


def changed_tasks(out: str) -> list[str]:
    """``host: task`` for every task a playbook's output (default callback) reports as changed: what an
    assertion on the recap should print when it fails."""
    found, task = [], ""
    for line in out.splitlines():
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            task = line.split("[", 1)[1].rsplit("]", 1)[0]
        elif line.startswith("changed: ["):
            found.append(f"{line.split('[', 1)[1].split(']', 1)[0]}: {task}")
    return found
