"""Following the log sources for the ``follow`` daemon: when to look at the files again (inotify through
ctypes, or a stat poll where inotify is not available) and the journal through ``journalctl -f``.

Reading itself stays ``logsource.FileSource``'s (offsets, rename and copytruncate rotation, truncation, a
file that appears later): the watcher only says *when*. inotify watches the files' directories, not the
files, so a rotation (the name now another inode), a file created later and a truncation all wake the
daemon, and an idle daemon is woken by nothing at all (no timer per file).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

from .journaltrust import JournalTrust
from .logsource import JOURNAL_MATCHES, MAX_LINE, JournalSource

Warn = Callable[[str], None]

# <sys/inotify.h>
IN_MODIFY = 0x2
IN_ATTRIB = 0x4
IN_CLOSE_WRITE = 0x8
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
WATCH_MASK = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
)
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; the name follows


def stat_signature(path: str) -> tuple:
    """(device, inode, size, mtime) of ``path``, or () when it cannot be stat'ed: what says a file changed
    (the watcher's poll; the daemon's "another command wrote state.json")."""
    try:
        st = Path(path).stat()
    except OSError:
        return ()
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _libc():
    name = ctypes.util.find_library("c") or "libc.so.6"
    libc = ctypes.CDLL(name, use_errno=True)
    libc.inotify_init1.argtypes = [ctypes.c_int]
    libc.inotify_init1.restype = ctypes.c_int
    libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    libc.inotify_add_watch.restype = ctypes.c_int
    return libc


class FileWatch:
    """Says when the followed files may have changed. ``fileno()`` is the descriptor to poll (None in
    stat-poll mode); ``pending()`` drains it and tells whether one of our files is concerned; in poll mode
    (``kind == "poll"``, also for a directory that cannot be watched yet) ``changed()`` compares each file's
    (inode, size, mtime) with the last look, every ``interval`` seconds at most.
    """

    def __init__(self, paths: list[str], *, mode: str = "auto", interval: float = 0.25) -> None:
        self.paths = list(paths)
        self.interval = interval
        self.fd: int | None = None
        self.kind = "poll"
        self._names: dict[int, set[str]] = {}  # wd -> base names watched in that directory
        self._unwatched: list[str] = []  # directories that could not be watched (yet): polled
        self._seen: dict[str, tuple] = {}
        if mode in ("auto", "inotify") and self.paths:
            try:
                libc = _libc()
                fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
                if fd < 0:
                    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
            except (OSError, AttributeError):
                if mode == "inotify":
                    raise
            else:
                self._libc, self.fd, self.kind = libc, fd, "inotify"
                self._watch_all()
        for path in self.paths:
            self._seen[path] = stat_signature(path)

    def _watch_all(self) -> None:
        by_dir: dict[str, set[str]] = {}
        for path in self.paths:
            by_dir.setdefault(str(Path(path).parent), set()).add(Path(path).name)
        self._names, self._unwatched = {}, []
        for directory, names in by_dir.items():
            wd = self._libc.inotify_add_watch(self.fd, os.fsencode(directory), WATCH_MASK)
            if wd < 0:
                self._unwatched.append(directory)
                continue
            self._names.setdefault(wd, set()).update(names)

    @property
    def needs_polling(self) -> bool:
        """Poll mode, or some directory could not be watched (it may appear later)."""
        return self.kind == "poll" or bool(self._unwatched)

    def fileno(self) -> int | None:
        return self.fd

    def pending(self) -> bool:
        """Drain the inotify queue; True when an event concerns one of our files (or the queue overflowed,
        or a watched directory went away: then everything is looked at again)."""
        if self.fd is None:
            return False
        hit = False
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            except OSError as err:
                if err.errno == errno.EINTR:
                    continue
                raise
            if not data:
                break
            offset = 0
            while offset + _EVENT.size <= len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                name = data[offset + _EVENT.size : offset + _EVENT.size + length].split(b"\0", 1)[0]
                offset += _EVENT.size + length
                if mask & (IN_Q_OVERFLOW | IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF):
                    hit = True
                    if mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF):
                        self._watch_all()  # the directory itself went away or moved: watch it anew
                    continue
                base = os.fsdecode(name)
                # the file itself, or a rotated sibling (mail.log.1 gets the rest of a renamed file)
                if any(base == n or base.startswith(n + ".") for n in self._names.get(wd, ())):
                    hit = True
        return hit

    def changed(self) -> bool:
        """Poll: did any file change since the last look (also retries unwatchable directories)?"""
        if self._unwatched and self.fd is not None:
            before = len(self._unwatched)
            self._watch_all()
            if len(self._unwatched) < before:
                return True  # a directory appeared: its file may have been written already
        hit = False
        for path in self.paths:
            now = stat_signature(path)
            if now != self._seen.get(path):
                self._seen[path] = now
                hit = True
        return hit

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None


class JournalFollower:
    """``journalctl -f -o json`` from the saved cursor, read as the data comes (``fileno()`` to poll).

    The same entry checks as the scan's ``JournalSource`` (``take``: trust rules, ``MAX_LINE``); a
    journalctl that exits is started again from the last cursor (by ``ensure()``, at most every
    ``RESTART_DELAY`` seconds). ``position`` is ``{"cursor", "line"}`` of the last entry read.
    """

    is_journal = True
    path = "journal"
    RESTART_DELAY = 5.0

    def __init__(
        self,
        position: dict | None,
        *,
        command: list | None = None,
        warn: Warn,
        trust: JournalTrust | None = None,
    ) -> None:
        self.entries = JournalSource(position, command=command, warn=warn, trust=trust)
        self.command = list(command or ["journalctl"])
        self.warn = warn
        self.proc = None
        self._buffer = b""
        self._started = 0.0
        self.ok = False
        self.position = dict(position or {})
        self.lines = self.bytes = self.cut = self.rejected = 0
        self.limit: int | None = None  # bytes read at most per batches() call (then ``more``)
        self.more = False

    def ensure(self, now_monotonic: float) -> None:
        """Start journalctl (again) when it is not running."""
        if self.proc is not None and self.proc.poll() is None:
            return
        if self.proc is not None:
            self._reap()
        if now_monotonic - self._started < self.RESTART_DELAY and self._started:
            return
        self._started = now_monotonic
        import subprocess  # noqa: PLC0415 - only the journal needs it

        entries = self.entries
        cursor = entries.last_cursor  # what was read last
        args = [*self.command, "-f", "-o", "json", "--all", "--no-pager", "-q", "--lines=all"]
        if cursor:
            args.append(f"--after-cursor={cursor}")
        args += JOURNAL_MATCHES
        try:
            self.proc = subprocess.Popen(
                args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
            )
        except OSError as err:
            self.warn(f"cannot run {self.command[0]}: {err.strerror or err}")
            self.proc = None
            return
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.ok = True

    def fileno(self) -> int | None:
        return None if self.proc is None else self.proc.stdout.fileno()

    def _reap(self) -> None:
        import subprocess  # noqa: PLC0415

        proc, self.proc = self.proc, None
        self._buffer = b""
        with contextlib.suppress(OSError):
            proc.stdout.close()
        code = proc.poll()
        if code is None:
            proc.terminate()
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        elif code != 0:
            self.warn(f"journalctl -f exited with status {code}: started again from the last cursor")

    def batches(self) -> Iterator[tuple]:
        """The complete lines available now, as ``(first line number, [texts])`` (no waiting)."""
        entries = self.entries
        before = (entries.lines, entries.bytes, entries.cut, entries.rejected)
        texts: list[str] = []
        first = entries.line + 1
        self.more = False
        if self.proc is not None:
            fd = self.proc.stdout.fileno()
            while True:
                if self.limit is not None and entries.bytes - before[1] >= self.limit:
                    self.more = True  # the rest waits in the pipe for the next call
                    break
                try:
                    data = os.read(fd, 1 << 20)
                except BlockingIOError:
                    break
                if not data:  # journalctl ended: started again by ensure()
                    break
                lines = (self._buffer + data).split(b"\n")
                self._buffer = lines.pop()
                if len(self._buffer) > 4 * MAX_LINE:  # --all can make huge entries: never hold more
                    self._buffer = b""
                for raw in lines:
                    if raw:
                        text = entries.take(raw)
                        if text is not None:
                            texts.append(text)
        if texts:
            yield first, texts
        # this call's counts (a Session adds them up)
        self.lines = entries.lines - before[0]
        self.bytes = entries.bytes - before[1]
        self.cut = entries.cut - before[2]
        self.rejected = entries.rejected - before[3]
        if entries.last_cursor:
            self.position = {"cursor": entries.last_cursor, "line": entries.line}

    def close(self) -> None:
        if self.proc is not None:
            proc, self.proc = self.proc, None
            with contextlib.suppress(OSError):
                proc.stdout.close()
            if proc.poll() is None:
                proc.terminate()
                with contextlib.suppress(Exception):
                    proc.wait(timeout=2)
