"""The state directory: ``state.json`` written atomically, ``state.lock`` held with flock.

A crash or a full disk while saving leaves the previous state.json intact (temp file in the same
directory, fsync, rename). A corrupt state.json is moved aside to ``state.json.corrupt-<time>``
with a warning and the run starts from an empty state.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from ..errors import LockedError, MbgError

STATE_VERSION = 1
STATE_FILE = "state.json"
LOCK_FILE = "state.lock"


def _no_warn(_msg: str) -> None:
    return None


def empty_state() -> dict[str, Any]:
    """A fresh state: nothing read, nothing tracked, nothing banned."""
    return {
        "version": STATE_VERSION,
        "logs": {},
        "journal": {},
        "correlator": None,
        "tracker": None,
        "bans": {},
        "hook": None,  # the backend the ban hook was attached with (scans keep it attached), or None
    }


class StateDir:
    """One state directory; ``with state.lock(): data = state.load(); ...; state.save(data)``."""

    def __init__(self, path: str, warn: Callable[[str], None] = _no_warn) -> None:
        self.path = path
        self.file = str(Path(path, STATE_FILE))
        self.warn = warn
        self._lock_fd: int | None = None

    def ensure(self) -> None:
        """Create the directory (mode 0700) when missing."""
        directory = Path(self.path)
        if directory.is_dir():
            return
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            directory.chmod(0o700)
        except OSError as err:
            raise MbgError(f"cannot create state directory {self.path}: {err.strerror or err}") from None

    def lock(self, wait: float = 0.0) -> StateDir:
        """Take the exclusive lock (waiting up to ``wait`` seconds); LockedError when another run holds it."""
        self.ensure()
        lock_path = str(Path(self.path, LOCK_FILE))
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as err:
            raise MbgError(f"cannot open lock file {lock_path}: {err.strerror or err}") from None
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as err:
                if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise MbgError(f"cannot lock {lock_path}: {err.strerror or err}") from None
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise LockedError(
                        f"another mail-bruteforce-guard run holds {lock_path}; try again when it has finished"
                    ) from None
                time.sleep(0.05)
        self._lock_fd = fd
        return self

    def unlock(self) -> None:
        """Release the lock (closing the descriptor releases the flock)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> StateDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.unlock()

    def load(self, quarantine: bool = True) -> dict[str, Any]:
        """The saved state, or an empty one (missing file; corrupt file: warned about and, with
        ``quarantine``, moved aside)."""
        try:
            raw = Path(self.file).read_bytes()
        except FileNotFoundError:
            return empty_state()
        except OSError as err:
            raise MbgError(f"cannot read state file {self.file}: {err.strerror or err}") from None
        try:
            data = json.loads(raw)
        except ValueError as err:
            self._damaged(f"not valid JSON: {err}", quarantine)
            return empty_state()
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            self._damaged("unexpected content or version", quarantine)
            return empty_state()
        state = empty_state()
        for key, kind in (("logs", dict), ("journal", dict), ("bans", dict)):
            value = data.get(key, state[key])
            if not isinstance(value, kind):
                self._damaged(f"{key!r} has the wrong type", quarantine)
                return empty_state()
            state[key] = value
        for key in ("correlator", "tracker", "saved_at"):
            state[key] = data.get(key)
        hook = data.get("hook")
        state["hook"] = hook if isinstance(hook, str) else None
        return state

    def _damaged(self, why: str, quarantine: bool) -> None:
        if quarantine:
            self.quarantine(why)
        else:
            self.warn(f"state file {self.file} is corrupt ({why}): ignoring it")

    def quarantine(self, why: str) -> str | None:
        """Move a damaged state file aside with a warning; returns the new name."""
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        aside = f"{self.file}.corrupt-{stamp}"
        try:
            Path(self.file).replace(aside)
        except OSError as err:
            self.warn(f"state file {self.file} is corrupt ({why}) and could not be moved aside: {err}")
            return None
        self.warn(
            f"state file {self.file} is corrupt ({why}): moved to {aside}, starting from an empty state"
        )
        return aside

    def save(self, data: dict[str, Any]) -> None:
        """Write atomically: temp file in the same directory, fsync, rename, fsync the directory."""
        self.ensure()
        data = dict(data, version=STATE_VERSION, saved_at=time.time())
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=True, check_circular=False)
        payload = text.encode("ascii")
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=".state.json.", suffix=".tmp", dir=self.path)
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            Path(tmp).replace(self.file)
            tmp = None
            dir_fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as err:
            raise MbgError(
                f"cannot save state to {self.file}: {err.strerror or err} (the previous state is kept)"
            ) from None
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    Path(tmp).unlink()
