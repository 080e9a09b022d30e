"""Incremental reading: offsets, rotation by rename and copytruncate, rotated files, garbage, journal."""

from __future__ import annotations

import gzip
import json
import os
import random
import resource
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from mail_bruteforce_guard.detector.logsource import (
    MAX_LINE,
    FileSource,
    JournalSource,
    journal_line,
    rotated_files,
)
from mail_bruteforce_guard.parser.stream import count_newlines
from mbg_detector_lines import journal_file


def read(path, position=None, **kw):
    warnings = []
    src = FileSource(str(path), position, warn=warnings.append, **kw)
    lines = list(src)
    return lines, src, warnings


def write(path, text, mode="a"):
    with open(path, mode + "b") as fh:
        fh.write(text.encode() if isinstance(text, str) else text)


def truncate(path):
    """What copytruncate does to the log after its copy: the same inode, emptied in place."""
    with open(path, "r+b") as fh:
        fh.truncate(0)


def copytruncate(path):
    """logrotate's copytruncate: the log copied to ``.1``, then emptied in place."""
    shutil.copy(path, str(path) + ".1")
    truncate(path)


def test_first_run_reads_all_then_only_new_lines(tmp_path):
    log = tmp_path / "mail.log"
    write(log, "one\ntwo\n")
    lines, src, _ = read(log)
    assert lines == [(1, "one"), (2, "two")]
    assert src.bytes == 8
    write(log, "three\n")
    lines, src2, _ = read(log, src.position)
    assert lines == [(3, "three")]
    assert src2.bytes == 6
    assert src2.position["offset"] == 14
    lines, src3, _ = read(log, src2.position)
    assert lines == []
    assert src3.bytes == 0


def test_partial_last_line_waits_for_its_newline(tmp_path):
    log = tmp_path / "mail.log"
    write(log, "one\ntw")
    lines, src, _ = read(log)
    assert lines == [(1, "one")]
    assert src.position["offset"] == 4
    write(log, "o\nthree")
    lines, src, _ = read(log, src.position)
    assert lines == [(2, "two")]


def test_rotation_by_rename_finishes_old_file_first(tmp_path):
    log = tmp_path / "mail.log"
    write(log, "a1\na2\n")
    _, src, _ = read(log)
    write(log, "a3\na4")  # the last line gets its newline... never: the daemon was restarted
    os.rename(log, str(log) + ".1")
    write(log, "b1\n")
    lines, src, warnings = read(log, src.position)
    assert [t for _, t in lines] == ["a3", "a4", "b1"]
    assert lines[0][0] == 3  # old file keeps its numbering
    assert lines[-1][0] == 1
    assert warnings == []
    lines, _, _ = read(log, src.position)
    assert lines == []


def test_rotation_with_old_file_gone_warns(tmp_path):
    log = tmp_path / "mail.log"
    write(log, "a1\n")
    _, src, _ = read(log)
    os.unlink(log)
    write(log, "b1\n")
    lines, _, warnings = read(log, src.position)
    assert [t for _, t in lines] == ["b1"]
    assert any("rotated" in w or "rewritten" in w for w in warnings)  # the inode may be reused


def test_copytruncate_finishes_the_copy_then_reads_from_start(tmp_path):
    log = tmp_path / "mail.log"
    write(log, "a1 long line here\na2 another long line\n")
    _, src, _ = read(log)
    write(log, "a3 written after our scan, before the copy\n")
    copytruncate(log)
    write(log, "b1\n")
    lines, src, warnings = read(log, src.position)
    assert lines == [(3, "a3 written after our scan, before the copy"), (1, "b1")]
    assert warnings == []
    lines, _, _ = read(log, src.position)
    assert lines == []


def test_copytruncate_without_copy_warns(tmp_path):
    log = tmp_path / "mail.log"
    write(log, "a1 long line here\na2 another long line\n")
    _, src, _ = read(log)
    truncate(log)
    write(log, "b1\n")
    lines, src, warnings = read(log, src.position)
    assert lines == [(1, "b1")]
    assert any("truncated" in w for w in warnings)


