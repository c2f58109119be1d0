"""`shipper run`: start the pipeline, talk to systemd, reload on SIGHUP, stop on SIGTERM/SIGINT.

With --once: read what is there now, deliver it, exit; within `timeout` seconds (default
ONCE_TIMEOUT), else exit 1 naming what was not delivered. A refusal by every output that holds
batches ends it early: waiting would not help.
"""
from __future__ import annotations

import errno
import gc
import logging
import os
import selectors
import signal
import time

import orjson

from shipper import journal_backlog, log as shipper_log
from shipper.config import Config
from shipper.env_seconds import env_seconds
from shipper.failures import failing_sources
from shipper.hangup import LOOK_EVERY, Hangups
from shipper.notify import Notifier
from shipper.pipeline import Pipeline
from shipper.plugin import EndRun
from shipper.rates import Rates
from shipper.secrets import redact_obj
from shipper.source_runner import ONCE_COMMIT_BUDGET
from shipper.tail import clock_watch

log = logging.getLogger("shipper.run")

CHECK_EVERY = 1.0  # seconds between the main loop's checks (rates, wedged outputs, deferred restarts)
# ... and while nothing was read or shipped for the rates' window and no reload waits: an idle agent's
# main thread then wakes once in this many seconds (issue 23: wake-ups of an idle host agent).
IDLE_CHECK_EVERY = 5.0
# An output holding batches that shows no progress at all (no ack, no error, no retry counted) for
# this long is wedged: the watchdog pings stop and systemd restarts the agent (WatchdogSec later).
# SHIPPER_STALL_SECONDS changes it (outputs with long retry backoffs need more).
STALL_AFTER = 180.0
ONCE_TIMEOUT = 300.0  # `run --once` gives up after this long (--timeout)


def stall_after() -> float:
    return env_seconds("SHIPPER_STALL_SECONDS", STALL_AFTER)


