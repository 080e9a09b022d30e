"""``status --check``: is detection working? One reason per problem; none means healthy."""

from __future__ import annotations

import os
import time
from typing import Any

from ..notify.outbox import pending
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
    if since is None:
        found.append("no successful scan recorded yet")
    elif since > limit:
        found.append(
            f"last successful scan {int(since)}s ago (more than twice scan_interval_seconds, {limit}s)"
        )
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
