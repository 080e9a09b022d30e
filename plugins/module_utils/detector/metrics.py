"""Run counters (``metrics.json`` in the state directory) and the Prometheus textfile for node_exporter's
textfile collector (config key ``metrics_file``), written atomically after every scan.

``metrics.json`` is also what ``status --check`` reads: the time of the last successful scan.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

from ..notify.outbox import pending

COUNTERS = "metrics.json"
PREFIX = "mail_bruteforce_guard_"


class RunRecord(NamedTuple):
    """What one scan adds to the counters."""

    ok: bool
    seconds: float
    lines: int
    events: int
    bans: int
    failures: dict  # service -> failed attempts
    error: str  # the error's kind ("" when ok): log, backend, state, config, scan
    lines_too_long: int = 0  # skipped, longer than logsource.MAX_LINE (each counted once)


class ActiveBans(NamedTuple):
    """Bans in force at one time, by address family: all the metrics need of a state's bans (a scan counts
    them before it frees 100,000 bans)."""

    ipv4: int
    ipv6: int


def active_bans(bans: dict, now: float) -> ActiveBans:
    """The bans of a state's ``bans`` section still in force at ``now`` (damaged entries are not counted)."""
    active = {"ipv4": 0, "ipv6": 0}
    for address, entry in bans.items():
        try:
            if float(entry.get("until", 0)) > now:
                active["ipv6" if ":" in address else "ipv4"] += 1
        except (AttributeError, TypeError, ValueError):
            continue
    return ActiveBans(**active)


def _path(state_dir: str) -> str:
    return str(Path(state_dir) / COUNTERS)