class Daemon:
    def __init__(self, config: Config, once: bool = False, progress: bool = False, timeout: float = ONCE_TIMEOUT):
        self.config = config
        self.once = once
        self.once_timeout = timeout
        self.notifier = Notifier()
        self.pipeline = Pipeline(config, once=once)
        self.http = None
        self.stop_signal: int | None = None
        self.reload_requested = False
        self.reload_error: str | None = None
        self.stalled: list[str] = []  # why the pipeline is wedged (the systemd watchdog is not pinged)
        self.overdue: list[str] = []  # sources a reload left waiting past their deadline
        self.rates = Rates(self.pipeline)
        self._rate = (0.0, 0.0)
        self._stall_log = shipper_log.Throttled(log, interval=300.0)
        self._progress = progress
        self._stall_after = stall_after()
        self._failing_noted: bytes | None = b"{}"  # the failing sources the status snapshot holds (None: unknown)
        self._hup_named = False  # under --once: a SIGHUP was said to be ignored (_hup_under_once)
        self.hangups = Hangups(ignored_at_start=False)  # (run's, from the process's start, replaces it)

    # Signal handlers only set flags; the signal also wakes the main loop (signal.set_wakeup_fd).
    def _on_stop(self, signum, _frame) -> None:
        if self.stop_signal is not None:
            # Second signal: leave at once. Checkpoints are SQLite transactions, so they stay consistent;
            # what was in flight is not acknowledged and is read again next start.
            log.warning("second signal: exiting without waiting for in-flight batches",
                        extra={"signal": signal.Signals(signum).name})
            self.pipeline.say_in_flight()
            journal_backlog.exit_now()
            os._exit(1)
        log.info("stopping", extra={"signal": signal.Signals(signum).name})
        # Its deadline counts from here, also when it comes during a reload (Pipeline.stop, Reloads._close_grace).
        self.pipeline.stop_asked = time.monotonic()
        self.stop_signal = signum

    def _on_hup(self, signum, frame) -> None:
        if self.hangups.is_hangup():
            self._on_hangup(signum, frame)
            return
        self.reload_requested = True

    def _on_hangup(self, signum, frame) -> None:
        """The terminal the agent was started from went away (shipper.hangup)."""
        if self.hangups.ignored_at_start:
            log.warning("the terminal hung up (SIGHUP): started under nohup, the agent runs on; a later SIGHUP "
                        "reloads the config")
            return
        log.warning("the terminal hung up (SIGHUP): stopping as at SIGTERM; what is not delivered is read again at "
                    "the next start (run it under systemd, or nohup, to outlive the terminal)")
        self._on_stop(signum, frame)

    def summary(self) -> str:
        p = self.pipeline
        failed = [n for n, r in list(p.runners.items()) if r.error is not None]
        parts = [f"{len(p.runners)} sources, {len(p.workers)} outputs, "
                 f"{self._rate[0]:.0f} events/s in, {self._rate[1]:.0f} events/s out"]
        if failed:
            parts.append(f"failed sources: {','.join(failed)}")
        if self.stalled:
            parts.append(f"wedged: {self.stalled[0]}")
        if self.reload_error:
            parts.append(self.reload_error)
        return "; ".join(parts)

    def _start_http(self, listen: str):
        endpoint = self._bind_http(listen)
        endpoint.start()
        return endpoint

    def _bind_http(self, listen: str):
        """The endpoint, its socket bound, not serving yet (start())."""
        from shipper.http_endpoint import HttpEndpoint

        return HttpEndpoint(self.pipeline, listen, health_extra=lambda: self.stalled + self.overdue)

    def _move_http(self, listen: str | None) -> None:
        """The endpoint moved to `listen` (None: none). The new address is bound before the old endpoint closes:
        a refusal (a port in use) keeps the old one serving, and raises. Only when the old one may be what
        holds the address (the same port on another address) is it let go first, and brought back if the
        new one is refused all the same."""
        old = self.http
        if listen is None:
            if old is not None:
                old.close()
                self.http = None
            return
        try:
            new = self._bind_http(listen)
        except OSError as e:
            if old is None or e.errno != errno.EADDRINUSE:
                raise
            old.close()
            self.http = None
            try:
                new = self._bind_http(listen)
            except OSError:
                self.http = self._start_http(old.listen)  # back where it was (its address is free again)
                raise
        if self.http is not None:
            self.http.close()
        self.http = new
        new.start()

    def run(self, early_hups: list[int] | None = None, hangups: Hangups | None = None) -> int:
        """early_hups: SIGHUPs received before the handler was set; hangups: the terminal as it was at the
        process's start (shipper.hangup)."""
        self.hangups = hangups or Hangups(ignored_at_start=False)
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)  # (under --once: named, not applied: _hup_under_once)
        # Continued after a stop (SIGSTOP): the tailers looked at nothing meanwhile (shipper/tail/clock_watch.py).
        signal.signal(signal.SIGCONT, lambda _signum, _frame: clock_watch.continued())
        clock_watch.start_watch()  # (and frozen without a signal, or starved: the same)
        if early_hups:
            self._on_hup(signal.SIGHUP, None)  # asked for before this handler was there
        if self.config.settings.http and not self.once:
            try:
                self.http = self._start_http(self.config.settings.http.listen)
            except (OSError, ValueError) as e:
                log.error("cannot start the http endpoint", extra={"listen": self.config.settings.http.listen,
                                                                   "error": str(e)})
                return 1
        if self.once:
            return self._run_once()
        # Asleep until a signal or the next check: an idle agent's main thread wakes once a second
        # (and as often as systemd's watchdog wants a ping), not every fraction of one. Made before the
        # sources start, which may take every descriptor the limit leaves (their opens are retried).
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        woken = selectors.DefaultSelector()
        woken.register(wake_r, selectors.EVENT_READ)
        self._start()
        previous = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        # A reload or a check that waits on the checkpoint database (a commit stuck on a frozen filesystem
        # holds it) gives up at a stop signal: the stop must win (it waited until systemd's SIGKILL).
        try:
            with self.pipeline.store.cut_by(lambda: self.stop_signal is not None):
                next_check = 0.0
                while self.stop_signal is None and self.pipeline.ended() is None:
                    now = time.monotonic()
                    timeout = next_check - now
                    if self.notifier.watchdog_interval is not None:
                        timeout = min(timeout, self.notifier.watchdog_interval)
                    if self.hangups.watching:
                        timeout = min(timeout, LOOK_EVERY)
                    if timeout > 0 and woken.select(timeout):
                        try:
                            os.read(wake_r, 4096)
                        except BlockingIOError:
                            pass
                    if self.stop_signal is not None:
                        break
                    if self.hangups.look():
                        log.info("the terminal went away without a hang-up signal (its session ended): a SIGHUP "
                                 "reloads the config")
                    if self.reload_requested:
                        self.reload_requested = False
                        self._reload()
                    now = time.monotonic()
                    if now >= next_check:
                        self._check(now)
                        next_check = now + (IDLE_CHECK_EVERY if self._quiet() else CHECK_EVERY)
                    if not self.stalled and self.notifier.watchdog_due(now):
                        self.notifier.ping(now)
        finally:
            signal.set_wakeup_fd(previous)
            woken.close()
            os.close(wake_r)
            os.close(wake_w)
        return self._shutdown()

    def _start(self) -> None:
        self.rates.sample(time.monotonic())  # counters are 0 here: the first rate covers the first burst
        # Events are short-lived dicts in the hundreds of thousands per second: the default cyclic GC
        # thresholds make it rescan them constantly (~20% of the run). Objects alive at start-up are
        # frozen out of its reach and collections made rarer; reference counting still frees events.
        gc.freeze()
        gc.set_threshold(100_000, 50, 1000)
        self.pipeline.start()
        self.notifier.status("starting: the sources take their first look")
        self.pipeline.await_first_looks("started", self._stopping)
        log.info("started", extra={"sources": len(self.pipeline.runners), "outputs": len(self.pipeline.workers),
                                   "once": self.once, "config": self.config.path})
        self.notifier.ready(self.summary())

    def _stopping(self) -> bool:
        """Asked during a wait of the start (systemd's watchdog fed meanwhile): True when a stop signal came."""
        if self.notifier.watchdog_due():
            self.notifier.ping()
        return self.stop_signal is not None

    def _check(self, now: float) -> None:
        self._rate = self.rates.sample(now)
        self.pipeline.tick(now)  # restarts a reload deferred; the checkpoint database compacted hourly
        self.pipeline.retire_idle_pools(now)
        self.pipeline.check_vendor_gaps(now)
        self.stalled = self.pipeline.stalled(self._stall_after, now)
        # A source a reload left waiting past its deadline: named (journal, /health) but not a wedge for the
        # systemd watchdog: an output retrying through an outage holds such a wait as long as the outage
        # lasts, and a restart of the agent by systemd would only repeat what was in flight.
        self.overdue = self.pipeline.reloads.overdue(now)
        self._note_failing()
        if self.stalled:
            self._stall_log.failure("pipeline wedged: watchdog pings stopped", reason="; ".join(self.stalled))
        else:
            self._stall_log.recovered("pipeline made progress again: watchdog pings resumed")
        self.notifier.status(self.summary())

    def _quiet(self) -> bool:
        """Nothing read or shipped over the rates' window, nothing wedged or waiting on a reload."""
        return (self._rate == (0.0, 0.0) and not self.stalled and not self.overdue
                and not self.pipeline.reloads.draining and not self.reload_requested)

    def _note_failing(self) -> None:
        """Hand the sources failing now to the checkpoint writer when they changed: its snapshot is what
        `shipper status` reads when there is no http endpoint to ask (/health lists the same)."""
        failing = failing_sources(self.pipeline)
        said = orjson.dumps({n: [e.get(k) for k in ("kind", "scope", "since", "message")] for n, e in failing.items()},
                            option=orjson.OPT_SORT_KEYS, default=str)
        if said != self._failing_noted:
            self._failing_noted = said if self.pipeline.store.note_failing(redact_obj(failing)) else None

    def _wait_slice(self, seconds: float) -> bool:
        """Sleep during a reload's drain; keep systemd's watchdog fed. True = stop requested."""
        time.sleep(seconds)
        if self.notifier.watchdog_due():
            self.notifier.ping()
        return self.stop_signal is not None

    def _reload(self) -> None:
        from shipper.reload import reload

        self.notifier.reloading()
        log.info("reloading", extra={"config": self.config.path})
        result = reload(self.pipeline, self.config.path, self._wait_slice)
        if result.ok and result.config is not None:  # ok: it carries the config applied
            self.config = result.config
            self.reload_error = None if not result.problems else result.message
            lcfg = self.config.settings.logging
            shipper_log.setup(lcfg.level, lcfg.format)
            new_http = self.config.settings.http
            # Compared with where the endpoint is, not with the last config: a move refused before is tried again.
            listen = new_http.listen if new_http else None
            if (self.http.listen if self.http is not None else None) != listen:
                try:
                    self._move_http(listen)
                except (OSError, ValueError) as e:
                    kept = self.http.listen if self.http is not None else None
                    log.error("cannot start the http endpoint" + (f"; it stays on {kept}" if kept else ""),
                              extra={"listen": listen, "error": str(e)})
                    self.reload_error = f"http endpoint: cannot listen on {listen}: {e}" + (
                        f"; it stays on {kept}" if kept else "")
        else:
            self.reload_error = result.message
        self.notifier.ready(self.summary())  # READY=1 ends the RELOADING=1 state

    def _run_once(self) -> int:
        from shipper.progress import run_progress

        deadline = time.monotonic() + self.once_timeout
        gave_up = None
        with run_progress(self.pipeline, enabled=self._progress) as bar:  # measures before the start
            self._start()
            # Woken by the last source's end (a sleep between looks added half of it, ~25 ms, to every run).
            while (self.stop_signal is None and not self.pipeline.wait_finished(0.05) and gave_up is None
                   and not self.pipeline.ended()):
                bar.update()
                self._hup_under_once()
                gave_up = self._give_up(deadline)
            while (self.stop_signal is None and gave_up is None and not self.pipeline.ended()
                   and not self.pipeline.wait_delivered(0.2)):
                bar.update()
                self._hup_under_once()
                gave_up = self._give_up(deadline)
            bar.update()
            self._hup_under_once()
        if (ended := self.pipeline.ended()) is not None:
            return self._end(ended)
        left = [] if gave_up is None else self.undelivered()
        # Giving up waits no longer: what is not delivered stays unacknowledged and is read again next run.
        delivered = self.pipeline.stop(0.0 if gave_up else self.config.settings.shutdown_timeout)
        errors = self.pipeline.source_errors()
        for e in self.pipeline.source_bugs():
            log.error("source stopped with an error", extra={"error": e})
        if gave_up is not None:
            log.error(f"run --once: {gave_up}; not delivered (read again next run): {'; '.join(left) or 'nothing'}")
        return 0 if delivered and not errors and gave_up is None else 1

    def _hup_under_once(self) -> None:
        """A SIGHUP to `run --once` (a `systemctl reload` of a timer's unit, a script's kill -HUP): not applied,
        and said once; ignored without a word, the operator took the edit for applied."""
        if self.reload_requested and not self._hup_named:
            self._hup_named = True
            log.warning("SIGHUP ignored: run --once does not reload; the next run reads the config again")

    def _give_up(self, deadline: float) -> str | None:
        """Why `--once` stops waiting: its deadline passed, or every output holding batches is refused."""
        if time.monotonic() >= deadline:
            return f"timeout after {self.once_timeout:.0f}s (--timeout)"
        stuck = self.pipeline.store.stuck_for()
        if stuck is not None and stuck >= ONCE_COMMIT_BUDGET:  # as for failing commits: it would not end
            return (f"a checkpoint {self.pipeline.store.busy_with()} in {self.pipeline.store.path} has not returned "
                    f"for {stuck:.0f}s (is the state_dir's filesystem frozen, or its disk hung?)")
        holding = [w for w in self.pipeline.workers.values() if w.pending() or w.busy]
        if holding and all(w.refused for w in holding):
            return "refused by " + "; ".join(f"output {w.name}: {w.refused}" for w in holding)
        return None

    def undelivered(self) -> list[str]:
        """Per output holding batches and per source still reading or waiting for acks: what and why."""
        out = []
        for name, w in self.pipeline.workers.items():
            pending = w.pending()
            if pending or w.busy:
                why = w.error_now() or w.last_error
                out.append(f"output {name}: {pending} batches" + (f" ({why})" if why else ""))
        for name, r in self.pipeline.runners.items():
            in_flight = r.tracker.in_flight()
            if in_flight or not r.finished.is_set():
                owed = sorted(r.tracker.owed()) if in_flight else []
                out.append(f"source {name}: {in_flight} batches in flight"
                           + (f" (owed to output(s) {', '.join(owed)}, which a reload added)" if owed else "")
                           + ("" if r.finished.is_set() else ", not read to the end"))
        for name, events in self.pipeline.reloads.unread_again().items():
            out.append(f"source {name}: {events} events a reload took back, not read again yet")
        return out

    def _end(self, ended: EndRun) -> int:
        """An output or the checkpoint store gave up: stop at once (what was not acknowledged is read
        again next start) and exit with its code; 141 (stdout's reader left) quietly, like cat."""
        self.pipeline.stop(0.0, quiet=True)
        if self.http is not None:
            self.http.close()
        if ended.exit_code == 141:
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # no "Exception ignored" at exit's flush
        elif str(ended):
            log.error("stopping: %s", ended)
        return ended.exit_code

    def _shutdown(self) -> int:
        if (ended := self.pipeline.ended()) is not None:
            return self._end(ended)
        self.notifier.stopping(f"stopping: delivering in-flight batches (up to {self.config.settings.shutdown_timeout:.0f}s)")
        delivered = self.pipeline.stop(self.config.settings.shutdown_timeout)
        if self.http is not None:
            self.http.close()
        for e in self.pipeline.source_bugs():
            log.error("source stopped with an error", extra={"error": e})
        store_error = self.pipeline.store_error or next(
            (r.commit_error for r in self.pipeline.runners.values() if r.commit_error), None)
        if not delivered and store_error:
            # Delivered batches whose checkpoint the store refuses (a full state_dir) are repeated by the next
            # start: not "undelivered", and said so, for the operator and the auditor.
            # (A file deleted since, delivered or named lost by this run, is named lost again by the next start
            # from its last saved position: it cannot know. Said here, so that the auditor can match the two:
            # tests/tail/test_attack21_stop_full_state_dir_loss_named_twice.py.)
            # (The writer keeps the rows the full filesystem refused in room it set aside at its start, when it
            # could, and the next start saves them: shipper.refused_rows. Whether they fitted the agent cannot tell.)
            log.error("stopped while checkpoints cannot be saved: the next start saves those the checkpoint writer "
                      "kept in the room it set aside for them (checkpoints.refused); without that room, what was "
                      "delivered since the last saved checkpoint is read and sent again at the next start (a repeat), "
                      "and a file deleted since is named lost by the next start from its last saved position, though "
                      "this run delivered it or named its loss; what was not delivered is read again",
                      extra={"error": store_error,
                                           "in_flight": "; ".join(self.undelivered()) or "?"})
        elif not delivered:
            pushed = any(not r.source.rereads for r in self.pipeline.runners.values())
            log.error("stopped with batches undelivered; they are read again next start" if not pushed else
                      "stopped with batches undelivered; those of sources that read again are read again next "
                      "start, those of sources that cannot are lost (named above)",
                      extra={"undelivered": "; ".join(self.undelivered()) or "?"})
        log.info("stopped", extra={"delivered": delivered})
        # Nothing is lost when the timeout cuts delivery short (the checkpoints say where to resume; a source
        # that cannot read again had its loss named), but the operator must learn that data did not go out:
        # exit 1, and systemd shows the stop failed.
        return 0 if delivered else 1

