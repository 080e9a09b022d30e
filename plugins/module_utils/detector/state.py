"""The state directory: ``state.json`` written atomically, ``state.lock`` held with flock.

A crash or a full disk while saving leaves the previous state.json intact (temp file in the same
directory, fsync, rename). A state.json that is no JSON object is moved aside to
``state.json.corrupt-<time>`` with a warning and the run starts from an empty state; damaged entries inside
a valid one are moved to ``state.json.damaged-<time>`` and the rest is kept (``statecheck``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from itertools import islice
from pathlib import Path
from typing import Any, Callable

from ..errors import LockedError, MbgError
from .banentry import json_default
from .statecheck import MIGRATED_SECTIONS, SECTIONS, count_damaged, is_time

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
        "hook_contest": {},  # IP version -> the fight over INPUT 1 (firewall/contest.py), iptables only
    }


_DUMPS = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=True, check_circular=False, default=json_default
).encode
PIECE_ENTRIES = 4096  # entries of a large mapping encoded at a time


def json_pieces(value: Any, depth: int = 0) -> Iterator[str]:
    """The compact JSON text of ``value`` in pieces, the same text ``json.dumps`` gives: the large mappings
    of a state (bans, log positions, tracker records: 100,000 entries in a big attack) are encoded
    ``PIECE_ENTRIES`` at a time, so saving never holds the whole text (nor a second, encoded copy). A
    ``BanEntry`` is written as its dict."""
    if not isinstance(value, Mapping):
        yield _DUMPS(value)
        return
    if len(value) > PIECE_ENTRIES or not isinstance(value, dict):
        items = iter(value.items())
        sep = "{"
        while True:
            chunk = dict(islice(items, PIECE_ENTRIES))
            if not chunk:
                break
            yield sep + _DUMPS(chunk)[1:-1]
            sep = ","
        yield "{}" if sep == "{" else "}"
        return
    if depth >= 2:  # a small mapping inside a section: one call
        yield _DUMPS(value)
        return
    sep = "{"
    for key, item in value.items():
        yield sep + _DUMPS(key) + ":"
        yield from json_pieces(item, depth + 1)
        sep = ","
    yield "{}" if sep == "{" else "}"


class StateDir:
    """One state directory; ``with state.lock(): data = state.load(); ...; state.save(data)``."""

    def __init__(self, path: str, warn: Callable[[str], None] = _no_warn) -> None:
        self.path = path
        self.file = str(Path(path, STATE_FILE))
        self.warn = warn
        self._lock_fd: int | None = None
        # the last load() read a sound state file of this version as it is (saving it unchanged rewrites
        # the same content): a restore that changes no ban then leaves it alone
        self.loaded_as_is = False

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

    def lock(self, wait: float = 0.0, tick: Callable[[], None] | None = None) -> StateDir:
        """Take the exclusive lock (waiting up to ``wait`` seconds); LockedError when another run holds it.
        ``tick`` is called while waiting (the follow daemon's watchdog: a manual scan may hold the lock)."""
        self.ensure()
        lock_path = str(Path(self.path, LOCK_FILE))
        try:  # never through a symlink: another user could point it at a file of theirs (or ours)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise MbgError(f"refusing lock file {lock_path}: it is a symbolic link") from None
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
                if tick is not None:
                    tick()
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

    def load(self, quarantine: bool = True, only: tuple[str, ...] | None = None) -> dict[str, Any]:
        """The saved state, or an empty one (missing file; a file that is no JSON object: warned about and,
        with ``quarantine``, moved aside). Each section is validated entry by entry (``statecheck``): the
        sound entries are kept, the damaged ones set aside (see ``_set_aside``). A file of another version
        keeps its bans (``MIGRATED_SECTIONS``); the rest starts afresh. With ``only``, the other sections
        are passed through as they are, unchecked (a restore reads 100,000 bans and no tracker record)."""
        self.loaded_as_is = False
        try:
            data = self._read()
        except FileNotFoundError:
            return empty_state()
        except OSError as err:
            raise MbgError(f"cannot read state file {self.file}: {err.strerror or err}") from None
        except (ValueError, RecursionError) as err:
            self._damaged(f"not valid JSON: {err}", quarantine)
            return empty_state()
        if not isinstance(data, dict):
            self._damaged("not a JSON object", quarantine)
            return empty_state()
        state = empty_state()
        version = data.get("version")
        migrated = version != STATE_VERSION
        damaged: dict[str, Any] = {}
        for key, check in SECTIONS.items():
            if key in data and (not migrated or key in MIGRATED_SECTIONS):
                if only is not None and key not in only:
                    state[key] = data[key]
                    continue
                state[key], bad = check(data[key])
                if bad is not None:
                    damaged[key] = bad
        if is_time(data.get("saved_at")):
            state["saved_at"] = data["saved_at"]
        if migrated:
            self.warn(
                f"state file {self.file} is from another version ({version!r}, this is {STATE_VERSION}):"
                f" kept its {len(state['bans'])} bans, the rest starts afresh"
            )
        if damaged:
            self._set_aside(damaged, quarantine)
        self.loaded_as_is = not migrated and not damaged
        return state

    def _read(self) -> Any:
        """The decoded JSON of the state file. Read as text: ``json.loads`` of the bytes would hold them and
        their text (36 MB each for 100,000 bans) at once; a file that is no UTF-8 goes the bytes' way (JSON's
        own detection of UTF-16 and UTF-32)."""
        try:
            with Path(self.file).open(encoding="utf-8-sig") as fh:
                text = fh.read()
        except UnicodeDecodeError:
            return json.loads(Path(self.file).read_bytes())
        return json.loads(text)

    def _set_aside(self, damaged: dict[str, Any], quarantine: bool) -> None:
        """One warning for all damaged entries; with ``quarantine`` (a run that saves the state again) they
        are written to ``state.json.damaged-<time>`` first, so nothing is lost."""
        counts = {key: count_damaged(key, bad) for key, bad in damaged.items()}
        what = ", ".join(f"{key}: {n}" for key, n in counts.items())
        total = sum(counts.values())
        if not quarantine:
            self.warn(f"state file {self.file} holds {total} damaged entries ({what}): ignoring them")
            return
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        aside = f"{self.file}.damaged-{stamp}"
        try:
            fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                json.dump(damaged, fh, ensure_ascii=True, default=repr)
        except (OSError, ValueError, TypeError) as err:
            self.warn(
                f"state file {self.file} holds {total} damaged entries ({what}): dropping them"
                f" (could not write {aside}: {getattr(err, 'strerror', None) or err})"
            )
            return
        self.warn(
            f"state file {self.file} holds {total} damaged entries ({what}): moved them to {aside},"
            " keeping the rest"
        )

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
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=".state.json.", suffix=".tmp", dir=self.path)
            with os.fdopen(fd, "w", encoding="ascii", newline="") as fh:
                for piece in json_pieces(data):
                    fh.write(piece)
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
