"""The library files the role installs are exactly the library, and the role's files are wired up."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "mail_bruteforce_guard"
LIBRARY = ROOT / "plugins" / "module_utils"
CONTROLLER_ONLY = ("fleet",)  # the fleet merge and report run on the controller only: never sent to hosts


def test_library_file_list_matches_the_tree():
    listed = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["mail_bruteforce_guard__library_files"]
    tree = sorted(
        str(p.relative_to(LIBRARY))
        for p in LIBRARY.rglob("*.py")
        if "__pycache__" not in p.parts and p.relative_to(LIBRARY).parts[0] not in CONTROLLER_ONLY
    )
    assert len(listed) == len(set(listed)), "duplicates in mail_bruteforce_guard__library_files"
    missing, extra = sorted(set(tree) - set(listed)), sorted(set(listed) - set(tree))
    assert (missing, extra) == ([], []), "update mail_bruteforce_guard__library_files in vars/main.yml"


def test_library_source_resolves_from_the_role():
    """roles/ and plugins/ are siblings, in the checkout and in an installed collection."""
    assert (ROLE / ".." / ".." / "plugins" / "module_utils" / "detector" / "cli.py").resolve().is_file()


def test_templates_and_task_files_referenced_exist():
    tasks = "".join(p.read_text() for p in (ROLE / "tasks").glob("*.yml"))
    for name in re.findall(r"src: ([\w.-]+\.j2)", tasks):
        assert (ROLE / "templates" / name).is_file(), name
    for name in re.findall(r"(?:file|import_tasks): (\w+\.yml)", tasks):
        assert (ROLE / "tasks" / name).is_file(), name
    units = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    for key in ("scan_unit", "timer_unit", "restore_unit", "firewall_unit"):
        assert (ROLE / "templates" / f"{units['mail_bruteforce_guard__' + key]}.j2").is_file(), key


def test_area_flags_and_tags():
    """Each area is its own task file with an enable flag and a tag; none runs when the role uninstalls.

    Static imports, so `--list-tasks` shows every task (test_list_tasks_shows_every_area below).
    """
    main = yaml.safe_load((ROLE / "tasks" / "main.yml").read_text())
    assert not any("ansible.builtin.include_tasks" in t for t in main)
    areas = {t["ansible.builtin.import_tasks"]: t for t in main[1:]}
    assert set(areas) == {
        "uninstall.yml",
        "detector.yml",
        "sysctl.yml",
        "firewall.yml",
        "timers.yml",
        "notify.yml",
    }
    assert areas.pop("uninstall.yml")["when"] == "mail_bruteforce_guard_state == 'absent'"
    for file, task in areas.items():
        area = file.removesuffix(".yml")
        assert task["when"] == [
            "mail_bruteforce_guard_state == 'present'",
            f"mail_bruteforce_guard_{area}_enabled | bool",
        ]
        assert task["tags"] == [area]


def test_list_tasks_shows_every_area():
    """ansible-playbook --list-tasks names the tasks of every area under its tag (include_tasks hid them)."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    run = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "--list-tasks", "playbooks/site.yml"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    for task, tag in (
        ("Unpack the files that differ", "detector"),
        ("Write the sysctl hardening file", "sysctl"),
        ("Install the follow daemon's unit", "timers"),
        ("Install the alert delivery units", "notify"),
        ("Read the firewall status (backend, ban hook, other firewall tools)", "firewall"),
        ("Remove the units, the sysctl drop-in, the launcher, the library and the config", "uninstall"),
    ):
        line = next((line for line in run.stdout.splitlines() if f": {task}\t" in line), "")
        assert line.endswith(f"TAGS: [{tag}]"), f"{task} not listed under {tag}:\n{run.stdout}"


def test_os_variables_define_the_same_keys():
    debian = yaml.safe_load((ROLE / "vars" / "Debian.yml").read_text())
    redhat = yaml.safe_load((ROLE / "vars" / "RedHat.yml").read_text())
    assert set(debian) == set(redhat)
    assert "/var/log/mail.log" in debian["mail_bruteforce_guard__log_candidates"]
    assert "/var/log/maillog" in redhat["mail_bruteforce_guard__log_candidates"]
    for os_vars in (debian, redhat):
        assert os_vars["mail_bruteforce_guard__log_candidates"][0] == "/usr/local/psa/var/log/maillog"
