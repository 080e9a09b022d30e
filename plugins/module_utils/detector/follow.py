"""``mail-bruteforce-guard follow``: the long-running detector over the same library and state as ``scan``.

One loop (``select.poll``) waits for the files' watcher (inotify, or a stat poll), ``journalctl -f`` and
the signals; each wake-up runs one *cycle* under the state lock: new lines through the scan's own step
(``session.Session``: read -> pipeline -> tracker -> release -> new bans -> one firewall batch), then the
lock is released, so ``ban``, ``unban``, ``restore``, ``status`` and a manual ``scan`` keep working. When
another command wrote state.json (its stat signature is not the one this daemon left), the daemon takes
the file as it is (bans, tracker, log positions) and reads on from its positions: what the CLI did is
kept, and no line is counted twice.

State is saved every ``follow_save_interval`` seconds when something changed, in the cycle that applied new
bans (see BAN_SAVE_DELAY), and on SIGTERM/SIGINT; after ``kill -9`` the restart re-reads at most what came
after the last save (the positions are saved with the tracker). SIGHUP reloads the config (a bad one: one
error line, the old one stays). ``Type=notify``: READY=1 once running, WATCHDOG=1 at half
``WATCHDOG_USEC``, STOPPING=1 on exit.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import heapq
import os
import select
import signal
import syslog
import time
from pathlib import Path
from typing import Any, Callable

from ..errors import ConfigError, LockedError, MbgError
from ..gcpause import paused_gc
from ..notify.events import Alerts, account_alert, failure_alert, unban_alert
from ..notify.outbox import queue_alerts
from ..printable import printable
from .config import Config
from .journaltrust import JournalTrust
from .logsource import FileSource
from .metrics import RunRecord, record, write_textfile
from .sdnotify import Notifier
from .session import Session, Tally
from .state import STATE_FILE, StateDir
from .tail import FileWatch, JournalFollower, stat_signature

Warn = Callable[[str], None]
INSTANCE_LOCK = "follow.lock"  # held for the daemon's life: a second follow exits 3
LOCK_WAIT = 30.0  # seconds a cycle waits for a ban/unban/restore/scan holding the state lock
MIN_GAP = 0.05  # seconds between two cycles: a burst of lines is read (and banned) in one batch
FLUSH_EVERY = 1.0  # while the correlator holds events, a cycle at least this often releases them
# A cycle reads at most this much of each source; a backlog (catch-up after a stop, a burst) takes as many
# cycles as it needs, one after the other, each settled like any cycle (bans applied, the state saved every
# follow_save_interval, the lock released in between). What a cycle holds beyond the state (the addresses it
# touched, its new bans and alerts) is then bounded by this, not by the backlog: one cycle over a backlog of
# 300,000 distinct attackers held 254 MiB, growing with the backlog (make bench: bench_follow.py's catch-up).
CYCLE_BYTES = 8 << 20
# New bans are saved in the cycle that applies them, so that an unban by hand finds them in the file (taken
# from a file without them, the daemon would read their lines again and ban once more). Only when a save costs
# more than 10 ms of CPU (a huge state) are they saved at most every BAN_SAVE_DELAY s or ten times that cost;
# the daemon keeps the state lock until then (a ban or unban by hand waits for that save).
BAN_SAVE_DELAY = 1.0
METRICS_EVERY = 5.0  # counters and the metrics file, when something happened
HEARTBEAT_EVERY = 30.0  # ... and at least this often (status --check: the last success stays fresh)


class _Once:
    """A warning sink that says each distinct message once until ``reset`` (a missing file is not news
    four times a second)."""

    def __init__(self, warn: Warn) -> None:
        self.warn = warn
        self.said: set[str] = set()

    def __call__(self, message: str) -> None:
        if message not in self.said:
            if len(self.said) > 1000:
                self.said.clear()
            self.said.add(message)
            self.warn(message)


class Follower:
    """The daemon. ``run()`` returns when a SIGTERM/SIGINT was handled; MbgError for a start-up failure."""

    def __init__(
        self,
        config: Config,
        *,
        reload: Callable[[], Config] | None = None,
        warn: Warn,
        journal_command: list | None = None,
        notifier: Notifier | None = None,
        watch_mode: str = "auto",
    ) -> None:
        if not config.logs and not config.journal:
            raise ConfigError("nothing to read: give log files ('logs', --log) or enable the journal")
        self.config = config
        self.reload_config = reload
        self.warn = warn
        self.quiet = _Once(warn)
        self.journal_command = journal_command
        self.notifier = notifier or Notifier()
        self.watch_mode = watch_mode
        self.store = StateDir(config.state_dir, warn)
        self.state_file = str(Path(config.state_dir, STATE_FILE))
        self.session: Session | None = None
        self.signature: tuple = ()
        self.known: set[str] = set()  # log paths that had a position: never their rotated files again
        self.unreadable: set[str] = set()  # configured logs told unreadable: told again only after a recovery
        self.watch: FileWatch | None = None
        self.journal: JournalFollower | None = None
        self.expiries: list[tuple[float, str]] = []
        self.stop = False
        self.hup = False
        self.instance_fd: int | None = None
        self.dirty = False
        self.saved_at = self.hook_at = self.watchdog_at = time.monotonic()
        self.metrics_at = float("-inf")  # the first record at once: status --check sees the daemon at work
        self.bans_unsaved = False
        self.holding = False  # the state lock kept from a cycle whose new bans are not saved yet
        self.save_seconds = 0.0  # CPU seconds the last save took
        self.busy = 0.0  # seconds spent in cycles since the last metrics record
        self.error: MbgError | None = None
        self.cycles = 0
        self.more = False  # the last cycle stopped at CYCLE_BYTES: the next one follows at once

    # ---- start and stop ------------------------------------------------------------------------

    def _take_instance_lock(self) -> None:
        self.store.ensure()
        path = str(Path(self.config.state_dir, INSTANCE_LOCK))
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as err:
            raise MbgError(f"cannot open lock file {path}: {err.strerror or err}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise LockedError(f"another mail-bruteforce-guard follow holds {path}") from None
            raise MbgError(f"cannot lock {path}: {err.strerror or err}") from None
        self.instance_fd = fd

    def _adopt(self, now: float) -> None:
        """Take state.json as it is now (at start, after another command wrote it, after a reload)."""
        state = self.store.load()
        self.signature = stat_signature(self.state_file)
        self.session = Session(self.config, state, self.store, now=now, warn=self.quiet)
        self.known |= set(state["logs"])
        self.expiries = [
            (float(entry.get("until", 0)), address)
            for address, entry in state["bans"].items()
            if float(entry.get("until", 0)) > now
        ]
        heapq.heapify(self.expiries)
        if self.config.journal:
            self._open_journal(state)

    def _open_journal(self, state: dict) -> None:
        if self.journal is not None:
            self.journal.close()
        self.journal = JournalFollower(
            state["journal"],
            command=self.journal_command,
            warn=self.quiet,  # a journalctl that keeps failing is said once
            trust=JournalTrust(self.config.journal_trusted),
        )
        self.journal.ensure(time.monotonic())

    def run(self) -> None:
        """Start, loop until told to stop, save and say STOPPING."""
        self._take_instance_lock()
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        old = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        }
        old_fd = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        try:
            with self.store.lock(wait=LOCK_WAIT, tick=self._ping):
                self._adopt(time.time())
            self._open_sources_files()
            self._log(syslog.LOG_INFO, f"follow started ({self.watch.kind}; state {self.config.state_dir})")
            self.notifier.ready(f"following {self._what()}")
            self._loop(wake_r)
        finally:
            self.notifier.stopping()
            signal.set_wakeup_fd(old_fd)
            for sig, handler in old.items():
                signal.signal(sig, handler)
            os.close(wake_r)
            os.close(wake_w)
            try:
                self._final()
            finally:
                self._close()

    def _open_sources_files(self) -> None:
        if self.watch is not None:
            self.watch.close()
        # state.json too: a ban, unban or scan by hand wakes the daemon, which takes the file at once (and
        # tells the end of a ban made by hand); its own saves wake it once for nothing
        self.watch = FileWatch(
            [*self.config.logs, self.state_file],
            mode=self.watch_mode,
            interval=self.config.follow_poll_interval,
        )

    def _what(self) -> str:
        parts = list(self.config.logs) + (["journal"] if self.config.journal else [])
        return ", ".join(parts)

    def _final(self) -> None:
        """On the way out: the lines written so far, and the state saved (SIGTERM, SIGINT, an error)."""
        if self.session is None:
            return
        try:
            self._cycle(force_save=True)
        except MbgError as err:
            self.warn(f"state not saved on exit: {err}")
        self._write_metrics(time.time(), force=True)
        self._log(syslog.LOG_INFO, "follow stopped")

    def _close(self) -> None:
        if self.holding:
            self.store.unlock()
            self.holding = False
        if self.watch is not None:
            self.watch.close()
        if self.journal is not None:
            self.journal.close()
        self.notifier.close()
        if self.instance_fd is not None:
            os.close(self.instance_fd)
            self.instance_fd = None

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if signum == signal.SIGHUP:
            self.hup = True
        else:
            self.stop = True

    def _log(self, priority: int, message: str) -> None:
        if self.config.syslog:
            from ..firewall.enforce import SYSLOG_FACILITY, SYSLOG_IDENT  # noqa: PLC0415

            syslog.openlog(SYSLOG_IDENT, syslog.LOG_PID, SYSLOG_FACILITY)
            syslog.syslog(priority, message)

    # ---- the loop ------------------------------------------------------------------------------

    def _loop(self, wake_r: int) -> None:  # noqa: PLR0912, PLR0915 - the one poll loop: watches, journal, signals, timers
        poller = select.poll()
        poller.register(wake_r, select.POLLIN)
        registered: dict[str, int | None] = {"watch": None, "journal": None}
        last_cycle = 0.0
        woke = True  # the first cycle reads what was written while the daemon was not running
        while not self.stop:
            for name, source in (("watch", self.watch), ("journal", self.journal)):
                fd = source.fileno() if source is not None else None
                if fd != registered[name]:
                    if registered[name] is not None:
                        with contextlib.suppress(KeyError, ValueError):
                            poller.unregister(registered[name])
                    if fd is not None:
                        poller.register(fd, select.POLLIN | select.POLLHUP)
                    registered[name] = fd
            mono = time.monotonic()
            woke = woke or self.more
            if woke and not self.more and mono - last_cycle < MIN_GAP:  # gather the rest of a burst first
                time.sleep(MIN_GAP - (mono - last_cycle))
                mono = time.monotonic()
            hook_due = mono - self.hook_at >= self.config.follow_hook_interval
            flush_due = (
                self.session is not None
                and self.session.pipeline.holding()
                and (mono - last_cycle >= FLUSH_EVERY)
            )
            expiry_due = bool(self.expiries) and self.expiries[0][0] <= time.time()
            save_due = self.dirty and mono - self.saved_at >= self.config.follow_save_interval
            ban_save_due = self.bans_unsaved and mono - self.saved_at >= self._ban_save_gap()
            if woke or hook_due or flush_due or expiry_due or save_due or ban_save_due:
                started = time.monotonic()
                try:
                    self._cycle(check_hook=hook_due)
                    self.error = None
                except MbgError as err:
                    self.error = err
                    self.warn(str(err))
                    self._tell([failure_alert("scan", str(err), time.time())])
                last_cycle = time.monotonic()
                self.busy += last_cycle - started
                if hook_due:
                    self.hook_at = last_cycle
            self._write_metrics(time.time())
            self._ping()
            if self.hup:
                self.hup = False
                self._reload()
                continue
            timeout = self._timeout(last_cycle)
            ready = poller.poll(None if timeout is None else max(0, int(timeout * 1000) + 1))
            woke = False
            for fd, _mask in ready:
                if fd == wake_r:
                    with contextlib.suppress(OSError):
                        os.read(wake_r, 512)
                elif fd == registered["watch"]:
                    woke = self.watch.pending() or woke
                else:
                    woke = True
            if self.journal is not None:
                self.journal.ensure(time.monotonic())
            if self.watch is not None and self.watch.needs_polling and self.watch.changed():
                woke = True

    def _timeout(self, last_cycle: float) -> float | None:
        """Seconds until the next timed job (None: none; the watcher and the signals wake the loop)."""
        if self.more:  # catching up: the next cycle at once (the poll only takes in signals)
            return 0.0
        mono = time.monotonic()
        due = [self.hook_at + self.config.follow_hook_interval] if self._hooked() else []
        if self.notifier.watchdog_interval:
            due.append(self.watchdog_at + self.notifier.watchdog_interval)
        if self.dirty:
            due.append(self.saved_at + self.config.follow_save_interval)
        if self.bans_unsaved:
            due.append(self.saved_at + self._ban_save_gap())
        if self.session is not None and self.session.pipeline.holding():
            due.append(last_cycle + FLUSH_EVERY)
        due.append(self.metrics_at + (METRICS_EVERY if self._news() else HEARTBEAT_EVERY))
        if self.expiries:
            due.append(mono + max(0.0, self.expiries[0][0] - time.time()))
        if self.watch is not None and self.watch.needs_polling:
            due.append(mono + self.watch.interval)
        if self.journal is not None and self.journal.proc is None:
            due.append(mono + JournalFollower.RESTART_DELAY)
        return max(0.0, min(due) - mono) if due else None

    def _hooked(self) -> bool:
        config = self.config
        return config.mode == "enforce" and bool(config.ban_hook)

    def _ping(self) -> None:
        interval = self.notifier.watchdog_interval
        if interval and time.monotonic() - self.watchdog_at >= interval * 0.9:
            self.notifier.watchdog()
            self.watchdog_at = time.monotonic()

    # ---- one cycle -----------------------------------------------------------------------------

    def _cycle(self, *, check_hook: bool = False, force_save: bool = False) -> None:
        """New lines -> the shared step -> bans; the state saved when due. Alerts after the lock."""
        alerts = Alerts()
        stale: list = []
        with self._state_lock(), paused_gc():
            now = time.time()
            if stat_signature(self.state_file) != self.signature:  # another command wrote it
                self._adopt(now)
            session = self.session
            config = self.config
            self.more = False
            for path in config.logs:
                source = FileSource(
                    path,
                    session.state["logs"].get(path),
                    rotated=config.read_rotated and path not in self.known,
                    warn=self.quiet,
                    limit=CYCLE_BYTES,
                )
                before = session.state["logs"].get(path)
                session.read(source, now, between=self._ping)
                self.more = self.more or source.more
                alerts += self._readable(path, source.ok, now)
                if source.position is not None:
                    self.known.add(path)
                    if source.ok and self.quiet.said:  # its next trouble is news again
                        self.quiet.said = {m for m in self.quiet.said if path not in m}
                self.dirty = self.dirty or source.position != before
            if self.journal is not None:
                before = session.tally.lines
                self.journal.limit = CYCLE_BYTES
                session.read(self.journal, now, between=self._ping)
                self.more = self.more or self.journal.more
                self.dirty = self.dirty or session.tally.lines != before
            new_bans, stale, failure = session.settle(now, check_hook=check_hook)
            for ban in new_bans:
                heapq.heappush(self.expiries, (ban.until, ban.address))
            if new_bans:
                self.bans_unsaved = self.dirty = True
            alerts += session.tally.alerts
            alerts += [
                account_alert(a.alert, a.username, a.ips, now) for a in session.tracker.account_alerts()
            ]
            session.tally.alerts = Alerts()
            session.tracker.start_round()
            alerts += self._expired(now)
            mono = time.monotonic()
            if self.dirty and (
                force_save
                or failure is not None
                or mono - self.saved_at >= self.config.follow_save_interval
                or (self.bans_unsaved and mono - self.saved_at >= self._ban_save_gap())
            ):
                self._save()
            self.cycles += 1
        if stale:
            from .api import _log_stale  # noqa: PLC0415 - the scan's syslog line, once

            _log_stale(stale, self.config, False)
        self._tell(alerts)
        if failure is not None:
            raise failure

    def _readable(self, path: str, ok: bool, now: float) -> list:
        """The failure alert of a configured log that cannot be read (as a scan raises it), once until the
        log is readable again: the daemon reads it every cycle, and a log that vanished (a broken rotation, a
        moved mount) stops detection without any other sign."""
        if ok:
            self.unreadable.discard(path)
            return []
        if path in self.unreadable:
            return []
        self.unreadable.add(path)
        return [failure_alert("log", f"cannot read {path}", now)]

    @contextlib.contextmanager
    def _state_lock(self):
        """The state lock for one cycle, kept after it while new bans are applied but not saved yet (a huge
        state saves them at most every BAN_SAVE_DELAY s): an unban by hand in between found no ban in the
        file, lifted it from the firewall only, and the daemon, taking that file, read the lines again and
        banned once more. A ``ban``/``unban`` waits for that save instead."""
        if not self.holding:
            self.store.lock(wait=LOCK_WAIT, tick=self._ping)
            self.holding = True
        done = False
        try:
            yield
            done = True
        finally:
            if not (done and self.bans_unsaved):
                self.store.unlock()
                self.holding = False

    def _ban_save_gap(self) -> float:
        cost = self.save_seconds
        return 0.0 if cost < 0.01 else min(BAN_SAVE_DELAY, 10 * cost)

    def _save(self) -> None:
        started = time.process_time()
        session = self.session
        session.tracker.maybe_prune(session.tracker.clock)
        session.finish()
        self.store.save(session.state)
        # finish() put the tracker's lazy view into the state: the live tracker goes on from here
        self.signature = stat_signature(self.state_file)
        self.saved_at = time.monotonic()
        self.save_seconds = time.process_time() - started  # CPU: the fsync's wait costs nothing
        self.dirty = self.bans_unsaved = False

    def _expired(self, now: float) -> list:
        """Unban alerts for the bans of the state that ended since the last look (each once)."""
        out = []
        bans = self.session.state["bans"]
        while self.expiries and self.expiries[0][0] <= now:
            until, address = heapq.heappop(self.expiries)
            entry = bans.get(address)
            if entry is None:
                continue
            end = float(entry.get("until", 0))
            if end > now:  # extended meanwhile: its new end is in the heap too
                continue
            if abs(end - until) < 1e-6:
                out.append(unban_alert(address, now))
        return out

    def _tell(self, alerts: Alerts) -> None:
        if not alerts:
            return
        try:
            queue_alerts(self.config, alerts, now=time.time(), warn=self.warn)
        except (MbgError, OSError) as err:
            self.warn(f"alerts not queued: {err}")

    def _news(self) -> bool:
        tally = self.session.tally if self.session is not None else None
        return tally is not None and bool(tally.lines or tally.bans)

    def _write_metrics(self, now: float, force: bool = False) -> None:
        """Every METRICS_EVERY seconds when lines came, every HEARTBEAT_EVERY seconds otherwise."""
        mono = time.monotonic()
        every = METRICS_EVERY if self._news() else HEARTBEAT_EVERY
        if self.session is None or (not force and mono - self.metrics_at < every):
            return
        tally, self.session.tally = self.session.tally, Tally()
        from .api import _error_kind  # noqa: PLC0415

        run = RunRecord(
            self.error is None,
            round(self.busy, 3),
            tally.lines,
            tally.events,
            tally.bans,
            tally.failures,
            _error_kind(self.error),
            tally.cut,
        )
        self.busy = 0.0
        self.metrics_at = mono
        try:
            data = record(self.config.state_dir, run, now)
            if self.config.metrics_file:
                write_textfile(
                    self.config.metrics_file,
                    data,
                    self.session.state["bans"],
                    state_dir=self.config.state_dir,
                    now=now,
                    warn=self.warn,
                )
        except OSError as err:
            self.warn(f"run counters not written: {err.strerror or err}")

    # ---- SIGHUP --------------------------------------------------------------------------------

    def _reload(self) -> None:
        """Read the config again; a bad one is one error line and the old one stays."""
        if self.reload_config is None:
            return
        self.notifier.reloading()
        try:
            config = self.reload_config()
            if config.state_dir != self.config.state_dir:
                raise ConfigError("state_dir cannot change while following (restart the daemon)")
            if not config.logs and not config.journal:
                raise ConfigError("nothing to read: give log files ('logs') or enable the journal")
        except MbgError as err:
            self.warn(f"config not reloaded, keeping the running one: {printable(str(err))}")
            self.notifier.ready()
            return
        try:
            self._cycle(force_save=True)  # what the old config read is saved with it
        except MbgError as err:
            self.warn(str(err))
        self.config = config
        self.session = None
        with self.store.lock(wait=LOCK_WAIT, tick=self._ping):
            self._adopt(time.time())  # the tracker again, under the new policy
        self._open_sources_files()
        self._log(syslog.LOG_INFO, f"config reloaded; following {self._what()}")
        self.notifier.ready(f"following {self._what()}")


def follow(
    config: Config,
    *,
    reload: Callable[[], Config] | None = None,
    warn: Warn,
    journal_command: list | None = None,
) -> None:
    """Run the daemon until SIGTERM/SIGINT (see the module's docstring)."""
    Follower(config, reload=reload, warn=warn, journal_command=journal_command).run()