def test_copytruncate_regrown_past_offset_detected_by_head_hash(tmp_path):
    log = tmp_path / "mail.log"
    write(log, "Nov 26 08:00:00 a1\n")
    _, src, _ = read(log)
    truncate(log)
    write(log, "Nov 26 09:00:00 b1\nNov 26 09:00:01 b2\n")
    lines, _, warnings = read(log, src.position)
    assert [t for _, t in lines] == ["Nov 26 09:00:00 b1", "Nov 26 09:00:01 b2"]
    assert any("rewritten" in w for w in warnings)  # no copy next to it: nothing else to read


def test_rotated_and_gz_files_on_first_run_oldest_first_without_double_counting(tmp_path):
    log = tmp_path / "mail.log"
    with gzip.open(str(log) + ".3.gz", "wb") as fh:
        fh.write(b"g3\n")
    with gzip.open(str(log) + ".2.gz", "wb") as fh:
        fh.write(b"g2a\ng2b\n")
    write(str(log) + ".1", "r1\n")
    write(log, "c1\n")
    for age, name in enumerate([".1", ".2.gz", ".3.gz"]):
        t = 1_700_000_000 - age * 86400
        os.utime(str(log) + name, (t, t))
    assert [os.path.basename(p) for p in rotated_files(str(log))] == [
        "mail.log.3.gz",
        "mail.log.2.gz",
        "mail.log.1",
    ]
    lines, src, _ = read(log, rotated=True)
    assert [t for _, t in lines] == ["g3", "g2a", "g2b", "r1", "c1"]
    # without the option only the current file
    assert [t for _, t in read(log)[0]] == ["c1"]
    # next run: rotation happens; only the new material is read
    write(log, "c2\n")
    os.rename(str(log) + ".1", str(log) + ".2")
    os.rename(log, str(log) + ".1")
    write(log, "d1\n")
    lines, _, _ = read(log, src.position, rotated=True)
    assert [t for _, t in lines] == ["c2", "d1"]


def test_corrupt_gz_is_warned_and_skipped(tmp_path):
    log = tmp_path / "mail.log"
    write(str(log) + ".2.gz", b"\x1f\x8b\x08\x00garbage")
    write(log, "c1\n")
    lines, _, warnings = read(log, rotated=True)
    assert [t for _, t in lines] == ["c1"]
    assert any("mail.log.2.gz" in w for w in warnings)


def test_garbage_nul_invalid_utf8_and_long_line(tmp_path):
    log = tmp_path / "mail.log"
    big = b"x" * (10 * MAX_LINE)  # a 10 MB line
    write(log, b"a\x00b\n\xff\xfe bad utf8 \xc3\n" + big + b"\nafter\n")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    lines, src, _ = read(log)
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert lines[0] == (1, "a\x00b")
    assert lines[1] == (2, "\ufffd\ufffd bad utf8 \ufffd")
    assert lines[2] == (3, "")  # too long: skipped (its start alone could name any address), counted
    assert src.cut == 1
    assert lines[3] == (4, "after")
    assert src.position["offset"] == os.path.getsize(log)
    assert grown_kb < 8 * 1024  # never holds the whole 10 MB line


def test_long_line_split_across_reads_is_skipped_once(tmp_path):
    log = tmp_path / "mail.log"
    write(log, b"y" * (MAX_LINE + 10))  # no newline yet, already too long: skipped and counted now
    lines, src, _ = read(log)
    assert lines == [(1, "")]
    assert src.cut == 1
    assert src.position["offset"] == MAX_LINE + 10
    write(log, b"tail\nnext\n")
    lines, src, _ = read(log, src.position)
    assert lines == [(2, "next")]
    assert src.cut == 0  # counted once, by the read that found it too long


