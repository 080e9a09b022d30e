#!/usr/bin/env python
"""Generate the role's variables from the detector's settings schema, and the variables table from the specs.

The detector settings (plugins/module_utils/schema.py: name, type, default, limits, choices, doc line) fill
the blocks between "# BEGIN generated" and "# END generated" of the role's defaults/main.yml and
meta/argument_specs.yml; docs/variables.md and README.md's table come from the whole argument_specs.yml.
The role-only variables (areas, sysctl, lockdown, timers) are written by hand outside the blocks.

Needs PyYAML: run it with the venv's python (`make setup`, then
`.venv/bin/python scripts/variables_table.py --write`).

scripts/variables_table.py            print the Markdown
scripts/variables_table.py --write    rewrite the generated blocks, docs/variables.md and README.md's table
scripts/variables_table.py --check    exit 1 when any of them is out of date
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))
from module_utils import schema  # noqa: E402  (the library by its path: no install needed)

SPECS = ROOT / "roles" / "mail_bruteforce_guard" / "meta" / "argument_specs.yml"
DEFAULTS = ROOT / "roles" / "mail_bruteforce_guard" / "defaults" / "main.yml"
BEGIN, FINISH = "# BEGIN generated", "# END generated"
_SPEC_ELEMENTS = {"port": "int", "dict": "dict"}
_SPEC_TYPES = {"int": "int", "number": "float", "bool": "bool", "str": "str", "path": "path", "list": "list"}
DOC = ROOT / "docs" / "variables.md"
README = ROOT / "README.md"
START, END = "<!-- variables:start -->", "<!-- variables:end -->"
PREFIX = "mail_bruteforce_guard_"


def _text(description: str | list[str]) -> str:
    """One Markdown cell from an argument_specs description (C() -> code, I() -> option name)."""
    text = " ".join(description) if isinstance(description, list) else str(description)
    # C(...) may hold one level of parentheses (C(foo(x))); the closing one of "(C(all))" is prose.
    text = re.sub(r"C\(([^()]*(?:\([^()]*\))?[^()]*)\)", r"`\1`", text)
    text = re.sub(r"I\(([^)]*)\)", lambda m: f"`{PREFIX}{m.group(1)}`", text)
    return " ".join(text.split()).replace("|", "\\|")


def _value(value: object) -> str:
    if isinstance(value, dict) and len(value) > 3:
        return f"{len(value)} keys, below"
    return "`" + json.dumps(value, separators=(", ", ": ")) + "`"


def _yaml_value(value: object) -> str:
    """A flow-style YAML value: scalars plain where YAML reads them back as the same string."""
    if isinstance(value, list):
        return "[" + ", ".join(_yaml_value(item) for item in value) + "]"
    if isinstance(value, str) and yaml.safe_load(value) == value and not value.startswith(("{", "[", "#")):
        return value
    return json.dumps(value)


def limits_text(setting: schema.Setting) -> str:
    """The limits sentence the schema adds to a setting's description."""
    if setting.kind in ("int", "number") and setting.minimum is not None:
        return f"From {setting.minimum} to {setting.maximum}."
    if setting.elements == "port":
        first = f"{setting.minimum} to {setting.maximum}" if setting.minimum else f"At most {setting.maximum}"
        return f"{first} ports, each 1-65535."
    return ""


def _wrap(text: str, indent: str, width: int = 118) -> list[str]:
    lines, line = [], indent
    for word in text.split():
        if len(line) + len(word) + 1 > width and line.strip():
            lines.append(line)
            line = indent
        line += ("" if line == indent else " ") + word
    return [*lines, line]


def defaults_block() -> list[str]:
    """defaults/main.yml's generated lines."""
    return [f"{s.var}: {_yaml_value(s.default_for_role)}" for s in schema.SETTINGS if s.role]


