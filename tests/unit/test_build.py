"""The collection tarball holds what a user needs and nothing of the developers'; the minimum ansible-core is
stated once in spirit: every place that states it says the same version."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = {"README.md", "LICENSE", "CHANGELOG.md", "MANIFEST.json", "FILES.json", "docs", "meta", "plugins",
           "roles", "playbooks", "inventories"}  # fmt: skip


def test_the_tarball_ships_only_what_a_user_needs(tmp_path):
    galaxy = Path(sys.executable).parent / "ansible-galaxy"
    subprocess.run([str(galaxy), "collection", "build", "--output-path", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)  # fmt: skip
    with tarfile.open(next(tmp_path.glob("*.tar.gz"))) as tar:
        names = tar.getnames()
    assert {name.split("/")[0] for name in names} == SHIPPED
    assert not [n for n in names if n.startswith("inventories/") and not n.startswith("inventories/example")]
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".egg-info"))]
    tracked = subprocess.run(["git", "ls-files", "plugins", "roles", "playbooks", "meta"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert set(tracked) <= set(names), "a file the collection needs is left out of the tarball"


def test_one_minimum_ansible_core():
    runtime = yaml.safe_load((ROOT / "meta/runtime.yml").read_text())["requires_ansible"]
    role = yaml.safe_load((ROOT / "roles/mail_bruteforce_guard/meta/main.yml").read_text())
    pinned = re.search(r"^ansible-core==(\S+)$", (ROOT / "requirements-min.txt").read_text(), re.M)[1]
    readme = set(re.findall(r"ansible-core >= (\d+\.\d+\.\d+)", (ROOT / "README.md").read_text()))
    assert runtime == f">={pinned}"
    assert role["galaxy_info"]["min_ansible_version"] == pinned
    assert readme == {pinned}


def test_role_meta_lists_only_converged_platforms():
    """Platforms a molecule scenario converges: the images of molecule/default (Debian 11, 12, 13)."""
    role = yaml.safe_load((ROOT / "roles/mail_bruteforce_guard/meta/main.yml").read_text())
    scenario = yaml.safe_load((ROOT / "molecule/default/molecule.yml").read_text())
    tested = {p["image"].rsplit(":", 1)[1] for p in scenario["platforms"]}
    codenames = {"11": "bullseye", "12": "bookworm", "13": "trixie"}
    platforms = role["galaxy_info"]["platforms"]
    assert [p["name"] for p in platforms] == ["Debian"]
    assert set(platforms[0]["versions"]) == {codenames[v] for v in tested}
