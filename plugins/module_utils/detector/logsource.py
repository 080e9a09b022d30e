"""Incremental log reading: files (rotation by rename and copytruncate, rotated files on first run) and
systemd's journal (``journalctl -o json`` from a saved cursor).

Every source yields ``(line_number, text)`` (or, faster, ``batches()`` of lines: lists, or ``Block``s of
raw bytes); its ``position`` (a JSON-ready dict) is valid once the iteration has ended and is what the next
run resumes from.
Bytes are decoded with ``errors="replace"``; a line longer than ``MAX_LINE`` bytes is read as an empty line
and counted in ``cut`` (its start alone could name any address: Dovecot's real ``rip=`` comes last, after
the client's username), and a last line without its newline is left for the next run (except in rotated
files, which no longer grow).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import zlib
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ..parser.lines import claimed_daemon
from ..parser.stream import count_newlines
from .journaltrust import JournalTrust
from .statecheck import copy_ok

MAX_LINE = 1 << 20  # longest line parsed; a longer one is skipped (counted in ``cut``)
CHUNK = 1 << 20  # read size: never more than MAX_LINE, so a line inside one chunk is never too long
HEAD_BYTES = 4096  # at most this much of the first line identifies a file

Warn = Callable[[str], None]
_ROTATED = re.compile(r"(?:\.(\d+)|-(\d{8,10}))(\.gz)?\Z")


def _no_warn(_msg: str) -> None:
    return None


class _Counter:
    """Bytes and lines consumed from one open file (``cut``: lines skipped for being too long)."""

    __slots__ = ("bytes", "cut", "lines", "more", "offset", "skipping")

    def __init__(self, offset: int, skipping: bool = False) -> None:
        self.offset = offset
        self.bytes = 0
        self.lines = 0
        self.cut = 0
        # inside an over-long line already counted in ``cut``: its rest, up to its newline, is passed over
        self.skipping = skipping
        self.more = False  # stopped at its byte budget before the end of the file


class Block:
    """Complete lines of a file as raw bytes, newlines between them and none after the last.

    It stands for a batch of lines: ``len`` is the number of lines and iterating yields them decoded
    (``errors="replace"``); the pipeline searches the bytes directly and decodes only the lines it needs.
    The lines are ``data[start:end]`` (the read buffer itself: no copy); ``start`` is 0 or follows a newline.
    ``count`` (the number of lines) is None until someone counts them: the pipeline does it as it goes.
    """

    __slots__ = ("count", "data", "end", "start")

    def __init__(self, data: bytes, count: int | None = None, start: int = 0, end: int | None = None) -> None:
        if start and data[start - 1 : start] != b"\n":
            raise ValueError("a block starts at the beginning of a line")
        self.data = data
        self.count = count
        self.start = start
        self.end = len(data) if end is None else end

    def __len__(self) -> int:
        if self.count is None:
            self.count = count_newlines(self.data, self.start, self.end) + 1
        return self.count

    def __iter__(self) -> Iterator[str]:
        return iter(self.data[self.start : self.end].decode("utf-8", "replace").split("\n"))


def _iter_batches(fh, counter: _Counter, final: bool, limit: int | None = None) -> Iterator:  # noqa: PLR0912, PLR0915 - the one read loop (chunks, carried and over-long lines, a budget)
    """Batches of lines of ``fh`` from its current position: per read chunk, a one-line list for a line
    that began in an earlier chunk, then a ``Block`` of the chunk's other complete lines;
    ``counter.offset`` ends after the last complete line. A line longer than ``MAX_LINE`` comes as an empty
    line (so the numbers of the next ones stay right) and is counted in ``counter.cut``, once: when the end
    of the file is reached inside it, it is taken as skipped there (``counter.skipping``), and its rest is
    passed over up to its newline, by this call or by the next one (started with ``counter.skipping``), never
    read again from its start each time its writer adds to it. With ``limit``, it stops once that many bytes
    are consumed (``counter.more``; the line being read when it stops is read by the next call)."""
    carry = b""  # kept start (<= MAX_LINE bytes) of the line still being read
    carry_len = 0  # its real length in the file
    decode = bytes.decode
    while True:
        if limit is not None and counter.bytes >= limit:
            counter.more = True
            return
        data = fh.read(CHUNK)
        if not data:
            break
        if counter.skipping:  # the rest of an over-long line counted before
            nl = data.find(b"\n")
            skipped = len(data) if nl < 0 else nl + 1
            counter.offset += skipped
            counter.bytes += skipped
            if nl < 0:
                continue
            counter.skipping = False
            data = data[skipped:]
            if not data:
                continue
        last_nl = data.rfind(b"\n")
        if last_nl < 0:
            if len(carry) < MAX_LINE:
                carry += data[: MAX_LINE - len(carry)]
            carry_len += len(data)
            continue
        start = 0
        if carry_len:
            first_nl = data.find(b"\n")
            if carry_len + first_nl > MAX_LINE:
                first = ""
                counter.cut += 1
            else:
                first = decode(carry + data[:first_nl], "utf-8", "replace")
            counter.offset += carry_len
            counter.bytes += carry_len
            carry, carry_len = b"", 0
            start = first_nl + 1
            counter.offset += start
            counter.bytes += start
            counter.lines += 1
            yield [first]
        if start <= last_nl:
            counter.offset += last_nl + 1 - start
            counter.bytes += last_nl + 1 - start
            block = Block(data, start=start, end=last_nl)
            try:
                yield block
            finally:  # its lines are counted by the consumer, or here if nobody did
                counter.lines += len(block)
        tail = data[last_nl + 1 :]
        carry, carry_len = tail[:MAX_LINE], len(tail)
    if carry_len and (final or carry_len > MAX_LINE):
        counter.offset += carry_len
        counter.bytes += carry_len
        counter.lines += 1
        if carry_len > MAX_LINE:
            counter.cut += 1
            counter.skipping = not final  # its writer may add more to it: passed over, never read again
            yield [""]
        else:
            yield [decode(carry, "utf-8", "replace")]


class NotRegularFileError(OSError):
    """A log path that names a FIFO, a device, a socket or a directory: never read (a FIFO would block)."""


def open_regular(path: str):
    """``open(path, "rb")`` for a regular file only: opened without blocking (a FIFO's open waits for a
    writer, forever) and checked with fstat on the very descriptor; NotRegularFileError otherwise."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFileError(f"{path} is not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _numbered(batches: Iterator[list], line: int) -> Iterator[tuple]:
    """Pair each batch with the number of its first line (``line`` lines came before)."""
    for batch in batches:
        yield line + 1, batch
        line += len(batch)