def load(state_dir: str) -> dict[str, Any]:
    """The counters (empty ones when the file is missing or damaged: counters restart, never fail a scan)."""
    try:
        data = json.loads(Path(_path(state_dir)).read_bytes().decode("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    clean: dict[str, Any] = {}
    for key in ("counters", "failures", "errors"):  # damaged entries restart from zero
        table = data.get(key)
        if isinstance(table, dict):
            clean[key] = {k: v for k, v in table.items() if _number(v)}
    for key in ("last_run", "last_duration", "last_success"):
        if _number(data.get(key)):
            clean[key] = data[key]
    if isinstance(data.get("last_error"), str):
        clean["last_error"] = data["last_error"]
    return clean


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _write(path: str, text: str, mode: int) -> None:
    """Atomic: a new temp file of a random name (O_EXCL: a FIFO, symlink or hard link someone planted in the
    metrics directory is never opened), its mode set on the descriptor, fsync, rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{Path(path).name}.", suffix=".tmp", dir=str(Path(path).parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _add(table: dict, key: str, n: float) -> None:
    table[key] = table.get(key, 0) + n


def record(state_dir: str, run: RunRecord, now: float, unbans: int = 0) -> dict[str, Any]:
    """Add one run (or, with an empty run, only ``unbans``) to the counters and save them."""
    data = load(state_dir)
    counters = data.setdefault("counters", {})
    for key in ("runs", "lines", "events", "bans", "unbans"):
        counters.setdefault(key, 0)
    failures = data.setdefault("failures", {})
    errors = data.setdefault("errors", {})
    counters["runs"] += 1
    counters["lines"] += run.lines
    counters["events"] += run.events
    counters["bans"] += run.bans
    counters["unbans"] += unbans
    if run.lines_too_long:
        _add(counters, "lines_too_long", run.lines_too_long)
    for service, n in run.failures.items():
        _add(failures, service, n)
    data["last_run"] = now
    data["last_duration"] = run.seconds
    if run.ok:
        data["last_success"] = now
        data.pop("last_error", None)
    else:
        _add(errors, run.error or "scan", 1)
        data["last_error"] = run.error or "scan"
    _write(_path(state_dir), json.dumps(data, sort_keys=True), 0o600)
    return data


def count_unban(state_dir: str, n: int) -> None:
    """Manual unbans (outside a scan)."""
    if n:
        data = load(state_dir)
        _add(data.setdefault("counters", {}), "unbans", n)
        _write(_path(state_dir), json.dumps(data, sort_keys=True), 0o600)


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(
    data: dict[str, Any], bans: dict | ActiveBans, state_size: int, outbox: dict[str, Any], now: float
) -> str:
    """The exposition text (every metric with HELP and TYPE, counters ending in ``_total``); ``bans``: the
    state's bans, or their ``active_bans`` at ``now``."""
    counters = data.get("counters", {})
    active = (bans if isinstance(bans, ActiveBans) else active_bans(bans, now))._asdict()
    alerts = outbox.get("counts", {}).get("alerts", {})
    out: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        out.append(f"# HELP {PREFIX}{name} {help_text}")
        out.append(f"# TYPE {PREFIX}{name} {kind}")
        for labels, value in samples:
            # repr: the shortest exact form (":g" kept 6 digits: a timestamp rounded to ~3 hours)
            out.append(f"{PREFIX}{name}{labels} {value!r}")

    def labelled(label: str, table: dict) -> list[tuple[str, float]]:
        return [(f'{{{label}="{_escape(k)}"}}', v) for k, v in sorted(table.items())]

    metric("active_bans", "gauge", "Bans in force now, by address family.", labelled("family", active))
    metric("bans_total", "counter", "Bans decided by scans.", [("", counters.get("bans", 0))])
    metric("unbans_total", "counter", "Bans lifted by hand.", [("", counters.get("unbans", 0))])
    metric(
        "failures_total",
        "counter",
        "Failed login attempts read, by service.",
        labelled("service", data.get("failures", {})),
    )
    metric(
        "events_total", "counter", "Log events that reached the policy.", [("", counters.get("events", 0))]
    )
    metric(
        "alerts_total", "counter", "Alerts raised (after de-duplication), by kind.", labelled("kind", alerts)
    )
    metric("lines_read_total", "counter", "Log lines read.", [("", counters.get("lines", 0))])
    metric(
        "lines_too_long_total",
        "counter",
        "Log lines skipped for being too long.",
        [("", counters.get("lines_too_long", 0))],
    )
    metric("runs_total", "counter", "Scans run.", [("", counters.get("runs", 0))])
    metric(
        "errors_total", "counter", "Failed scans, by kind of error.", labelled("kind", data.get("errors", {}))
    )
    metric(
        "last_success_timestamp_seconds",
        "gauge",
        "When the last scan succeeded (POSIX seconds).",
        [("", float(data.get("last_success", 0)))],
    )
    metric(
        "run_duration_seconds",
        "gauge",
        "How long the last scan took.",
        [("", float(data.get("last_duration", 0)))],
    )
    metric("state_size_bytes", "gauge", "Size of state.json.", [("", state_size)])
    metric(
        "notify_queued",
        "gauge",
        "Alerts waiting in the outbox, by notifier.",
        labelled("notifier", outbox.get("queued", {})),
    )
    return "\n".join(out) + "\n"


def write_textfile(
    path: str, data: dict[str, Any], bans: dict | ActiveBans, *, state_dir: str, now: float, warn
) -> None:
    """Render and write ``path`` atomically (0644: node_exporter reads it as another user); ``bans`` as
    ``render`` takes them."""
    try:
        size = (Path(state_dir) / "state.json").stat().st_size
    except OSError:
        size = 0
    try:
        _write(path, render(data, bans, size, pending(state_dir, warn), now), 0o644)
    except OSError as err:
        warn(f"cannot write the metrics file {path}: {err.strerror or err}")


def age(data: dict[str, Any], now: float | None = None) -> float | None:
    """Seconds since the last successful scan (None: never)."""
    last = data.get("last_success")
    if not isinstance(last, (int, float)):
        return None
    return (time.time() if now is None else now) - last
