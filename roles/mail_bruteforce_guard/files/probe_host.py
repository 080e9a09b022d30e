"""Read in one round trip what the role decides on (tasks/validate.yml): nothing on the host is changed.

probe_host.py SPEC prints one JSON object; SPEC is base64 of a JSON object (shell-safe), every key optional:
  want      [[PATH, MODE, SHA1, ...], ...] files, [[PATH, MODE, null, ...], ...] directories, owned by root:
            "differ" lists the paths that are missing or not as wanted, in SPEC's order; "links" the wanted
            directories that are symbolic links (the unpack would write through them, out of our paths)
  read      [PATH, ...]: "read" maps each to {"mode": "0644", "uid": 0, "gid": 0, "sha1": HEX} (sha1 null
            for a directory), or null when it does not exist (what the controller can only compare afterwards)
  bytecode  a directory: "bytecode_missing" is true when one of its .py files has no __pycache__/*.pyc as new
  logs      candidate paths: "logs" lists those that exist, in SPEC's order
  units     systemd units: "units" maps each to its `systemctl is-active` word (inactive when not installed)
  calendar  a systemd calendar expression: "calendar_error" is systemd-analyze's complaint, or null
  packages  {"query": ARGV, "names": [...]}: ARGV + names prints "installed NAME" for each installed package;
            "packages_missing" lists the other names

Every task over a slow connection (podman exec, SSH) costs several round trips: this one replaces a stat, a
checksum and a command per thing read. Stdlib only; it runs on the Python Ansible uses on the host.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import stat
import subprocess
import sys
from pathlib import Path


def _read(path: str) -> dict | None:
    """{mode, uid, gid, sha1} of a regular file or a directory (sha1 None), else None."""
    try:
        info = Path(path).lstat()
    except OSError:
        return None
    if stat.S_ISDIR(info.st_mode):
        digest = None
    elif stat.S_ISREG(info.st_mode):
        digest = hashlib.sha1(Path(path).read_bytes()).hexdigest()
    else:
        return None
    mode = f"{stat.S_IMODE(info.st_mode):04o}"
    return {"mode": mode, "uid": info.st_uid, "gid": info.st_gid, "sha1": digest}


def _differs(path: str, mode: str, sha1: str | None) -> bool:
    return _read(path) != {"mode": mode, "uid": 0, "gid": 0, "sha1": sha1}


def _bytecode_missing(root: str) -> bool:
    """A module without bytecode at least as new as itself (any interpreter's: the role compiles with one)."""
    for source in Path(root).rglob("*.py"):
        cache = source.parent / "__pycache__"
        mtime = source.stat().st_mtime
        if not any(pyc.stat().st_mtime >= mtime for pyc in cache.glob(f"{source.stem}.*.pyc")):
            return True
    return False


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False)
    except OSError as exc:
        return subprocess.CompletedProcess(argv, 127, "", str(exc))


def probe(spec: dict) -> dict:
    result: dict = {"calendar_error": None}
    want = spec.get("want") or []
    result["differ"] = [path for path, mode, sha1, *_source in want if _differs(path, mode, sha1)]
    dirs = [path for path, _mode, sha1, *_source in want if sha1 is None]
    result["links"] = [path for path in dirs if Path(path).is_symlink()]
    result["read"] = {path: _read(path) for path in spec.get("read") or []}
    if spec.get("bytecode"):
        result["bytecode_missing"] = _bytecode_missing(spec["bytecode"])
    result["logs"] = [path for path in spec.get("logs") or [] if Path(path).exists()]
    units = list(spec.get("units") or [])
    if units:
        words = _run(["systemctl", "is-active", "--", *units]).stdout.split()
        result["units"] = dict(zip(units, words + ["unknown"] * (len(units) - len(words))))
    if spec.get("calendar"):
        run = _run(["systemd-analyze", "calendar", "--", spec["calendar"]])
        if run.returncode != 0:
            lines = (run.stderr or run.stdout).strip().splitlines()
            result["calendar_error"] = lines[-1] if lines else f"systemd-analyze exit {run.returncode}"
    packages = spec.get("packages") or {}
    if packages.get("names"):
        run = _run([*packages["query"], *packages["names"]])
        installed = set(re.findall(r"(?m)^installed (\S+)$", run.stdout))
        result["packages_missing"] = [name for name in packages["names"] if name not in installed]
    return result


def main(argv: list[str]) -> int:
    try:
        spec = json.loads(base64.b64decode(argv[0], validate=True))
    except (IndexError, ValueError) as exc:
        print(f"probe_host.py: base64 of a JSON object expected ({exc})", file=sys.stderr)
        return 2
    print(json.dumps(probe(spec), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
