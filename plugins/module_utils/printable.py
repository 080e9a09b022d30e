"""Text for a terminal: control characters from log lines (usernames are the client's) escaped."""

from __future__ import annotations

import re

# C0 controls, DEL and C1 controls (ESC starts terminal sequences; "\x9b" is a one-byte CSI), the Unicode
# line and paragraph separators (a new line to many viewers) and the bidirectional formatting characters
# (they reorder what a terminal or viewer shows after them: a username could make another address appear)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control character written as ``\\xNN`` (``\\uNNNN`` above U+00FF; JSON output
    escapes them itself)."""
    return _CONTROL.sub(_escape, text)
