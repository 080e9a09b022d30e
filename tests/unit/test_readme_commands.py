"""Every command README.md shows is run or checked: a README telling users something that does not work fails.

The console blocks are read line by line (`$ ` commands, `\\` continuations, trailing `# comments` dropped)
and each command is handled by the rule for its program, in a temporary user project where the collection is
installed from the tarball the build makes (nothing of the checkout on the collections path):

- ansible-galaxy, ansible-doc: run as shown (the git URL is pointed at this repository's own clone);
- ansible-playbook: the same command with --syntax-check (the README's hosts are not reachable), after
  ansible-inventory proved the README's inventory parses into mail_servers;
- mail-bruteforce-guard: the detector's own argument parser accepts it (it changes a host's firewall);
- make: the target exists (`make -n`).

The YAML blocks whose first line names a file (`# requirements.yml`) are written to that file; the playbook
block is syntax-checked as a playbook of the user project.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mail_bruteforce_guard.detector.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
BIN = Path(sys.executable).parent  # the venv that runs the tests has ansible


def blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README, flags=re.S | re.M)


def commands() -> list[str]:
    """The `$ ` commands of the console blocks, continuations joined, comments dropped, in order, once."""
    found: list[str] = []
    for block in blocks("console"):
        text = re.sub(r"\\\n\s*", " ", block)
        for line in text.splitlines():
            if line.startswith("$ "):
                command = re.sub(r"\s+#.*$", "", line[2:]).strip()
                if command not in found:
                    found.append(command)
    return found


def named_files() -> dict[str, str]:
    """YAML blocks whose first line is `# NAME.yml`: NAME.yml -> text."""
    files = {}
    for block in blocks("yaml"):
        first = block.splitlines()[0]
        if re.fullmatch(r"# [\w.-]+\.ya?ml", first):
            files[first[2:]] = block
    return files


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, f"{shlex.join(argv)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """An empty user project: the README's files, the tarball it names, ansible's paths inside the project."""
    path = tmp_path_factory.mktemp("project")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(path / "collections"),
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
        ANSIBLE_CONFIG=str(path / "ansible.cfg"),
        ANSIBLE_LOCAL_TEMP=str(path / ".tmp"),
        HOME=str(path),
        PATH=f"{BIN}:{env['PATH']}",
    )
    (path / "ansible.cfg").write_text("[defaults]\n")
    build = [str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(path), str(ROOT)]
    run(build, path, env)
    for name, text in named_files().items():
        (path / name).write_text(text)
    return path, env


def test_the_readme_shows_the_commands_this_test_knows():
    programs = {command.split()[0] for command in commands()}
    assert programs <= {"ansible-galaxy", "ansible-doc", "ansible-playbook", "mail-bruteforce-guard", "make"}
    assert {"requirements.yml", "inventory.yml"} <= set(named_files())


def test_requirements_name_the_tarball_the_build_makes(project):
    path, _env = project
    requirements = yaml.safe_load((path / "requirements.yml").read_text())
    sources = [c["source"] for c in requirements["collections"] if c.get("type") == "file"]
    assert sources, "requirements.yml shows no tarball"
    assert all((path / source).is_file() for source in sources), sorted(p.name for p in path.iterdir())


def test_install_commands_and_the_git_variant(project):
    path, env = project
    for command in commands():
        argv = shlex.split(command)
        if argv[0] in ("ansible-galaxy", "ansible-doc"):
            run(argv, path, env)
    # The commented git source of requirements.yml, pointed at this repository (its committed HEAD).
    git = re.search(r"#\s*- name: (git\+https://\S+),(\S+)", (path / "requirements.yml").read_text())
    assert git, "requirements.yml shows no git source"
    clone = path / "clone.yml"
    clone.write_text(yaml.safe_dump({"collections": [{"name": f"git+file://{ROOT},HEAD", "type": "git"}]}))
    run(["ansible-galaxy", "collection", "install", "--force", "-r", str(clone)], path, env)
    listed = run(["ansible-galaxy", "collection", "list", "mailsec.mail_bruteforce_guard"], path, env).stdout
    assert str(path / "collections") in listed and str(ROOT) not in listed


def test_playbook_commands_and_the_role_example(project):
    path, env = project
    if not (path / "collections/ansible_collections/mailsec/mail_bruteforce_guard").is_dir():
        run(["ansible-galaxy", "collection", "install", "-r", "requirements.yml"], path, env)
    inventory = run(["ansible-inventory", "-i", "inventory.yml", "--graph", "mail_servers"], path, env).stdout
    assert "mail1.example.com" in inventory
    for command in commands():
        argv = shlex.split(command)
        if argv[0] == "ansible-playbook":
            run([*argv, "--syntax-check"], path, env)
    role_example = next(b for b in blocks("yaml") if "roles:" in b)
    (path / "playbook.yml").write_text(role_example)
    run(["ansible-playbook", "-i", "inventory.yml", "playbook.yml", "--syntax-check"], path, env)


def test_detector_commands_parse():
    parser = build_parser()
    shown = [shlex.split(c)[1:] for c in commands() if c.startswith("mail-bruteforce-guard ")]
    assert shown
    for argv in shown:
        parser.parse_args(argv)  # a ConfigError (exit 2 in the program) fails the test


def test_make_targets_exist():
    shown = [shlex.split(c) for c in commands() if c.startswith("make ")]
    assert shown
    for argv in shown:
        run(["make", "-n", "-C", str(ROOT), *argv[1:]], ROOT, dict(os.environ))