def _head_hash(fh, length: int) -> str:
    fh.seek(0)
    return hashlib.sha1(fh.read(length)).hexdigest()


def _head_of(fh, limit: int) -> tuple:
    """(length, hash) of the first line (up to its newline, ``HEAD_BYTES`` and ``limit`` bytes)."""
    fh.seek(0)
    data = fh.read(min(HEAD_BYTES, limit))
    nl = data.find(b"\n")
    if nl >= 0:
        data = data[: nl + 1]
    return len(data), hashlib.sha1(data).hexdigest()


def rotated_files(path: str) -> list[str]:
    """Rotated siblings of ``path`` (``.1``, ``.2.gz``, ``-20261126``, ``-20261126.gz``), oldest first."""
    log = Path(path)
    base = log.name
    try:
        entries = list(log.parent.iterdir())
    except OSError:
        return []
    found = []
    for entry in entries:
        name = entry.name
        if not name.startswith(base):
            continue
        match = _ROTATED.match(name, len(base))
        if not match:
            continue
        try:
            mtime = entry.stat().st_mtime
        except OSError:
            continue
        number = int(match.group(1)) if match.group(1) else 0
        found.append((mtime, -number, match.group(2) or "", str(log.parent / name)))
    found.sort()
    return [entry[3] for entry in found]


@contextlib.contextmanager
def _open_log(path: str) -> Iterator:
    """A regular log file opened for reading, decompressed when its name ends with ``.gz``."""
    with open_regular(path) as raw:
        if not path.endswith(".gz"):
            yield raw
            return
        import gzip  # noqa: PLC0415 - only rotated .gz files need it

        with gzip.GzipFile(fileobj=raw, mode="rb") as fh:
            yield fh


