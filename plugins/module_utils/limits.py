"""Bounds on every duration and time the detector accepts or stores: absurd values are refused where they
enter (a clear error, exit 2), so no stored value can make a later run overflow."""

from __future__ import annotations

# the longest ban, window or manual ban duration: ten years (a ban that long is a permanent one)
MAX_DURATION = 10 * 365 * 86400
# the latest time any state value may hold: 9999-12-31T23:59:59Z (datetime's and ISO 8601's last second)
MAX_TIME = 253402300799.0
