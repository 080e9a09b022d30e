"""``status --check``: is detection working? One reason per problem; none means healthy."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from ..notify.outbox import pending
from .follow import HEARTBEAT_EVERY, INSTANCE_LOCK
from .metrics import age, load

UNDELIVERED_MAX = 3600  # seconds an alert may wait in the outbox before the check complains


def problems(
    config: Any, firewall: dict[str, Any] | None, *, now: float | None = None, warn=None
) -> list[str]:
    """Reasons the detector is not healthy: no successful scan within twice ``scan_interval_seconds``, a
    configured log that cannot be read, the ban hook missing or contested (enforce mode with ``ban_hook``:
    another tool keeps putting a rule that may accept above its jump), alerts stuck in the outbox for more
    than an hour."""
    now = time.time() if now is None else now
    found = []
    since = age(load(config.state_dir), now)
    limit = 2 * config.scan_interval_seconds
    if following(config.state_dir):
        # the daemon records a run at least every HEARTBEAT_EVERY seconds, whatever the timer's period
        limit = max(limit, 2 * HEARTBEAT_EVERY)
        what, rule = "run of the follow daemon", f"it records one at least every {HEARTBEAT_EVERY:g}s"
    else:
        what, rule = "scan", "more than twice scan_interval_seconds"
    if since is None:
        found.append("no successful scan recorded yet")
    elif since > limit:
        found.append(f"last successful {what} {int(since)}s ago ({rule}, {limit:g}s)")
    for path in config.logs:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError as err:
            found.append(f"cannot read log {path}: {err.strerror}")
            continue
        os.close(fd)
    hooked = config.mode == "enforce" and config.ban_hook and firewall is not None
    if hooked and firewall.get("hook") == "contested":
        for item in firewall.get("contested") or [{}]:
            found.append(
                f"ban hook contested ({firewall.get('backend', '?')}, {item.get('family', '?')}): rule"
                f" {item.get('rule', '?')!r} keeps taking INPUT above our jump and may accept first; the"
                " guard stopped moving its jump (see docs/firewall.md, hook_trusted_chains)"
            )
    elif hooked and firewall.get("hook") != "attached":
        why = firewall.get("error") or f"hook {firewall.get('hook', 'unknown')}"
        found.append(f"ban hook not attached ({firewall.get('backend', '?')}): {why}")
    outbox = pending(config.state_dir, warn or (lambda _m: None))
    if outbox["oldest"] is not None and now - outbox["oldest"] > UNDELIVERED_MAX:
        found.append(f"alerts undelivered for {int(now - outbox['oldest'])}s (queued: {outbox['queued']})")
    return found


def following(state_dir: str, locks: str = "/proc/locks") -> bool:
    """True while a follow daemon holds its instance lock on this state directory. Read from the kernel's
    lock table, never by trying the lock: a probe could make a daemon starting that instant exit 3."""
    try:
        st = Path(state_dir, INSTANCE_LOCK).stat()
        table = Path(locks).read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    wanted = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in table.splitlines():
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 4242 00:2f:131075 0 EOF"; a waiter's line has "->" after the number
        if "FLOCK" in fields and len(fields) >= 6 and fields[-3] == wanted and "->" not in fields:
            return True
    return False
