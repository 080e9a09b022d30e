"""The Event record every parser stage produces and the policy consumes."""

from __future__ import annotations

from typing import NamedTuple, Optional

AUTH_FAILURE = "auth_failure"
AUTH_SUCCESS = "auth_success"


class Event(NamedTuple):
    """One recognised mail-log event; counted kinds are AUTH_FAILURE (weighted by count) and AUTH_SUCCESS."""

    line: int
    time: Optional[float]
    ip: Optional[str]
    kind: str
    service: str
    protocol: Optional[str]
    user: Optional[str]
    count: int = 1
    pid: Optional[int] = None