class FileSource:
    """One log file read from where the previous run stopped.

    ``position`` (from the previous run, or None) holds dev, ino, offset, line, head_len, head.
    With no position (first run) or ``from_start`` the whole current file is read, preceded by its
    rotated files when ``rotated`` is true.
    """

    def __init__(
        self,
        path: str,
        position: dict | None = None,
        *,
        from_start: bool = False,
        rotated: bool = False,
        warn: Warn = _no_warn,
        limit: int | None = None,
    ) -> None:
        self.path = path
        self.limit = limit  # bytes read at most from the current or renamed file (then ``more``)
        self.more = False
        self.old = None if from_start else position
        self.position = position
        self.rotated = rotated
        self.warn = warn
        self.bytes = 0
        self.lines = 0
        self.cut = 0  # lines skipped for being longer than MAX_LINE
        self.ok = False  # the current file could be read
        self._old_end: tuple | None = None  # (offset, line) where the renamed file was left

    def __iter__(self) -> Iterator[tuple]:
        for first, batch in self.batches():
            yield from enumerate(batch, first)

    def batches(self) -> Iterator[tuple]:  # noqa: PLR0912, PLR0915 - one read loop over rotation, truncation, cut lines
        """``(number of the first line, [lines])`` pairs: the fast way to read."""
        old = self.old
        path = self.path
        try:
            fh = open_regular(path)
        except NotRegularFileError:
            self.warn(f"log {path} is not a regular file: skipped")
            return
        except FileNotFoundError:
            self.warn(f"log {path} does not exist (yet)")
            if old:
                # renamed away and not yet recreated: finish the old file, and keep its position (moved on)
                # so that lines still written to it before the new file appears are read next time
                self._old_end = None
                yield from self._finish_old(old, None)
                end = self._old_end
                self.position = None if end is None else dict(old, offset=end[0], line=end[1], skip=end[2])
            return
        except OSError as err:
            self.warn(f"cannot read log {path}: {err.strerror or err}")
            return
        try:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                self.warn(f"log {path} is not a regular file")
                return
            start = 0
            line = 0
            skipping = False
            if old is None:
                if self.rotated:
                    for older in rotated_files(path):
                        yield from self._read_whole(older, st)
            elif (old.get("dev"), old.get("ino")) == (st.st_dev, st.st_ino):
                offset = int(old.get("offset", 0))
                head_len = int(old.get("head_len", 0))
                copy = None if head_len else self._new_copy(old, fh)
                if copy is not None:
                    # copytruncate while the file held no complete line: the copy holds all that came since
                    yield from self._read_whole(copy, st)
                elif st.st_size < offset or (head_len and _head_hash(fh, head_len) != old.get("head")):
                    # copytruncate: finish the old content from the copy, then read the file from the start
                    found = yield from self._finish_copy(old)
                    if not found:  # or rotated, compressed, and its inode number reused at once
                        found = yield from self._finish_compressed(old)
                    if not found:
                        self.warn(
                            f"log {path} was truncated or rewritten and no rotated copy was found:"
                            " reading it from the start (lines written just before may be lost)"
                        )
                else:
                    start, line, skipping = offset, int(old.get("line", 0)), old.get("skip") is True
            else:
                self._old_end = None
                yield from self._finish_old(old, st)
                if (
                    self.more
                ):  # the rest of the renamed file next time (its position: where this read stopped)
                    self.ok = True
                    end = self._old_end
                    self.position = dict(old, offset=end[0], line=end[1], skip=end[2])
                    return
            self.ok = True
            yield from self._read(fh, st, start, line, skipping)
        finally:
            fh.close()

    def _read(self, fh, st: os.stat_result, start: int, line: int, skipping: bool = False) -> Iterator[tuple]:
        fh.seek(start)
        counter = yield from self._drain(fh, start, line, final=False, skipping=skipping, limit=self.limit)
        self.more = counter.more
        position = {
            "dev": st.st_dev,
            "ino": st.st_ino,
            "offset": counter.offset,
            "line": line + counter.lines,
        }
        if counter.skipping:
            position["skip"] = True
        if counter.offset:
            position["head_len"], position["head"] = _head_of(fh, counter.offset)
        else:  # no first line to know the file by: its newest rotated sibling tells a copytruncate instead
            position["copy"] = self._newest_copy()[1]
        self.position = position

    def _drain(
        self, fh, offset: int, line: int, *, final: bool, skipping: bool = False, limit: int | None = None
    ) -> Iterator[tuple]:
        """The numbered batches of ``fh`` from its position (``offset`` in the file, after ``line`` lines,
        ``skipping`` the rest of an over-long line, at most ``limit`` bytes), their bytes, lines and cut lines
        added to this source's counts; returns the file's ``_Counter``."""
        counter = _Counter(offset, skipping)
        yield from _numbered(_iter_batches(fh, counter, final=final, limit=limit), line)
        self.bytes += counter.bytes
        self.lines += counter.lines
        self.cut += counter.cut
        return counter

    def _newest_copy(self) -> tuple:
        """(path, [length, sha1] of its first line) of logrotate's newest rotated sibling by name
        (``.0``/``.1``, else the latest ``-DATE``; compressed or not), or (None, []). Known by its
        content, not by its inode or mtime: a later ``gzip`` of ``.1`` or a syslog daemon's last line
        appended to it leaves it the same."""
        base = Path(self.path).name
        newest, rank = None, None
        for candidate in rotated_files(self.path):
            match = _ROTATED.match(Path(candidate).name, len(base))
            number, date = match.group(1), match.group(2)
            key = (0, int(number)) if number is not None else (1, -int(date.ljust(10, "0")))
            if rank is None or key < rank:
                newest, rank = candidate, key
        if newest is None:
            return None, []
        try:
            with _open_log(newest) as copy:
                return newest, list(_head_of(copy, HEAD_BYTES))
        except (OSError, EOFError, zlib.error):
            return None, []

    def _new_copy(self, old: dict, fh) -> str | None:
        """The copy made by a copytruncate since a look that found no complete line in the file (offset 0,
        no head: a rewrite to the same size or more is invisible to the inode and the size), or None. The
        newest rotated sibling with another first line than the one seen then is that copy, unless the file
        still holds the copy's last bytes where the copy ends (copied, not truncated yet: the file itself is
        read, and its truncation is seen by its head next time). Positions saved without ``copy`` (an older
        version) or with a damaged one are left alone."""
        saved = old.get("copy")
        if not copy_ok(saved):
            return None
        path, head = self._newest_copy()
        if path is None or not head[0] or head == saved:
            return None
        if not path.endswith(".gz"):
            try:
                with open_regular(path) as copy:
                    size = os.fstat(copy.fileno()).st_size
                    tail = min(size, HEAD_BYTES)
                    copy.seek(size - tail)
                    end = copy.read(tail)
                fh.seek(size - tail)
                if fh.read(tail) == end:
                    return None
            except OSError:
                return None
        return path

    def _finish_old(self, old: dict, current: os.stat_result | None) -> Iterator[tuple]:
        """Read the rest of the previous file, renamed to a rotated name next to it (found by inode)."""
        key = (old.get("dev"), old.get("ino"))
        for candidate in self._candidates():
            try:
                st = Path(candidate).stat()
            except OSError:
                continue
            if (st.st_dev, st.st_ino) != key:
                continue
            try:
                with open_regular(candidate) as fh:
                    if st.st_size < int(old.get("offset", 0)):
                        return
                    fh.seek(int(old.get("offset", 0)))
                    # final=False: a last line without its newline may still be completed by its writer
                    line = int(old.get("line", 0))
                    counter = yield from self._drain(
                        fh,
                        fh.tell(),
                        line,
                        final=current is not None,
                        skipping=old.get("skip") is True,
                        limit=self.limit,
                    )
                    self._old_end = (counter.offset, line + counter.lines, counter.skipping)
                    self.more = counter.more
            except OSError as err:
                self.warn(f"cannot read rotated log {candidate}: {err.strerror or err}")
            return
        found = yield from self._finish_compressed(old)
        if not found and current is not None:
            self.warn(f"log {self.path} was rotated and the old file was not found: its last lines are lost")

    def _finish_compressed(self, old: dict) -> Iterator[tuple]:
        """The rest of the previous file when rotation compressed it at once (no ``delaycompress``: a new
        inode): the most recent ``.gz`` sibling whose content starts with the old file's first line."""
        offset = int(old.get("offset", 0))
        head_len = int(old.get("head_len", 0))
        if not head_len:
            return False
        names = [self.path + ".1.gz", self.path + ".0.gz"]
        names += [p for p in reversed(rotated_files(self.path)) if p.endswith(".gz") and p not in names]
        for candidate in names:
            try:
                with _open_log(candidate) as fh:
                    if _head_hash(fh, head_len) != old.get("head"):
                        continue
                    fh.seek(offset)
                    if fh.tell() != offset:
                        continue
                    yield from self._drain(
                        fh, offset, int(old.get("line", 0)), final=True, skipping=old.get("skip") is True
                    )
                    return True
            except (OSError, EOFError, zlib.error):
                continue
        return False

    def _candidates(self) -> list[str]:
        """Uncompressed rotated siblings, the most recent first."""
        names = [self.path + ".1", self.path + ".0"]
        return names + [
            p for p in reversed(rotated_files(self.path)) if not p.endswith(".gz") and p not in names
        ]

    def _finish_copy(self, old: dict) -> Iterator[tuple]:
        """After copytruncate: read the rest of the copy (same head, at least as long); True if found."""
        offset = int(old.get("offset", 0))
        head_len = int(old.get("head_len", 0))
        if not head_len:
            return False
        for candidate in self._candidates():
            try:
                with open_regular(candidate) as fh:
                    if os.fstat(fh.fileno()).st_size < offset or _head_hash(fh, head_len) != old.get("head"):
                        continue
                    fh.seek(offset)
                    yield from self._drain(
                        fh, offset, int(old.get("line", 0)), final=True, skipping=old.get("skip") is True
                    )
                    return True
            except OSError:
                continue
        return False

    def _read_whole(self, path: str, current: os.stat_result) -> Iterator[tuple]:
        """All lines of a rotated (possibly gzipped) file, unless it is the current file itself."""
        try:
            st = Path(path).stat()
            if (st.st_dev, st.st_ino) == (current.st_dev, current.st_ino):
                return
            with _open_log(path) as fh:
                yield from self._drain(fh, 0, 0, final=True)
        except (OSError, EOFError, zlib.error) as err:
            self.warn(f"cannot read rotated log {path}: {getattr(err, 'strerror', None) or err}")


