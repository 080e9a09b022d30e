"""State directory: atomic saves (a full disk keeps the old state), corrupt files, the lock."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mail_bruteforce_guard.detector.state import StateDir, empty_state
from mail_bruteforce_guard.errors import LockedError, MbgError


def test_save_and_load_round_trip_with_mode_0700(tmp_path):
    d = tmp_path / "state"
    store = StateDir(str(d))
    state = empty_state()
    state["bans"]["192.0.2.1"] = {"until": 5.0, "reason": "x", "count": 1}
    store.save(state)
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    loaded = store.load()
    assert loaded["bans"] == state["bans"]
    assert [p for p in os.listdir(d) if p.endswith(".tmp")] == []


def test_missing_state_is_empty(tmp_path):
    assert StateDir(str(tmp_path)).load() == empty_state()


@pytest.mark.parametrize("content", [b"{not json", b"\x00\xff\xfe", b"[1, 2]", b"[" * 100000])
def test_corrupt_state_is_moved_aside_with_a_warning(tmp_path, content):
    (tmp_path / "state.json").write_bytes(content)
    warnings = []
    store = StateDir(str(tmp_path), warnings.append)
    assert store.load() == empty_state()
    assert len(warnings) == 1
    assert "corrupt" in warnings[0] and "\n" not in warnings[0]
    aside = [p for p in os.listdir(tmp_path) if p.startswith("state.json.corrupt-")]
    assert len(aside) == 1
    assert (tmp_path / aside[0]).read_bytes() == content
    assert not (tmp_path / "state.json").exists()


def test_read_only_load_does_not_move_corrupt_state(tmp_path):
    (tmp_path / "state.json").write_bytes(b"{")
    warnings = []
    assert StateDir(str(tmp_path), warnings.append).load(quarantine=False) == empty_state()
    assert (tmp_path / "state.json").exists()
    assert warnings


def test_lock_is_exclusive_across_processes(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys,time; from mail_bruteforce_guard.detector.state import StateDir;"
            "s=StateDir(sys.argv[1]).lock(); print('locked', flush=True); time.sleep(30)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockedError, match="another mail-bruteforce-guard run holds"):
            StateDir(str(tmp_path)).lock()
        with pytest.raises(LockedError):
            StateDir(str(tmp_path)).lock(wait=0.2)
    finally:
        holder.kill()
        holder.wait()
    with StateDir(str(tmp_path)).lock():  # released when the holder dies
        pass


def test_write_failure_keeps_previous_state(tmp_path):
    store = StateDir(str(tmp_path))
    store.save(dict(empty_state(), bans={"192.0.2.1": {"until": 1.0}}))
    before = (tmp_path / "state.json").read_bytes()
    bad = dict(empty_state(), bans={"x": object()})  # cannot be serialised
    with pytest.raises(TypeError):
        store.save(bad)
    assert (tmp_path / "state.json").read_bytes() == before


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare")
def test_full_disk_keeps_previous_state(tmp_path):
    """A real full file system: a 64 KiB tmpfs in a private mount namespace."""
    script = textwrap.dedent(
        """
        import json, os, sys
        from mail_bruteforce_guard.detector.state import StateDir, empty_state
        from mail_bruteforce_guard.errors import MbgError
        d = sys.argv[1]
        store = StateDir(d)
        store.save(dict(empty_state(), bans={"192.0.2.1": {"until": 1.0, "reason": "small"}}))
        before = open(os.path.join(d, "state.json"), "rb").read()
        huge = dict(empty_state(), bans={f"10.0.{i // 256}.{i % 256}": {"until": 1.0, "reason": "x" * 50}
                                         for i in range(5000)})
        try:
            store.save(huge)
        except MbgError as err:
            print("error:", err)
        after = open(os.path.join(d, "state.json"), "rb").read()
        print("same:", before == after)
        print("loaded:", list(store.load()["bans"]))
        print("leftovers:", [p for p in os.listdir(d) if p.endswith(".tmp")])
        """
    )
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    proc = subprocess.run(
        [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            f'mount -t tmpfs -o size=64k tmpfs "$1" && exec "{sys.executable}" -c "$2" "$1"',
            "sh",
            str(mnt),
            script,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert out[0].startswith("error: cannot save state to ")
    assert "No space left on device (the previous state is kept)" in out[0]
    assert out[1:] == ["same: True", "loaded: ['192.0.2.1']", "leftovers: []"]


def test_unwritable_state_dir_is_one_line_error(tmp_path):
    target = tmp_path / "file"
    target.write_text("")
    with pytest.raises(MbgError, match="cannot create state directory"):
        StateDir(str(target / "sub")).save(empty_state())


def test_saved_file_is_plain_json(tmp_path):
    StateDir(str(tmp_path)).save(empty_state())
    data = json.loads((tmp_path / "state.json").read_text())
    assert data["version"] == 1
    assert isinstance(data["saved_at"], float)


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=6),
        max_leaves=40,
    ),
    st.integers(1, 5),
)
def test_state_pieces_are_exactly_json_dumps(value, piece):
    """save() writes the state in pieces (large mappings a slice at a time): json.dumps's very text."""
    import mail_bruteforce_guard.detector.state as state_module

    old = state_module.PIECE_ENTRIES
    state_module.PIECE_ENTRIES = piece
    try:
        text = "".join(state_module.json_pieces({"a": value, "b": {"c": value}}))
    finally:
        state_module.PIECE_ENTRIES = old
    assert text == json.dumps({"a": value, "b": {"c": value}}, separators=(",", ":"), ensure_ascii=True)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-32"])
def test_a_state_file_json_can_decode_is_read_as_before(tmp_path, encoding):
    """load() decodes the file's text (not bytes and text at once); what json.loads of the bytes read (a
    byte order mark, UTF-16/32) still loads."""
    state = empty_state()
    state["bans"]["192.0.2.1"] = {"until": 5.0, "reason": "x \u00e9", "count": 1}
    (tmp_path / "state.json").write_bytes(json.dumps(state, ensure_ascii=False).encode(encoding))
    warnings = []
    loaded = StateDir(str(tmp_path), warnings.append).load()
    assert loaded["bans"] == state["bans"] and warnings == []
