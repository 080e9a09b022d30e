"""The role's probe (files/probe_host.py) and packer (files/pack_library.py): what differs is found, packed.

The detector area installs only what the probe names (tasks/detector.yml): a probe that missed a difference
would leave a host unconverged, one that saw differences everywhere would cost the round trips it saves.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

FILES = Path(__file__).resolve().parents[2] / "roles" / "mail_bruteforce_guard" / "files"
ROOT_OWNED = os.geteuid() == 0  # the probe wants root-owned files: what the role installs


def _b64(obj) -> str:
    return base64.b64encode(json.dumps(obj).encode()).decode()


def probe(spec: dict) -> dict:
    run = subprocess.run(
        [sys.executable, str(FILES / "probe_host.py"), _b64(spec)], capture_output=True, text=True, check=True
    )
    return json.loads(run.stdout)


def pack(members: list, content: dict | None = None) -> Path:
    run = subprocess.run(
        [
            sys.executable,
            str(FILES / "pack_library.py"),
            _b64({"members": members, "content": content or {}}),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(run.stdout.strip())


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


@pytest.mark.skipif(not ROOT_OWNED, reason="the probe compares with root-owned files (the tests run as root)")
def test_pack_what_differs_unpack_it_and_the_probe_sees_nothing_left(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text("A = 1\n")
    (src / "b.py").write_text("B = 2\n")
    host = tmp_path / "host"
    lib, etc, launcher = f"{host}/lib", f"{host}/etc", f"{host}/sbin/launcher"
    want = [
        [etc, "0755", None, None],
        [launcher, "0755", sha1(b"#!/bin/sh\n"), None],
        [f"{lib}/a.py", "0644", sha1(b"A = 1\n"), str(src / "a.py")],
        [f"{lib}/b.py", "0644", sha1(b"B = 2\n"), str(src / "b.py")],
    ]
    assert probe({"want": want})["differ"] == [w[0] for w in want]  # a new host: everything

    archive = pack(want, {launcher: "#!/bin/sh\n"})
    try:
        with tarfile.open(archive) as tar:
            members = {m.name: m for m in tar.getmembers()}
            assert {m.uid for m in members.values()} == {0}
            assert oct(members[launcher.lstrip("/")].mode) == "0o755"
            assert members[etc.lstrip("/")].isdir()
            tar.extractall("/")  # our own archive of paths under tmp_path
    finally:
        archive.unlink()
    assert probe({"want": want})["differ"] == []

    # A local edit, a mode drift, a missing directory: exactly those.
    with Path(f"{lib}/b.py").open("a") as handle:
        handle.write("# local edit\n")
    Path(launcher).chmod(0o700)
    Path(etc).rmdir()
    assert probe({"want": want})["differ"] == [etc, launcher, f"{lib}/b.py"]


def test_read_bytecode_logs_and_packages(tmp_path):
    (tmp_path / "pkg").mkdir()
    module = tmp_path / "pkg" / "m.py"
    module.write_text("X = 1\n")
    log = tmp_path / "mail.log"
    log.write_text("")
    query = ["sh", "-c", 'for p; do [ "$p" = ipset ] || echo "installed $p"; done', "sh"]
    spec = {
        "read": [str(module), str(tmp_path / "missing")],
        "bytecode": str(tmp_path / "pkg"),
        "logs": [str(tmp_path / "plesk.log"), str(log)],
        "packages": {"query": query, "names": ["python3", "ipset", "iptables"]},
    }
    found = probe(spec)
    assert found["read"][str(module)]["sha1"] == sha1(b"X = 1\n")
    assert found["read"][str(module)]["mode"] == f"{module.stat().st_mode & 0o7777:04o}"
    assert found["read"][str(tmp_path / "missing")] is None
    assert found["bytecode_missing"] is True
    assert found["logs"] == [str(log)]
    assert found["packages_missing"] == ["ipset"]
    assert found["calendar_error"] is None

    subprocess.run([sys.executable, "-m", "compileall", "-q", str(tmp_path / "pkg")], check=True)
    assert probe(spec)["bytecode_missing"] is False


def test_a_bad_spec_is_one_line_and_exit_2():
    run = subprocess.run(
        [sys.executable, str(FILES / "probe_host.py"), "not base64!"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "base64 of a JSON object expected" in run.stderr


def test_a_directory_of_ours_replaced_by_a_symbolic_link_is_named(tmp_path):
    """A symlink at one of our directories: the unpack would write through it (out of our paths) and tar's
    "already there" would keep it, so the probe names it and validate.yml refuses to go on (hostile
    review)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    lib = tmp_path / "lib"
    lib.mkdir(mode=0o755)
    (lib / "parser").symlink_to(outside)
    got = probe(
        {
            "want": [
                [str(lib), "0755", None, None],
                [str(lib / "parser"), "0755", None, None],
                [str(lib / "parser" / "gate.py"), "0644", sha1(b""), None],
            ]
        }
    )
    assert got["links"] == [str(lib / "parser")]
    assert str(lib / "parser") in got["differ"]


def test_the_role_owns_the_mode_of_every_library_directory():
    """The library's directories are detector files of their own (0755, root): a 0777 directory, where any
    local user could swap a module root imports, is put back, as the files are."""
    text = (FILES.parent / "vars" / "main.yml").read_text()
    assert "mail_bruteforce_guard__library_dirs" in text
    block = text[text.index("mail_bruteforce_guard__detector_files:") :]
    assert "mail_bruteforce_guard__library_dirs\n" in block.split("mail_bruteforce_guard__launcher_text")[0]