# ---- journal -------------------------------------------------------------------------------------

JOURNAL_MATCHES = [
    "SYSLOG_FACILITY=2",  # mail: postfix, dovecot
    "+",
    "SYSLOG_IDENTIFIER=plesk_saslauthd",
    "+",
    "_SYSTEMD_UNIT=dovecot.service",
    "+",
    "_SYSTEMD_UNIT=postfix@-.service",
]


def _text(value) -> str:
    """A journal field: a string, or a list of byte values when it is not valid UTF-8."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        try:
            return bytes(value).decode("utf-8", "replace")
        except (TypeError, ValueError):
            return ""
    return "" if value is None else str(value)


def journal_line(entry: dict) -> str | None:
    """A syslog-like line (RFC 3339 time, host, ``ident[pid]: message``) from one journal JSON entry."""
    message = _text(entry.get("MESSAGE"))
    if not message:
        return None
    try:
        when = datetime.fromtimestamp(int(entry["__REALTIME_TIMESTAMP"]) / 1e6, timezone.utc)
        stamp = when.isoformat()
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return None
    host = _text(entry.get("_HOSTNAME")) or "localhost"
    ident = _text(entry.get("SYSLOG_IDENTIFIER")) or _text(entry.get("_COMM")) or "unknown"
    pid = _text(entry.get("SYSLOG_PID")) or _text(entry.get("_PID"))
    tag = f"{ident}[{pid}]" if pid.isdigit() else ident
    message = message.replace("\n", " ")
    return f"{stamp} {host} {tag}: {message}"


class JournalSource:
    """Mail entries of systemd's journal after a saved cursor; ``position`` = {"cursor", "line"}.

    ``command`` is the journalctl invocation (tests add ``--file``/``--directory``). An entry that claims to
    be a mail daemon's (see ``lines.claimed_daemon``) is read only when ``trust`` accepts who wrote it
    (``journaltrust``); the others are counted in ``rejected`` and warned about once. An entry longer than
    ``MAX_LINE`` is skipped and counted in ``cut``.
    """

    path = "journal"

    def __init__(
        self,
        position: dict | None = None,
        *,
        from_start: bool = False,
        command: list | None = None,
        warn: Warn = _no_warn,
        trust: JournalTrust | None = None,
    ) -> None:
        self.trust = trust if trust is not None else JournalTrust()
        self.rejected = 0
        self.cut = 0
        self.position = position or {}
        self.cursor = None if from_start else self.position.get("cursor")
        self.line = 0 if from_start else int(self.position.get("line", 0))
        self.command = list(command or ["journalctl"])
        self.warn = warn
        self.bytes = 0
        self.lines = 0
        self.ok = False
        self.last_cursor = self.cursor  # of the last entry read

    def batches(self) -> Iterator[tuple]:
        """``(number of the first line, [lines])`` pairs, up to 1024 lines each."""
        batch: list = []
        first = 0
        for number, text in self:
            if not batch:
                first = number
            batch.append(text)
            if len(batch) >= 1024:
                yield first, batch
                batch = []
        if batch:
            yield first, batch

    def __iter__(self) -> Iterator[tuple]:
        # --all: without it journalctl writes every field over 4096 bytes as null, so a long entry was
        # dropped unseen (neither parsed nor counted in ``cut``)
        args = [*self.command, "-o", "json", "--all", "--no-pager", "-q"]
        if self.cursor:
            args.append(f"--after-cursor={self.cursor}")
        args += JOURNAL_MATCHES
        import subprocess  # noqa: PLC0415 - only the journal needs it: file scans never load it

        try:
            proc = subprocess.Popen(
                args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
            )
        except OSError as err:
            self.warn(f"cannot run {self.command[0]}: {err.strerror or err}")
            return
        self.last_cursor = self.cursor
        try:
            for raw in proc.stdout:
                text = self.take(raw)
                if text is not None:
                    yield self.line, text
        finally:
            proc.stdout.close()
            err = proc.stderr.read().decode("utf-8", "replace").strip()
            proc.stderr.close()
            code = proc.wait()
        if code != 0 and not (code == 1 and not err):
            first = err.splitlines()[0] if err else f"exit status {code}"
            self.warn(f"journalctl failed: {first}")
            if self.last_cursor == self.cursor:
                return
        self.ok = True
        self.position = {"cursor": self.last_cursor, "line": self.line}

    def take(self, raw: bytes) -> str | None:
        """One line of ``journalctl -o json``: the syslog-like text to parse, or None (not JSON, no message,
        too long: counted in ``cut``, or written by someone its daemon's trust rules do not accept: counted
        in ``rejected``). Moves the cursor and the line count on (the follow daemon uses it too)."""
        self.bytes += len(raw)
        try:
            entry = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(entry, dict):
            return None
        self.last_cursor = entry.get("__CURSOR") or self.last_cursor
        text = journal_line(entry)
        if text is None:
            return None
        if len(text) > MAX_LINE:
            self.cut += 1
            return None
        daemon = claimed_daemon(text)
        if daemon is not None and not self.trust.accepts(daemon, entry):
            self._reject(daemon, entry)
            return None
        self.line += 1
        self.lines += 1
        return text

    def _reject(self, daemon: str, entry: dict) -> None:
        """Count an entry whose writer does not fit the daemon it claims to be; warn about the first."""
        self.rejected += 1
        if self.rejected == 1:
            writer = " ".join(
                f"{field}={_text(entry.get(field)) or '?'}"
                for field in ("_UID", "_COMM", "_EXE", "_SYSTEMD_UNIT")
            )
            self.warn(
                f"journal: ignoring entries that claim to be {daemon}'s but were written by {writer} (not one"
                " of its users, executables or units: see journal_trusted); the scan's stats count them"
            )