def test_an_over_long_line_still_being_written_is_never_read_again(tmp_path):
    """Each write to the end of an over-long line used to read the whole line again (a line that never ends
    was read again on every write: megabytes per write). It is skipped once, counted once, and only the new
    bytes are read after that, wherever its newline falls."""
    log = tmp_path / "mail.log"
    write(log, b"before\n" + b"z" * (MAX_LINE + 1))
    lines, src, _ = read(log)
    assert lines == [(1, "before"), (2, "")]
    assert src.cut == 1
    position = src.position
    for _write in range(5):
        write(log, b"z" * 1000)
        lines, src, _ = read(log, position)
        assert (lines, src.cut, src.bytes) == ([], 0, 1000)  # only what was added: never its start again
        position = src.position
    write(log, b"z" * 10 + b"\nafter\n")
    lines, src, _ = read(log, position)
    assert (lines, src.cut, src.bytes) == ([(3, "after")], 0, 17)
    assert "skip" not in src.position


def test_an_over_long_line_renamed_away_is_finished_without_reading_it_again(tmp_path):
    log = tmp_path / "mail.log"
    write(log, b"w" * (MAX_LINE + 1))
    _, src, _ = read(log)
    write(log, b"w" * 100 + b"\nold end\n")
    os.rename(log, str(log) + ".1")
    write(log, "new\n")
    lines, src, _ = read(log, src.position)
    assert lines == [(2, "old end"), (1, "new")]
    assert src.cut == 0


def test_copytruncate_of_a_file_that_was_empty_keeps_the_copied_lines(tmp_path):
    """An empty file (offset 0: no first line to hash) copied and truncated after lines were written: the
    size is no smaller than before and there is no head to compare, so the lines in the copy were lost."""
    log = tmp_path / "mail.log"
    write(log, "")
    _, src, _ = read(log)
    write(log, "a1 in the copy only\na2 in the copy only\n")
    copytruncate(log)
    write(log, "b1 after the truncation, longer than before\n")
    lines, src, warnings = read(log, src.position)
    assert [t for _, t in lines] == [
        "a1 in the copy only",
        "a2 in the copy only",
        "b1 after the truncation, longer than before",
    ]
    assert warnings == []
    assert read(log, src.position)[0] == []
    # the next copytruncate while the file is empty again (the copy already read is not read again)
    truncate(log)
    _, src, _ = read(log, src.position)
    write(log, "c1 second copy\n")
    os.rename(str(log) + ".1", str(log) + ".2")
    copytruncate(log)
    write(log, "d1\n")
    lines, src, _ = read(log, src.position)
    assert [t for _, t in lines] == ["c1 second copy", "d1"]
    assert read(log, src.position)[0] == []


def test_copy_made_but_file_not_truncated_yet_is_read_once(tmp_path):
    log = tmp_path / "mail.log"
    write(log, "")
    _, src, _ = read(log)
    write(log, "a1\na2\n")
    shutil.copy(log, str(log) + ".1")  # logrotate's copy; the truncation comes a moment later
    lines, src, _ = read(log, src.position)
    assert [t for _, t in lines] == ["a1", "a2"]
    truncate(log)
    write(log, "b1\n")
    lines, src, _ = read(log, src.position)
    assert [t for _, t in lines] == ["b1"]


def test_rotated_sibling_compressed_later_is_no_copytruncate(tmp_path):
    """logrotate create + compress (no delaycompress): the new, empty log is looked at before ``.1`` is
    gzipped. The new ``.1.gz`` (another inode, size, mtime) is the same rotated file, not a copy: read again,
    its failures were counted twice (a false ban from 3 failures, found by a hostile review)."""
    log = tmp_path / "mail.log"
    write(log, "".join(f"old {i}\n" for i in range(10)))
    lines, src, _ = read(log)
    assert len(lines) == 10
    os.rename(log, str(log) + ".1")
    write(log, "")
    lines, src, _ = read(log, src.position)
    assert lines == []
    subprocess.run(["gzip", str(log) + ".1"], check=True)
    assert read(log, src.position)[0] == []
    with open(str(log) + ".1.gz", "ab") as fh:  # and a syslog daemon's last line, appended before its HUP
        fh.write(gzip.compress(b"late line\n"))
    assert read(log, src.position)[0] == []


