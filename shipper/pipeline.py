"""Source → parser → router → outputs, in batches, with checkpoints moved only on acknowledgement.

The Pipeline holds the running parts and their lifecycle: it makes the output workers and the source
runners (shipper.source_runner), starts them, stops them (delivering what is in flight within the
shutdown timeout), keeps the checkpoint store's health and the periodic attestations. A reload is
applied by shipper.reload_apply, liveness judged by shipper.watchdog."""
from __future__ import annotations

import errno
import gc
import logging
import socket
import sqlite3
import threading
import time
from typing import Any, Callable

from shipper import allocator, parse_auto, registry, reload_apply
from shipper.acks import Committer
from shipper.checkpoint import MAIN_THREAD_WAIT, CheckpointStore, GivenUp
from shipper.config import Config
from shipper.config_base import OutputConfig
from shipper.log import Throttled
from shipper.metrics import OutputCounts, SourceCounts
from shipper.output_worker import CLOSE_PLUGINS, OUTPUT_CLOSE_TIMEOUT, OutputWorker, close_workers
from shipper.parse_workers import end_helpers
from shipper.plugin import (
    EndRun,
    OutputContext,
)
from shipper.router import Router
from shipper.source_runner import SourceRunner
from shipper.waking_event import WakingEvent
from shipper.watchdog import Watchdog

log = logging.getLogger("shipper.pipeline")

# A checkpoint commit takes milliseconds; one that has not returned for this long waits on its
# filesystem (frozen by a backup's fsfreeze, a hung disk): /health says so (503).
COMMIT_STUCK_AFTER = 10.0
# A stop whose deadline passed waits this much longer for a commit in progress, then leaves it behind.
COMMIT_GRACE_AT_STOP = 1.0
# The last second of a stop is the checkpoint store's: which outputs stored what (save_delivered_to) and
# the database's close; a wait in it past the stop's end gives the store up (named), the writer left behind.
STORE_AT_STOP = 1.0
COMPACT_EVERY = 3600.0  # seconds between checkpoint database compactions (and after every reload)
# The runner makes cyclic garbage collection rare for the events' churn (shipper.runner: thresholds
# 100,000/50/1000), so rare that objects which outlive two young collections are in practice never
# collected again. A source's runner, tailer, threads and watcher are reference cycles: each source
# a reload restarted left ~170 objects behind for ever, and the agent's memory grew ~0.3 MiB per
# reload (bench/README.md, soak). So a full collection runs after a reload lets runners go, and
# every FULL_COLLECT_EVERY seconds for anything else that forms cycles (a failed reload's parse, an
# exception kept with its traceback); it takes milliseconds over what is not frozen.
FULL_COLLECT_EVERY = 600.0
# The C heap's free pages go back to the system this often (shipper.allocator): an output's catch-up
# after an outage frees ~20 MiB within seconds, which glibc would otherwise keep resident. A trim
# takes a millisecond or two; what the agent touches again in a minute costs it a few page faults.
GIVE_BACK_EVERY = 60.0
# `started` (READY=1), and `reloaded` for the sources a reload starts, wait for each source's first look (a
# file source's listing of its files, each identified): after it, the live file renamed is a rotation of a
# followed file; before it, that file is found as a backup, history, skipped. A look that takes longer (a hung
# NFS folder) is named, not waited for: well under systemd's TimeoutStartSec (90 s), which would kill the agent.
FIRST_LOOK_WAIT = 30.0
FIRST_LOOK_SLICE = 0.1  # how often that wait asks whether to stop (and feeds the watchdog)


