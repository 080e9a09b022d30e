"""Text for a terminal: control characters from log lines (usernames are the client's) escaped."""

from __future__ import annotations

import re

# C0 controls, DEL and C1 controls (ESC starts terminal sequences; "\x9b" is a one-byte CSI)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _escape(match: re.Match) -> str:
    return f"\\x{ord(match.group()):02x}"


def printable(text: str) -> str:
    """``text`` with every control character written as ``\\xNN`` (JSON output escapes them itself)."""
    return _CONTROL.sub(_escape, text)