def test_late_line_appended_to_the_rotated_file_is_no_copytruncate(tmp_path):
    log = tmp_path / "mail.log"
    write(log, "".join(f"old {i}\n" for i in range(10)))
    _, src, _ = read(log)
    os.rename(log, str(log) + ".1")
    write(log, "")
    _, src, _ = read(log, src.position)
    with open(str(log) + ".1", "a") as fh:
        fh.write("late line\n")
    assert [t for _, t in read(log, src.position)[0]] == []


def test_copytruncate_refilled_with_the_copys_first_line_keeps_the_copy(tmp_path):
    """The truncated log starts again with a line byte-identical to the copy's first one (one smtpd pid
    repeating a failure within a second): the copy is still told from the log by its end, not its head."""
    log = tmp_path / "mail.log"
    write(log, "")
    _, src, _ = read(log)
    same = "Dec  6 10:00:00 mx postfix/smtpd[7]: warning: x[192.0.2.7]: SASL LOGIN authentication failed\n"
    write(log, same * 5)
    copytruncate(log)
    write(log, same * 3)
    lines, src, _ = read(log, src.position)
    assert len(lines) == 8
    assert read(log, src.position)[0] == []


def test_missing_and_unreadable_logs_warn(tmp_path):
    lines, src, warnings = read(tmp_path / "nope.log")
    assert lines == []
    assert not src.ok
    assert "does not exist" in warnings[0]
    lines, src, warnings = read(tmp_path)  # a directory
    assert lines == []
    assert warnings


def test_unopenable_log_warns(tmp_path):
    loop = tmp_path / "loop.log"
    os.symlink(loop, loop)  # ELOOP: any OSError other than "missing" is a warning, not a crash
    lines, src, warnings = read(loop)
    assert lines == []
    assert not src.ok
    assert warnings[0].startswith(f"cannot read log {loop}: ")


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/usr/bin/python3"), reason="needs root")
def test_unreadable_log_warns_for_unprivileged_user():
    import tempfile

    top = tempfile.mkdtemp(prefix="mbg-perm-")
    try:
        os.chmod(top, 0o755)
        os.symlink(
            os.path.abspath(os.path.join(os.path.dirname(__file__), "../../../plugins/module_utils")),
            os.path.join(top, "mail_bruteforce_guard"),
        )
        log = os.path.join(top, "mail.log")
        write(log, "a\n")
        os.chmod(log, 0o600)
        code = (
            "import os,sys; os.setgid(65534); os.setuid(65534); sys.path.insert(0, sys.argv[2]);"
            "from mail_bruteforce_guard.detector.logsource import FileSource;"
            "w=[]; print(list(FileSource(sys.argv[1], warn=w.append)), w)"
        )
        out = subprocess.run(
            ["/usr/bin/python3", "-c", code, log, top], capture_output=True, text=True, check=True
        ).stdout
        assert out.strip() == f"[] ['cannot read log {log}: Permission denied']"
    finally:
        shutil.rmtree(top)


def test_journal_line_from_json_fields():
    entry = {
        "__REALTIME_TIMESTAMP": "1795000000123456",
        "_HOSTNAME": "mx1",
        "SYSLOG_IDENTIFIER": "postfix/submission/smtpd",
        "_PID": "588",
        "MESSAGE": "warning: unknown[10.89.0.3]: SASL LOGIN authentication failed: x",
    }
    assert journal_line(entry) == (
        "2026-11-18T11:06:40.123456+00:00 mx1 postfix/submission/smtpd[588]: "
        "warning: unknown[10.89.0.3]: SASL LOGIN authentication failed: x"
    )
    entry["MESSAGE"] = list(b"bad \xff byte")
    assert journal_line(entry).endswith(": bad \ufffd byte")
    assert journal_line({"MESSAGE": "x"}) is None