class Pipeline:
    def __init__(self, config: Config, once: bool = False):
        self.config = config
        self.once = once
        self.host_name = config.settings.host_name or socket.gethostname()
        self.store = CheckpointStore(config.state_dir)
        self.committer = Committer()  # commits every source's acknowledged checkpoints (shipper.acks)
        self.store_ok = threading.Event()  # clear while checkpoint commits fail: sources pause
        self.store_ok.set()
        self.store_error: str | None = None  # why, for /health
        self.store_failures = 0  # failed commits so far: a retrying store is alive, not wedged
        self.store_full = False  # the last failed commit found the state_dir's filesystem full
        self.reserve_freed = threading.Event()  # a stop gave the reserve's space back: commits try again now
        # The reserve given up while running, for held deleted files only reading frees (_lend_reserve): made again
        # once the commits go through and there is room
        self._reserve_lent = False
        self._store_log = Throttled(log)
        self.integrity_key = config.integrity_key
        self._attest_thread: threading.Thread | None = None
        self.pool_budget = parse_auto.PoolBudget()
        self.abandon = threading.Event()  # give up on in-flight batches (shutdown timeout, 2nd signal)
        # When a stop was asked for (time.monotonic(), the runner's signal): its deadline, shutdown_timeout, counts
        # from then, also for a reload it comes in (stop_left).
        self.stop_asked: float | None = None
        self.workers: dict[str, OutputWorker] = {}
        self.output_configs: dict[str, OutputConfig] = {}
        self.output_started: dict[str, float] = {}
        # Per source, per where (OutputConfig.where): the events the old server of a name a reload gave to another
        # server acknowledged during that reload's wait, for a later reload (or start) that gives an output that
        # where again (SourceRunner.park_elsewhere). Saved with the source's state as well, until a stop that
        # delivered everything (SourceRunner.forget_parked).
        self.notes_elsewhere: dict[str, dict[str, list[str]]] = {}
        for ocfg in config.outputs:
            self.workers[ocfg.name] = self.make_worker(ocfg)
            self.output_configs[ocfg.name] = ocfg
        self.router = Router([(o.match, self.workers[o.name]) for o in config.outputs])
        self.runners: dict[str, SourceRunner] = {c.name: SourceRunner(self, c, at_start=True) for c in config.sources}
        self._warned_tags: set[str] = set()
        self.watchdog = Watchdog(self)  # liveness: is anything wedged (systemd watchdog, /health)
        self.undelivered_for = self.watchdog.undelivered_for  # output → seconds busy without a delivery
        # the core cannot go on (checkpoints unwritable, an output that could not start, under --once)
        self.end: EndRun | None = None
        self.reloads = reload_apply.Reloads(self)  # what a reload left to finish (sources restarting later)
        self._compacted = time.monotonic()
        self._collected = time.monotonic()
        self._collect_due = False  # runners were let go: collect their cycles at the next tick
        self._state_dir_gone = False  # the state_dir was removed and could not be remade (check_state_dir)
        self._given_back = time.monotonic()
        # Per source, which outputs stored the batches a reload took back, when a stop signal cut the
        # reload's save of that note (SourceRunner.save_delivered_to): the stop saves it.
        self._notes_for_stop: dict[str, dict[str, Any]] = {}
        # Per source, the states a reload's let-go of what a stopped source held left to save, when a stop signal
        # cut that save (reload_apply._close_handed): the stop saves them.
        self._states_for_stop: dict[str, dict[str, Any]] = {}

    def make_worker(self, ocfg: OutputConfig) -> OutputWorker:
        """An output and its worker, not started nor routed to yet (a plugin that cannot be
        constructed raises here, before anything changed)."""
        stop = WakingEvent()  # wakes the idle worker at once; one per output, so a reload can stop just one
        ctx = OutputContext(name=ocfg.name, stop=stop, state_dir=self.config.state_dir,
                            logger=logging.getLogger(f"shipper.output.{ocfg.name}"), once=self.once)
        output = registry.load("output", ocfg.type)(ocfg, ctx)
        return OutputWorker(ocfg.name, output, ocfg.max_in_flight_batches, ocfg.max_in_flight_bytes, stop)

    # --- the components' counters, for their readers (rates, progress, /health, the watchdog) -----------

    def source_counts(self) -> list[SourceCounts]:
        """Each source's counters, kept by its runner (one per source: a draining runner and its successor
        share their source's)."""
        return [r.counts for r in list(self.runners.values())]

    def output_counts(self) -> list[OutputCounts]:
        """Each output's counters, kept by its worker."""
        return [w.counts for w in list(self.workers.values())]

    def warn_unrouted(self, tag: str) -> None:
        if tag not in self._warned_tags:
            self._warned_tags.add(tag)
            log.warning("no output matches this tag: its events are counted and not shipped", extra={"tag": tag})

    def _start_worker(self, name: str) -> None:
        # Recorded first: an output whose start() raised has no thread, which /health and the
        # watchdog then report (its batches wait, unacknowledged, so nothing is lost).
        self.output_started[name] = time.time()
        self.workers[name].start()

    def start(self) -> None:
        for name in self.workers:
            try:
                self._start_worker(name)
            except Exception as e:  # a plugin's start() (a folder missing, a bug): that output's, not a crash
                log.exception("output failed to start", extra={"output": name})
                if self.once:  # nothing would deliver to it this run: it ends (exit 1), read again next run
                    self.end = EndRun(f"output {name} failed to start: {type(e).__name__}: {e}")
        for r in self.runners.values():
            r.thread.start()
        if self.integrity_key is not None:
            self._start_attestations()

    def await_first_looks(self, saying: str, stopping: Callable[[], bool]) -> list[str]:
        """Before the agent says `saying` (started, reloaded): wait until every source has taken its first
        look (SourceRunner.looked), FIRST_LOOK_WAIT seconds at most; `stopping()` is asked every
        FIRST_LOOK_SLICE seconds (it may feed systemd's watchdog), True ends the wait. The sources that had
        not looked by the deadline are named (a file rotated before their look is taken for history, unread)
        and returned."""
        deadline = time.monotonic() + FIRST_LOOK_WAIT
        while True:
            waiting = [r for r in list(self.runners.values()) if not r.looked.is_set()]
            left = deadline - time.monotonic()
            if not waiting or stopping():
                return []
            if left <= 0:
                late = [r.cfg.name for r in waiting]
                log.warning(f"{saying} before source(s) {', '.join(late)} took their first look at what they read "
                            f"(still looking after {FIRST_LOOK_WAIT:.0f}s: a slow or hung filesystem?): a file "
                            "rotated before that look is taken for history and not read (its backups are skipped)",
                            extra={"sources": ",".join(late)})
                return late
            waiting[0].looked.wait(min(FIRST_LOOK_SLICE, left))

    # --- what a reload changes (shipper.reload_apply) ----------------------------------------------

    def add_output(self, ocfg: OutputConfig, worker: OutputWorker) -> None:
        """A worker from make_worker joins and starts (routed to once route() is called); raises
        what its start() raised (the worker stays, reported by /health and the watchdog)."""
        self.workers[ocfg.name] = worker
        self.output_configs[ocfg.name] = ocfg
        self._start_worker(ocfg.name)

    def drop_output(self, name: str) -> OutputWorker:
        """A closed output leaves: no longer watched or reported. Returns its worker (what it held)."""
        self.output_started.pop(name, None)
        self.output_configs.pop(name, None)
        self.watchdog.forget_output(name)
        return self.workers.pop(name)

    def let_go(self, r: SourceRunner) -> None:
        """A runner a reload stopped leaves: detached (its late acks move no checkpoint), its blocked
        puts given up, closed, out of the runners; what it held is collected at the next tick."""
        r.detached = True
        r.abandon.set()
        r.close()
        if self.runners.get(r.cfg.name) is r:
            del self.runners[r.cfg.name]
        self._collect_due = True

    def route(self, outputs: list[OutputConfig]) -> None:
        """Events go to these outputs, matched in this order (the config's; status shows it too)."""
        self.workers = {o.name: self.workers[o.name] for o in outputs if o.name in self.workers}
        self.router = Router([(o.match, self.workers[o.name]) for o in outputs if o.name in self.workers])
        self._warned_tags.clear()

    def use_integrity_key(self, key) -> None:
        """A reload's integrity key: kept chains go on sealed with a new key; turning integrity on or
        off applies to the sources (re)started from now on."""
        old, self.integrity_key = self.integrity_key, key
        if key is not None and self._attest_thread is None:
            self._start_attestations()
        if key is None or old is None or key == old:
            return
        for r in self.runners.values():
            r.seal_with(key)
        log.info("integrity key rotated: chains go on under the new key", extra={"key_id": key.id})

    def _start_attestations(self) -> None:
        self._attest_thread = threading.Thread(target=self._attest_periodically, name="attestations", daemon=True)
        self._attest_thread.start()

    def _attest_periodically(self) -> None:
        """Attestations at `integrity.attest_interval` per source, also while it reads nothing (its own
        thread: an attestation waits for room in the outputs like any batch)."""
        while not self.abandon.wait(1.0):
            interval = self.config.settings.integrity.attest_interval if self.config.settings.integrity else None
            if interval is None:
                continue
            now = time.time()
            for r in list(self.runners.values()):
                if r.stop.is_set():
                    continue
                r.end_stale_replay(time.monotonic(), interval)
                if r.attest_due(now, interval):
                    r.request_attestation("interval")
                r.attest_if_idle()

    def _attest_stop(self, deadline: float) -> None:
        """A last attestation per stopped source, within the stop's deadline."""
        for r in self.runners.values():
            if not r.thread.is_alive():
                r.attest_by("stop", deadline)

    def checkpoint_failed(self, source: str, e: BaseException) -> bool:
        """A commit failed. True if the store itself failed (a full or failing disk, the state_dir gone):
        every source pauses (store_ok). False if only this source's rows were refused (a constraint, a
        value too big: the others' commits go on): the caller pauses its source alone."""
        self.store_failures += 1
        if not _store_wide(e):
            return False
        self.store_full = _disk_full(e)
        if self.store_ok.is_set():
            self.store_error = f"checkpoints cannot be saved in {self.store.path}: {type(e).__name__}: {e}"
            self.store_ok.clear()
        self._store_log.failure("checkpoint commit failed; reading paused, retrying", source=source,
                                path=self.store.path, error=f"{type(e).__name__}: {e}")
        return True

    def checkpoint_saved(self, source: str) -> None:
        if not self.store_ok.is_set():
            self.store_error = None
            self.store_ok.set()
            self._store_log.recovered("checkpoints saved again; reading resumes", source=source)

    def checkpoint_trouble(self) -> str | None:
        """Why checkpoints are not being saved now (for /health), or None."""
        if self.store_error:
            return self.store_error
        refused = [r.commit_error for r in list(self.runners.values()) if r.commit_error and not r.detached]
        if refused:
            return "; ".join(refused)
        stuck = self.store.stuck_for()
        if stuck is not None and stuck >= COMMIT_STUCK_AFTER:
            return (f"a checkpoint {self.store.busy_with()} in {self.store.path} has not returned for {stuck:.0f}s (is "
                    "the state_dir's filesystem frozen, or its disk hung?); reading waits for it")
        return None

    def ended(self) -> EndRun | None:
        """Why the agent must end now (an output or the checkpoint store gave up), or None."""
        if self.end is not None:
            return self.end
        for w in list(self.workers.values()):
            if w.ended is not None:
                return w.ended
        return None

    def wait_finished(self, timeout: float) -> bool:
        """Whether every source finished (run --once), waiting up to `timeout` seconds: True as soon as the last
        one does."""
        deadline = time.monotonic() + timeout
        return all(r.finished.wait(max(0.0, deadline - time.monotonic())) for r in list(self.runners.values()))

    def wait_delivered(self, timeout: float | None) -> bool:
        """Whether every source's batches completed, waiting up to `timeout` seconds for them; those that cannot
        complete any more (AckTracker.wait_delivered) are not waited for, the other sources' still are."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delivered = True
        for r in list(self.runners.values()):
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not r.tracker.wait_delivered(left):
                delivered = False
        return delivered

    def stop_left(self) -> float | None:
        """Seconds left of the deadline of the stop asked for (shutdown_timeout from its signal), or None when no stop
        was asked for."""
        if self.stop_asked is None:
            return None
        return max(0.0, self.stop_asked + self.config.settings.shutdown_timeout - time.monotonic())

    def stop(self, timeout: float, quiet: bool = False) -> bool:
        """Stop reading, deliver what is in flight for up to `timeout`, close. True if all delivered.
        The whole stop ends within `timeout` + OUTPUT_CLOSE_TIMEOUT: after `timeout`, a commit stuck
        (COMMIT_GRACE_AT_STOP), the outputs' close and the checkpoint store's last STORE_AT_STOP share
        those seconds, and nothing in the store is waited for past them. Both count from the stop's
        signal (stop_asked) when there was one: a reload it came in spent part of them."""
        for r in self.runners.values():
            r.stop.set()
        deadline = (time.monotonic() if self.stop_asked is None else self.stop_asked) + timeout
        final = deadline + OUTPUT_CLOSE_TIMEOUT
        self.store.give_up_at(final)
        if self.store_full and not self.store_ok.is_set():
            self._free_reserve(timeout)
        # A failed commit waits for its retry (up to 10 s away) while the wait below lasts only shutdown_timeout: tried
        # now, as the space may be back (freed a moment before the stop, the stop said "read again" and exited 1, then
        # saved that very commit).
        self.committer.retry_now()
        for r in self.runners.values():
            r.thread.join(max(0.0, deadline - time.monotonic()))
        # What each source not returned by now waits for inside the agent, or the agent's work it is in (None, None:
        # a call of its own), before the give-up below ends those waits.
        not_returned = {name: (r.waits.of(r.thread), r.waits.doing(r.thread))
                        for name, r in self.runners.items() if r.thread.is_alive()}
        self.check_vendor_gaps(time.monotonic())
        if self.integrity_key is not None:
            self._attest_stop(deadline)
        delivered = self.wait_delivered(max(0.0, deadline - time.monotonic()))
        if not delivered and not quiet:
            self._say_undelivered()
        # A commit stuck now holds the thread that acknowledged its batch, an output's: let go of it before
        # the outputs close, or their close waits for it as well (the stop overran its promise by 5 s).
        if self._let_go_of_stuck_commit(COMMIT_GRACE_AT_STOP):
            delivered = False
        self.abandon.set()
        self.committer.retry_now()  # a commit waiting for its retry gives up now: its outputs' windows let go
        for r in self.runners.values():
            r.abandon.set()
        for w in self.workers.values():
            w.stop.set()
        # The parse workers end while the outputs close, within the same deadline (after it, a stop with
        # wedged outputs overran its promise by their kills, a second each): what they did not deliver
        # yet stays unregistered, read again.
        ending = [threading.Thread(target=r.end_pool, name=f"end-pool-{name}", daemon=True)
                  for name, r in self.runners.items() if r.pool is not None]
        for t in ending:
            t.start()
        # The outputs close by the time the store's last part begins (a grace spent above is theirs less:
        # wedged outputs and a stuck commit overran the promise by 2 s, the grace and the plugins' close).
        closed_by = final - STORE_AT_STOP
        close_workers(list(self.workers.values()), max(0.0, closed_by - time.monotonic() - CLOSE_PLUGINS))
        for t in ending:
            t.join(max(0.0, closed_by - time.monotonic()))
        # One stuck since (the outputs' last acknowledgements): its grace within what the stop promised.
        if self._let_go_of_stuck_commit(min(COMMIT_GRACE_AT_STOP, max(0.0, closed_by - time.monotonic()))):
            delivered = False
        # What the outputs' last acknowledgements completed is committed before the store's last part
        # (within the stop's end, where the store gives its waits up).
        if not self.committer.stop(max(0.0, final - time.monotonic())):
            delivered = False
        # The stop's own saves below (notes, what this run read and did not deliver) on a disk that filled while
        # nothing was committed (the output down): the reserve is theirs too, else the next start cannot name
        # the bytes of a never-read file deleted meanwhile (tests/tail/test_stop_output_down_state_dir_full.py).
        if (not delivered or self._notes_for_stop or self._states_for_stop) and not self.reserve_freed.is_set() \
                and not self._reserve_lent and not self.store.given_up():
            self._free_reserve(max(0.0, final - time.monotonic()), only_if_full=True)
        noted = set(self._notes_for_stop)
        if not self._save_notes_for_stop():
            delivered = False
        # Read and handed to outputs, then taken back by a reload, and not read again and delivered since (its
        # restart not begun, or cut short by this stop): as undelivered as a batch this stop did not deliver.
        for name, events in self.reloads.unread_again().items():
            delivered = False
            if name not in noted and not quiet:
                log.warning("stopping: events a reload took back to be read again were not read again and delivered "
                            "before the stop; the next start reads them again", extra={"source": name, "events": events})
        if not quiet:
            self.say_cut_writes()
        for name, r in self.runners.items():
            if timeout and not quiet and name in not_returned:
                self._say_not_returned(name, r, timeout, *not_returned[name], final)
            if not delivered and r.thread.is_alive():
                # Its puts given up (abandon), it is ending: a moment for it, so that its last puts are counted, or
                # what it read is saved below (else the next start named its read-and-undelivered bytes of a file
                # deleted meanwhile as "an unknown number … written after the last read", bytes_lost=0: attack 14).
                r.thread.join(min(1.0, max(0.0, closed_by - time.monotonic())))
            if not delivered and not r.source.rereads:  # records pushed to it: the next start has none of them
                r.name_undelivered(*r.tracker.events_in(), "shutdown timeout: batches not delivered")
            if not delivered:
                if not self.store.given_up():  # what some outputs stored is not sent to them again
                    r.save_delivered_to()
                # What no delivered batch saved is known to the next start; with the store given up (a commit in
                # progress stuck) it is named, each file with its bytes (tests/tail/test_stop_saves_writer_stuck.py).
                r.save_unsaved_state()
            else:  # nothing is read again: what an output's old server stored during a reload is past
                r.forget_parked()
                r.save_seen_at_stop()  # (the sizes its looks saw after its last delivered batch)
            r.close()
        end_helpers(max(0.5, final - time.monotonic()))  # the forkserver and resource tracker end with the agent
        self.store.close()
        return delivered

    def _say_undelivered(self) -> None:
        """The stop's word on the batches it did not deliver: those no output will ever complete (a reload's restart
        waited for them: owed to an output that reload added, or left by an output it closed), per source, with
        their count; the rest, those the shutdown timeout cut short."""
        timed_out = False
        for name, r in self.runners.items():
            if not r.source.rereads or not r.tracker.in_flight():
                continue
            if not (cannot := r.tracker.unfinished()):
                timed_out = True
                continue
            batches, events = r.tracker.events_in(cannot)
            owed = sorted(r.tracker.owed())
            why = (f"owed to output(s) {', '.join(owed)}, which a reload added" if owed
                   else "an output a reload closed will not deliver them")
            log.warning(f"stopping: {events} events in {batches} batches of source {name} cannot be delivered by "
                        f"any output now ({why}): not waited for, and not checkpointed; the next start reads them "
                        "again for the outputs that did not store them", extra={
                            "source": name, "batches": batches, "events": events, "outputs_owed": ",".join(owed)})
        if timed_out:
            log.warning("shutdown timeout: undelivered batches stay unacknowledged and are read again next start")

    def _every_worker(self) -> list[OutputWorker]:
        """The outputs' workers, those a reload is closing too."""
        return [*self.workers.values(), *(f.worker for f in self.reloads.finishing)]

    def say_cut_writes(self) -> None:
        """Names, per output, the lines of the batch it is writing that its reader already has (a pipe's, a
        socket's: bytes there cannot be taken back): written again at the next start. For a stop, and for the exit
        a second signal makes without waiting (exam27b: that exit named nothing, the repeat went unsaid)."""
        for w in self._every_worker():
            cut = w.output.cut_short() if w.output.finishes_sends and w.alive() and w.in_send() else None
            if cut:
                log.warning("output %s: the agent ends inside a write it cannot cut (its reader does not read): "
                            "%s were written, and are written again at the next start (a repeat)", w.name, cut)

    def say_in_flight(self) -> None:
        """For an exit that does not wait (a second signal): besides the cut writes, each output's send in progress
        that its destination may already hold (Output.in_flight), named as a possible repeat of the next start
        (exam27b: a Fluentd chunk waiting for its ack went unnamed)."""
        self.say_cut_writes()
        # Delivered, their checkpoint not saved (its commit in progress: a frozen state_dir; or waiting for it): the
        # next start reads them again (exam28: 300 events written twice, unnamed; a single signal's stop names it).
        unsaved = [name for name, r in list(self.runners.items()) if r.tracker.awaiting_commit_unlocked()]
        if unsaved:
            stuck = self.store.stuck_for()
            log.warning("the agent exits before the checkpoint of what %s delivered is saved (%s): it is read and "
                        "sent again at the next start (a possible repeat)", ", ".join(unsaved),
                        f"its {self.store.busy_with()} in progress for {stuck:.0f}s" if stuck is not None
                        else "its commit not begun")
        for name, r in list(self.runners.items()):
            stored = r.tracker.stored_unsaved(0.5)
            if stored is None:
                log.warning("source %s: the agent exits without telling which outputs stored part of its batches not "
                            "completed: those events may be sent to them again at the next start", name)
                continue
            # (exam28: a single stop notes these, _delivered_to; a second signal has no time to save a note)
            for output, events in stored.items():
                log.warning("output %s had stored %d events of source %s's batches not completed when the agent "
                            "exits: the next start sends them to it again (a repeat)", output, events, name)
        for w in self._every_worker():
            held = w.output.in_flight() if w.alive() else None
            if held:
                log.warning("output %s: the agent exits while %s: the destination may have stored it, and it is sent "
                            "again at the next start (a possible repeat)", w.name, held)

    def _say_not_returned(self, name: str, r: SourceRunner, timeout: float, waited_for: str | None,
                          doing: str | None, final: float) -> None:
        """A source whose run() had not returned at the stop's deadline: what it waited for (or the agent's work it
        was in: `doing`), said, so that a stop that looks clean is not taken for a joined source, and a wait of the
        agent's (a down output's full queue: backpressure) or a parse going on is not taken for a plugin's call."""
        outcome = ("what it had not emitted is read again at the next start, as its checkpoint says" if r.source.rereads
                   else "records it had received but not emitted are not delivered: it cannot read them again")
        if waited_for is None:
            # Running (the agent's parse of a batch it read, or its own code: the end of its run()) or blocked in a
            # call of its own. A moment for it: a source that was only running has returned by then. (Said blocked,
            # one parsing the rest of a read had ended a moment later: stoploss13, session 16.)
            r.thread.join(min(1.0, max(0.0, final - time.monotonic())))
            if r.thread.is_alive() and doing is not None:
                log.warning("source %s: run() did not return within shutdown_timeout (%.0fs) of the stop: it was %s, "
                            "and had not returned a second after the stop gave its waits up; the agent ends without "
                            "waiting for it (%s)", name, timeout, doing, outcome, extra={"source": name})
            elif r.thread.is_alive():  # a request or read with no timeout of its own: the agent ends without it
                log.warning("source %s: run() did not return within shutdown_timeout (%.0fs) of the stop: it is "
                            "blocked in a call the stop cannot wake; the agent ends without waiting for it (%s)",
                            name, timeout, outcome, extra={"source": name})
            else:
                (log.info if r.source.rereads else log.warning)(
                    "source %s: run() returned only after shutdown_timeout (%.0fs) of the stop ran out: it was still "
                    "%s then, not blocked (%s)", name, timeout, doing or "running its own code", outcome,
                    extra={"source": name})
            return
        # A wait of the agent's: the give-up (abandon) ended it, and run() returns soon after.
        r.thread.join(min(1.0, max(0.0, final - time.monotonic())))
        if r.thread.is_alive():
            log.warning("source %s: run() did not return within shutdown_timeout (%.0fs) of the stop, waiting for "
                        "%s, nor once the stop gave that wait up; the agent ends without waiting for it (%s)",
                        name, timeout, waited_for, outcome, extra={"source": name})
            return
        (log.info if r.source.rereads else log.warning)(
            "source %s: when shutdown_timeout (%.0fs) ran out, it was still waiting for %s; the stop gave that wait "
            "up (%s)", name, timeout, waited_for, outcome, extra={"source": name})

    def note_at_stop(self, source: str, fragment: dict[str, Any], taken_back: bool = True) -> None:
        """A reload's note of which outputs stored the batches it took back, which a stop signal kept it
        from saving: saved by the stop (else the next start sends those batches to every output again).
        `taken_back` False: not such a note but the states of what a restarted source held and no successor
        took (its losses named then: saved, the next start does not name them again)."""
        (self._notes_for_stop if taken_back else self._states_for_stop).setdefault(source, {}).update(fragment)

    def _save_notes_for_stop(self) -> bool:
        """Save what note_at_stop kept. False if there was a note of batches taken back: undelivered by
        some outputs (the stop says so, and exits 1, as for batches it did not deliver itself)."""
        for source, fragment in self._states_for_stop.items():
            try:
                self.save_at_stop(source, fragment)
            except (sqlite3.Error, OSError) as e:
                log.warning("cannot save the state of the files let go unread: the next start may name their loss "
                            "again", extra={"source": source, "error": f"{type(e).__name__}: {e}"})
        self._states_for_stop.clear()
        for source, fragment in self._notes_for_stop.items():
            try:
                self.store.update(source, fragment)
                log.warning("stopping: batches a reload took back were not stored by every output; the next start "
                            "reads them again for the outputs that lack them", extra={"source": source})
            except (sqlite3.Error, OSError) as e:
                log.warning("cannot note which outputs stored the batches a reload took back: the next start "
                            "sends them to every output again", extra={"source": source,
                                                                       "error": f"{type(e).__name__}: {e}"})
        none_taken_back = not self._notes_for_stop
        self._notes_for_stop.clear()
        return none_taken_back

    def save_at_stop(self, source: str, fragment: dict[str, Any]) -> None:
        """One of the stop's own saves. Refused for want of space while the reserve is still kept (when the stop
        looked, the writer found more than its 64 KiB "full" mark free, and the save needed more: the states of some
        200 files held unread; or a log written beside the state_dir took the rest since), the reserve is given up and
        the save tried once more (tests/tail/test_stop_save_larger_than_room_left.py). Raises what the store raised."""
        try:
            self.store.update(source, fragment)
        except (sqlite3.Error, OSError) as e:
            if not _disk_full(e) or self.reserve_freed.is_set() or self._reserve_lent or self.store.given_up():
                raise
            self._free_reserve(1.0)
            if not self.reserve_freed.is_set():
                raise
            self.store.update(source, fragment)

    def _free_reserve(self, timeout: float, only_if_full: bool = False) -> None:
        """A stop while the state_dir is full: nothing more is read, so the reserve's space is given back for
        the last commits (checkpoint_db.RESERVE); saved, what was delivered is not sent again next start.
        `only_if_full`: the writer looks first (the stop's own saves, with nothing failed before them)."""
        if self.store.release_reserve(min(1.0, timeout), only_if_full=only_if_full):
            log.warning("stopping while the state_dir is full: its reserve is given up for the last checkpoints "
                        "(it is made again at a start with room for it); free space on that filesystem",
                        extra={"path": self.store.path})
            self.reserve_freed.set()
            self.committer.retry_now()  # the failed commits waiting for their retry: they may fit now

    def _lend_reserve(self) -> None:
        """The state_dir's filesystem full while sources hold deleted files open (a writer rotating during an
        output outage, logs and state on one disk): only reading lets go of those files, and reading waits for a
        commit that needs space, for ever. So the reserve is given up for those commits while running too, and
        made again once commits go through and the filesystem has room for it."""
        if self._reserve_lent:
            if self.store_ok.is_set() and self.store.make_reserve():
                self._reserve_lent = False
                log.info("the state_dir's reserve is made again", extra={"path": self.store.path})
            return
        if not self.store_full or self.store_ok.is_set():
            return
        held = sum(r.source.held_deleted_bytes() for r in list(self.runners.values()))
        if held and self.store.release_reserve(MAIN_THREAD_WAIT, blocking=False):  # the main loop never waits on it
            self._reserve_lent = True
            log.warning(f"the state_dir's filesystem is full while sources hold {held} bytes of deleted files open "
                        "that only reading frees: its reserve is given up so that checkpoints are saved and reading "
                        "goes on (it is made again once there is room); free space on that filesystem",
                        extra={"path": self.store.path})
            self.committer.retry_now()

    def _let_go_of_stuck_commit(self, grace: float) -> bool:
        """At a stop: True if a checkpoint commit in progress did not return within `grace` seconds and
        was given up (named). Its writer sleeps in the kernel until the filesystem thaws; the agent does not
        wait (the writer is left to end by itself): what it had not saved is read again next start."""
        stuck = self.store.stuck_for()
        if stuck is None or self.store.given_up() or self.store.wait_idle(grace):
            return False
        log.error(f"stopping without the checkpoint {self.store.busy_with()} in progress: it has not returned for "
                  f"{stuck + grace:.0f}s (is the state_dir's filesystem frozen, or its disk hung?); "
                  "what was delivered since the last saved checkpoint is read and sent again at the next start",
                  extra={"path": self.store.path})
        self.store.give_up()
        return True

    def check_vendor_gaps(self, now: float) -> None:
        for r in list(self.runners.values()):
            r.check_vendor_gaps(now)

    def retire_idle_pools(self, now: float) -> None:
        for r in list(self.runners.values()):
            r.retire_idle_pool(now)

    def source_errors(self) -> list[str]:
        """Each source whose run() ended with an exception: `name: error`."""
        return [f"{name}: {r.error}" for name, r in self.runners.items() if r.error is not None]

    def source_bugs(self) -> list[str]:
        """source_errors but for an EndRun, whose one line the source runner logged when it came."""
        return [f"{name}: {r.error}" for name, r in self.runners.items()
                if r.error is not None and not isinstance(r.error, EndRun)]

    # --- reload (shipper.reload_apply) -----------------------------------------------------------

    def apply(self, new: Config, plan, wait_slice: Callable[[float], bool] | None = None) -> list[str]:
        """Apply a reload plan with `new` as the config; returns problems (shipper.reload_apply)."""
        try:
            return self.reloads.apply(new, plan, wait_slice)
        finally:
            self._collect_due = True

    def tick(self, now: float) -> None:
        """At each check of the runner's loop (once a second; every 5 s while idle): restarts a reload
        deferred, the state kept compact, what was let go collected."""
        self.reloads.finish_restarts()  # sources whose reload waited for their batches
        self.check_state_dir()
        self._lend_reserve()
        if now - self._compacted >= COMPACT_EVERY:
            self.compact(now)
        if self._collect_due or now - self._collected >= FULL_COLLECT_EVERY:
            self._collect_due = False
            self._collected = now
            gc.collect()
            self._given_back = now - GIVE_BACK_EVERY  # what the collection freed goes back at once
        if now - self._given_back >= GIVE_BACK_EVERY:
            self._given_back = now
            allocator.give_back()

    def check_state_dir(self) -> None:
        """A state_dir removed under the agent is made again at once (its lock first), not only at the
        next commit: an idle agent would otherwise leave it unlocked for a second agent for hours."""
        try:
            self.store.ensure_present()
        except GivenUp:  # the agent stops (the stop names a commit it leaves behind)
            return
        except OSError as e:  # cannot be remade: commits fail and retry, reading pauses, /health 503
            self._state_dir_gone = True
            self.checkpoint_failed("(state_dir)", e)
            return
        if self._state_dir_gone:
            self._state_dir_gone = False
            self.checkpoint_saved("(state_dir)")

    def compact(self, now: float) -> None:
        self._compacted = now
        try:
            self.store.compact()
        except GivenUp:
            pass
        except (sqlite3.Error, OSError) as e:  # a full disk: the commits' retry says so; compaction waits for the next turn
            log.warning("checkpoint database not compacted", extra={"error": str(e), "path": self.store.path})

    def stalled(self, stall_after: float, now: float | None = None) -> list[str]:
        """Why the pipeline is wedged; [] while it is alive (shipper.watchdog)."""
        return self.watchdog.stalled(stall_after, now)


def _store_wide(e: BaseException) -> bool:
    """Does a failed commit say the store failed, not one source's rows? SQLite refuses a source's own rows
    with a constraint (IntegrityError) or a value it cannot hold (DataError); the rest (a full or failing
    disk, a database locked, damaged or gone, the writer ended) is the store's, shared by every source."""
    return not isinstance(e, (sqlite3.IntegrityError, sqlite3.DataError))


def _disk_full(e: BaseException) -> bool:
    """A commit refused for want of space (SQLITE_FULL, ENOSPC, a quota). The writer's errors come back
    pickled, without their sqlite_errorcode: SQLite's own words tell."""
    if isinstance(e, OSError):
        return e.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(e, sqlite3.Error) and (getattr(e, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
                                             or "database or disk is full" in str(e))
