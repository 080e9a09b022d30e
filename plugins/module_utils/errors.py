"""The one exception family of the library: each carries a single-line, user-facing message."""

from __future__ import annotations


class MbgError(Exception):
    """A failure the user can act on; ``str(err)`` is one line, shown without a traceback."""

    exit_code = 1


class ConfigError(MbgError):
    """Bad configuration or arguments (exit code 2)."""

    exit_code = 2


class LockedError(MbgError):
    """Another run holds the state lock (exit code 3)."""

    exit_code = 3