def specs_block() -> list[str]:
    """meta/argument_specs.yml's generated lines (options of argument_specs.main)."""
    out = []
    for setting in schema.SETTINGS:
        if not setting.role:
            continue
        out += [f"      {setting.var}:", f"        type: {_SPEC_TYPES[setting.kind]}"]
        if setting.kind == "list":
            out.append(f"        elements: {_SPEC_ELEMENTS.get(setting.elements, 'str')}")
        out.append(f"        default: {_yaml_value(setting.default_for_role)}")
        if setting.choices:
            out.append(f"        choices: {_yaml_value(list(setting.choices))}")
        text = " ".join(part for part in (setting.doc, limits_text(setting)) if part)
        out += ["        description: >-", *_wrap(text, " " * 10)]
    return out


def with_block(text: str, block: list[str]) -> str:
    """``text`` with the lines between its BEGIN and END markers replaced by ``block``."""
    lines = text.splitlines()
    try:
        first = next(i for i, line in enumerate(lines) if line.strip() == BEGIN)
        last = next(i for i, line in enumerate(lines) if line.strip() == FINISH)
    except StopIteration:
        raise KeyError(f"no {BEGIN} ... {FINISH} markers") from None
    return "\n".join([*lines[: first + 1], *block, *lines[last:]]) + "\n"


def render(specs: dict) -> str:
    """The whole docs/variables.md text."""
    options = specs["argument_specs"]["main"]["options"]
    lines = [
        "# Role variables",
        "",
        "<!-- Generated by scripts/variables_table.py from",
        "     roles/mail_bruteforce_guard/meta/argument_specs.yml; do not edit. -->",
        "",
        "Every variable of `mailsec.mail_bruteforce_guard.mail_bruteforce_guard`, its type and default.",
        "Bad values (a malformed CIDR, a negative count, an unknown mode, a port out of range) stop the play",
        "before any change on the host, naming the variable.",
        "",
        "| Variable | Type | Default | Description |",
        "|---|---|---|---|",
    ]
    for name, spec in options.items():
        kind = spec.get("type", "str")
        if spec.get("elements"):
            kind += f" of {spec['elements']}"
        description = _text(spec.get("description", ""))
        if spec.get("choices"):
            description += " Choices: " + ", ".join(f"`{c}`" for c in spec["choices"]) + "."
        if spec.get("options"):
            keys = ", ".join(
                f"`{key}` ({sub.get('type', 'str')}{', required' if sub.get('required') else ''})"
                for key, sub in spec["options"].items()
            )
            description += f" Keys: {keys}."
        lines.append(f"| `{name}` | {kind} | {_value(spec.get('default'))} | {description} |")
    for name, spec in options.items():
        default = spec.get("default")
        if isinstance(default, dict) and len(default) > 3:
            lines += ["", f"## `{name}` default", "", "| Key | Value |", "|---|---|"]
            lines += [f"| `{key}` | `{value}` |" for key, value in default.items()]
    return "\n".join(lines) + "\n"


def with_readme_table(readme: str, doc: str) -> str:
    """README text with the variables table between the START and END markers.

    Only the doc's first table: the tables of dict defaults that follow it keep their headings in the doc.
    """
    lines = doc.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next((i for i in range(first, len(lines)) if not lines[i].startswith("|")), len(lines))
    table = "\n".join(lines[first:end])
    head, sep, rest = readme.partition(START)
    _table, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise KeyError(f"README.md has no {START} ... {END} markers")
    return f"{head}{START}\n{table}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help=f"rewrite {DOC.relative_to(ROOT)}")
    group.add_argument("--check", action="store_true", help="exit 1 when the file is out of date")
    args = parser.parse_args(argv)
    try:
        defaults = with_block(DEFAULTS.read_text(), defaults_block())
        specs = with_block(SPECS.read_text(), specs_block())
        text = render(yaml.safe_load(specs))
        readme = with_readme_table(README.read_text(), text)
    except (OSError, yaml.YAMLError, KeyError) as err:
        print(f"variables_table: error: {err}", file=sys.stderr)
        return 2
    outputs = ((DEFAULTS, defaults), (SPECS, specs), (DOC, text), (README, readme))
    if args.write:
        for path, want in outputs:
            path.write_text(want)
    elif args.check:
        stale = [p for p, want in outputs if not p.exists() or p.read_text() != want]
        if stale:
            names = ", ".join(str(p.relative_to(ROOT)) for p in stale)
            print(f"variables_table: {names} out of date: run {__file__} --write", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
