"""docs/DESIGN.md's walk of one log line names the function at each step (``module.function``): every name it
gives must exist, so the walk cannot drift from the code unnoticed. Names are looked up in the source (ast):
the last dotted parts of a module's path under plugins/module_utils/ (or plugins/modules/), then a top-level
name, then a class's own attribute; or a top-level class or function known in exactly one module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DESIGN = ROOT / "docs" / "DESIGN.md"
NAME = re.compile(r"`([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)(?:\(\))?`")
FILES = (".json", ".py", ".yml", ".md", ".lock", ".gz", ".wake")


def _walk_text() -> str:
    text = DESIGN.read_text()
    start = text.index("## The walk of one log line")
    return text[start : text.index("\n## ", start + 1)]


def _modules() -> dict[str, dict[str, set[str]]]:
    """Dotted module name -> {top-level name: the names its class body defines (empty for others)}."""
    found = {}
    for base, prefix in ((ROOT / "plugins" / "module_utils", ""), (ROOT / "plugins" / "modules", "")):
        for path in base.rglob("*.py"):
            dotted = prefix + ".".join(path.relative_to(base).with_suffix("").parts)
            names: dict[str, set[str]] = {}
            for node in ast.parse(path.read_text()).body:
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    inner = set()
                    if isinstance(node, ast.ClassDef):
                        for item in node.body:
                            if isinstance(item, (ast.FunctionDef, ast.ClassDef)):
                                inner.add(item.name)
                            elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                                inner.add(item.target.id)
                            elif isinstance(item, ast.Assign):
                                inner |= {t.id for t in item.targets if isinstance(t, ast.Name)}
                    names[node.name] = inner
                elif isinstance(node, ast.Assign):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            names[target.id] = set()
            found[dotted] = names
    return found


def _resolves(parts: list[str], modules: dict) -> bool:
    for cut in range(len(parts) - 1, 0, -1):
        suffix = ".".join(parts[:cut])
        matches = [m for m in modules if m == suffix or m.endswith("." + suffix)]
        if len(matches) == 1:
            return _in(modules[matches[0]], parts[cut:])
    owners = [names for names in modules.values() if parts[0] in names]
    return len(owners) == 1 and _in(owners[0], parts)


def _in(names: dict, rest: list[str]) -> bool:
    if rest[0] not in names:
        return False
    return len(rest) == 1 or (len(rest) == 2 and rest[1] in names[rest[0]])


def test_every_function_the_walk_names_exists():
    modules = _modules()
    names = {m.group(1) for m in NAME.finditer(_walk_text()) if not m.group(1).endswith(FILES)}
    assert len(names) > 40, sorted(names)  # the walk really names its steps
    missing = sorted(name for name in names if not _resolves(name.split("."), modules))
    assert missing == [], f"docs/DESIGN.md's walk names what the code no longer has: {missing}"
