"""Pre-auth abuse: connections that never tried a password (Dovecot's ``tried to use disallowed plaintext
auth``, ``no auth attempts``), counted per address in their own window.

Why: a bot without TLS sends plaintext logins the server refuses before any password check, so no password
failure is ever logged and the usual windows never see it. Legitimate clients produce such lines too (a
misconfigured client, a capability probe), so the threshold is high, and an address with a known user (see
``clients.py``) is never counted.
"""

from __future__ import annotations

from typing import Any

from ..parser.events import NO_AUTH_ATTEMPTS, PLAINTEXT_REFUSED

MAX_ADDRESSES = 50000  # addresses with a pre-auth window; beyond it the least recently seen tenth goes
CODES = {NO_AUTH_ATTEMPTS: 0, PLAINTEXT_REFUSED: 1}
NAMES = ("no auth attempts", "plaintext auth refused")


class PreauthWindows:
    """key -> flat [time, kind code, ...] of the pre-auth events within ``findtime``."""

    def __init__(self, maxretry: int, findtime: int) -> None:
        self.maxretry = maxretry
        self.findtime = findtime
        self.windows: dict[str, list] = {}

    def add(self, key: str, kind: str, t: float) -> tuple | None:
        """Count one event; (events in the window, first time, kind names) when it reaches ``maxretry``."""
        window = self.windows.get(key)
        if window is None:
            if len(self.windows) >= MAX_ADDRESSES:
                self.prune(t, force=True)
            window = self.windows[key] = []
        window.append(t)
        window.append(CODES.get(kind, 0))
        start = t - self.findtime
        if window[0] <= start or len(window) > 2 * self.maxretry:
            kept = [window[i : i + 2] for i in range(0, len(window), 2) if window[i] > start]
            window[:] = [x for pair in kept[-self.maxretry :] for x in pair]
        n = len(window) // 2
        if n < self.maxretry:
            return None
        kinds = sorted({NAMES[int(c)] for c in window[1::2] if 0 <= c < len(NAMES)})
        del self.windows[key]  # the ban starts afresh
        return n, window[0], kinds

    def prune(self, now: float, *, force: bool = False) -> None:
        """Drop windows past ``findtime``; with ``force`` also the least recently seen tenth."""
        start = now - self.findtime
        for key in [k for k, w in self.windows.items() if not w or w[-2] <= start]:
            del self.windows[key]
        if force and len(self.windows) >= MAX_ADDRESSES:
            by_age = sorted(self.windows, key=lambda k: self.windows[k][-2])
            for key in by_age[: len(by_age) // 10 + 1]:
                del self.windows[key]

    def to_state(self) -> dict[str, list]:
        return self.windows

    def load(self, saved: Any) -> None:
        """Restore ``to_state`` output; a damaged window is dropped (never raises)."""
        self.windows = {}
        if not isinstance(saved, dict):
            return
        for key, window in saved.items():
            if not isinstance(key, str) or not isinstance(window, list) or len(window) % 2:
                continue
            if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in window):
                self.windows[key] = [float(x) for x in window]
