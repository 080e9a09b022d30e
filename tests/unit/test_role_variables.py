"""The role's variables agree everywhere: defaults, argument specs, the docs table, the config contract."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "mail_bruteforce_guard"
PREFIX = "mail_bruteforce_guard_"


def _yaml(path: Path):
    return yaml.safe_load(path.read_text())


def _defaults() -> dict:
    return _yaml(ROLE / "defaults" / "main.yml")


def _options() -> dict:
    return _yaml(ROLE / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]


def test_every_default_is_specified_with_the_same_value():
    defaults, options = _defaults(), _options()
    assert list(defaults) == list(options), "defaults/main.yml and argument_specs list different variables"
    for name, spec in options.items():
        assert spec["default"] == defaults[name], name
        assert spec.get("description"), f"{name} has no description"
        if spec.get("choices"):
            assert defaults[name] in spec["choices"], name


def test_every_variable_is_prefixed():
    for name in [*_defaults(), *_options()]:
        assert name.startswith(PREFIX) and not name.startswith(PREFIX + "_"), name
    for path in (ROLE / "vars").glob("*.yml"):
        for name in _yaml(path):
            assert name.startswith(PREFIX + "_"), (
                f"{path.name}: {name} is internal and needs a double underscore"
            )


# The playbooks' own variables (playbooks/*.yml, each listed in its header), prefixed like the role's but not
# role variables; mail_bruteforce_guard_state_dir is both (the playbooks read the state the role configured).
PLAYBOOK_VARIABLES = {
    f"{PREFIX}{name}"
    for name in (
        "hosts",
        "become",
        "config",
        "report_dir",
        "report_min_hosts",
        "share_min_hosts",
        "share_bantime",
        "unban",
        "unban_reset",
    )
}


def test_every_public_variable_used_is_defined():
    """A typo in a task or template (mail_bruteforce_guard_maxretr) would silently be undefined."""
    defaults = set(_defaults())
    assert not PLAYBOOK_VARIABLES & defaults
    files = [*ROLE.rglob("*.yml"), *ROLE.rglob("*.j2"), *(ROOT / "playbooks").glob("*.yml")]
    used = set()
    for path in files:
        used |= set(re.findall(r"\b(mail_bruteforce_guard_[a-z0-9][a-z0-9_]*)", path.read_text()))
    assert used - defaults - PLAYBOOK_VARIABLES == set()
    assert defaults - used == set(), "variables nobody reads"


def test_every_playbook_variable_is_listed_in_the_header_of_a_playbook_that_reads_it():
    for path in (ROOT / "playbooks").glob("*.yml"):
        text = path.read_text()
        header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
        body = "".join(line for line in text.splitlines(keepends=True) if not line.startswith("#"))
        for name in PLAYBOOK_VARIABLES:
            if re.search(rf"\b{name}\b", body):
                assert re.search(rf"\b{name}\b", header), f"{path.name}: {name} is not in its header"


def test_config_keys_follow_the_design_contract():
    """vars/main.yml renders exactly the keys of docs/DESIGN.md's config example, each from its variable."""
    design = (ROOT / "docs" / "DESIGN.md").read_text()
    section = design[design.index("## Config file") :]
    keys = json.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))
    config = _yaml(ROLE / "vars" / "main.yml")["mail_bruteforce_guard__config"]
    assert set(config) == set(keys)
    derived = {"logs": "_logs", "journal": "_journal", "protected": "_protected"}  # detected on the host
    for key, template in config.items():
        assert f"{PREFIX}{derived.get(key, key)}" in template, key
        assert key in derived or f"{PREFIX}{key}" in _defaults(), key


def test_docs_table_is_generated_from_the_specs():
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "variables_table.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    table = (ROOT / "docs" / "variables.md").read_text()
    for name in _options():
        assert f"| `{name}` |" in table