def test_journal_source_reads_after_saved_cursor(tmp_path):
    journal = journal_file(
        tmp_path,
        [
            ("postfix/smtpd", 10, 2, "warning: unknown[192.0.2.1]: SASL LOGIN authentication failed: x"),
            ("sshd", 11, 4, "Failed password for root from 192.0.2.9"),
            ("dovecot", 12, 2, "imap-login: Login: user=<a@b>, rip=192.0.2.2"),
        ],
    )
    src = JournalSource(None, command=["journalctl", f"--file={journal}"])
    lines = list(src)
    assert [n for n, _ in lines] == [1, 2]
    assert "postfix/smtpd[10]: warning: unknown[192.0.2.1]" in lines[0][1]
    assert "dovecot[12]: imap-login: Login" in lines[1][1]
    assert src.ok and src.position["cursor"]
    again = JournalSource(src.position, command=["journalctl", f"--file={journal}"])
    assert list(again) == []
    assert again.position == src.position
    assert json.loads(json.dumps(again.position)) == src.position


def test_journal_missing_command_warns():
    warnings = []
    src = JournalSource(None, command=["/nonexistent/journalctl"], warn=warnings.append)
    assert list(src) == []
    assert not src.ok
    assert "cannot run" in warnings[0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pieces=st.lists(st.binary(max_size=300).map(lambda b: b.replace(b"\r", b"")), min_size=1, max_size=12),
    rotate_at=st.integers(min_value=-1, max_value=11),
)
def test_incremental_reading_never_loses_or_repeats_a_line(tmp_path_factory, pieces, rotate_at):
    """Whatever the appends (partial lines, NUL, invalid UTF-8) and a rename rotation at any point,
    the lines read over many runs are exactly the complete lines written."""
    d = tmp_path_factory.mktemp("fuzz")
    log = d / "mail.log"
    log.write_bytes(b"")
    position = None
    got = []
    written = b""
    for i, piece in enumerate(pieces):
        if i == rotate_at:
            os.rename(log, str(log) + ".1")
            if not written.endswith(b"\n") and written:
                written += b"\n"  # the old file's partial last line is read as a line once rotated
            log.write_bytes(b"")
        with open(log, "ab") as fh:
            fh.write(piece)
        written += piece
        src = FileSource(str(log), position)
        got += [text for _, text in src]
        position = src.position
    complete = written[: written.rfind(b"\n") + 1] if b"\n" in written else b""
    expected = [line.decode("utf-8", "replace") for line in complete.split(b"\n")[:-1]]
    assert got == expected


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(0, 300_000),
    st.integers(-10, 300_010),
    st.integers(-10, 300_010),
    st.sampled_from([0.0, 0.01, 0.5]),
)
@example(1, 300_000, 0, 299_000, 0.01)  # large spans: the replace path, with and without edges
@example(2, 300_000, 70_000, 300_000, 0.5)
@example(3, 200_000, 1, 200_000, 0.0)
@example(4, 131_072, -5, 131_073, 0.01)  # out of range: bytes.count semantics
def test_count_newlines_is_bytes_count(seed: int, size: int, start: int, end: int, density: float) -> None:
    """The replace-based count gives exactly ``bytes.count`` for any span, large or small, in or out of
    range (the edges of the object are taken off)."""
    rng = random.Random(seed)
    raw = bytearray(rng.randbytes(size))
    for at in rng.sample(range(size), int(size * density)):
        raw[at] = 10
    data = bytes(raw)
    assert count_newlines(data, start, end) == data.count(b"\n", start, end)
    assert count_newlines(data) == data.count(b"\n")
    assert count_newlines(data, max(start, 0)) == data.count(b"\n", max(start, 0))


def test_count_newlines_of_a_block_span() -> None:
    """A block as _iter_batches makes it: after the first newline, up to (not including) the last one."""
    data = (
        b"tail of a carried line\n"
        + b"".join(b"Nov 26 08:08:18 mx line %d\n" % i for i in range(9000))
        + b"part"
    )
    start, end = data.find(b"\n") + 1, data.rfind(b"\n")
    assert end - start >= 1 << 16
    assert count_newlines(data, start, end) == data.count(b"\n", start, end) == 8999
