"""Shared facts for the default scenario's testinfra tests: the converge variables and the role defaults."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml

SCENARIO = Path(__file__).resolve().parents[1]
PROJECT = SCENARIO.parents[1]
sys.path.insert(0, str(PROJECT / "molecule" / "shared"))  # scenario_run: what every scenario's tests share
ROLE = PROJECT / "roles" / "mail_bruteforce_guard"
PREFIX = "mail_bruteforce_guard_"


def role_vars() -> dict:
    """The role defaults overlaid with the scenario's vars.yml (what converge.yml ran the role with)."""
    merged = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    merged.update(yaml.safe_load((SCENARIO / "vars.yml").read_text()))
    return merged


def design_config_keys() -> set[str]:
    """The keys of the config file example in docs/DESIGN.md: the contract the role renders."""
    text = (PROJECT / "docs" / "DESIGN.md").read_text()
    section = text[text.index("## Config file") :]
    block = re.search(r"```json\n(.*?)```", section, re.S).group(1)
    return set(json.loads(block))


def effective_sysctl(variables: dict) -> dict[str, str]:
    """The sysctl baseline merged with the overrides, null overrides removed, values as text."""
    merged = {**variables[PREFIX + "sysctl"], **variables[PREFIX + "sysctl_overrides"]}
    return {key: str(value) for key, value in merged.items() if value is not None}


@pytest.fixture(scope="session")
def variables() -> dict:
    return role_vars()
