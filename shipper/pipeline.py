"""Source → parser → router → outputs, in batches, with checkpoints moved only on acknowledgement."""
from __future__ import annotations

import logging
import socket
import sqlite3
import threading
import time
from typing import Callable

from shipper import metrics, parse_auto, registry
from shipper.checkpoint import CheckpointStore
from shipper.config import Config
from shipper.config_base import OutputConfig, SourceConfig
from shipper.log import Throttled
from shipper.output_worker import OutputWorker
from shipper.parse_workers import end_helpers
from shipper.plugin import (
    EndRun,
    OutputContext,
)
from shipper.reload import ReloadError
from shipper.router import Router
from shipper.source_runner import SourceRunner
from shipper.waking_event import WakingEvent
from shipper.watchdog import Watchdog

log = logging.getLogger("shipper.pipeline")

COMPACT_EVERY = 3600.0  # seconds between checkpoint database compactions (and after every reload)
OUTPUT_CLOSE_TIMEOUT = 5.0  # at a stop or reload, after the drain: how long outputs get to finish, together


class Pipeline:
    def __init__(self, config: Config, once: bool = False):
        self.config = config
        self.once = once
        self.host_name = config.settings.host_name or socket.gethostname()
        self.store = CheckpointStore(config.state_dir)
        self.store_ok = threading.Event()  # clear while checkpoint commits fail: sources pause
        self.store_ok.set()
        self.store_error: str | None = None  # why, for /health
        self.store_failures = 0  # failed commits so far: a retrying store is alive, not wedged
        self._store_log = Throttled(log)
        self.integrity_key = config.integrity_key
        self._attest_thread: threading.Thread | None = None
        self.pool_budget = parse_auto.PoolBudget()
        self.abandon = threading.Event()  # give up on in-flight batches (shutdown timeout, 2nd signal)
        self.workers: dict[str, OutputWorker] = {}
        self.output_configs: dict[str, OutputConfig] = {}
        self._output_stops: dict[str, threading.Event] = {}  # one per output, so a reload can stop just one
        self.output_started: dict[str, float] = {}
        for ocfg in config.outputs:
            self.workers[ocfg.name] = self._make_worker(ocfg)
        self.router = Router([(o.match, self.workers[o.name]) for o in config.outputs])
        self.runners: dict[str, SourceRunner] = {c.name: SourceRunner(self, c) for c in config.sources}
        self._warned_tags: set[str] = set()
        self.watchdog = Watchdog(self)  # liveness: is anything wedged (systemd watchdog, /health)
        self.undelivered_for = self.watchdog.undelivered_for  # output → seconds busy without a delivery
        self.end: EndRun | None = None  # the core cannot go on (checkpoints unwritable under --once)
        # Reload: stopped sources whose outputs are still sending some of their batches; they restart
        # (with _restart_cfgs) only once those complete. They stay in self.runners meanwhile.
        self._draining: dict[str, SourceRunner] = {}
        self._restart_cfgs: dict[str, SourceConfig] = {}
        self._compacted = time.monotonic()

    def _make_worker(self, ocfg: OutputConfig) -> OutputWorker:
        stop = WakingEvent()  # wakes the idle worker at once
        ctx = OutputContext(name=ocfg.name, stop=stop, state_dir=self.config.state_dir,
                            logger=logging.getLogger(f"shipper.output.{ocfg.name}"), once=self.once)
        output = registry.load("output", ocfg.type)(ocfg, ctx)
        self._output_stops[ocfg.name] = stop
        self.output_configs[ocfg.name] = ocfg
        return OutputWorker(ocfg.name, output, ocfg.max_in_flight_batches, ocfg.max_in_flight_bytes, stop)

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
            self._start_worker(name)
        for r in self.runners.values():
            r.thread.start()
        if self.integrity_key is not None:
            self._start_attestations()

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
                if r.attest_due(now, interval):
                    r.request_attestation("interval")
                r.attest_if_idle()

    def _attest_stop(self, deadline: float) -> None:
        """A last attestation per stopped source, within the stop's deadline."""
        for r in self.runners.values():
            if r.chain is None or r.thread.is_alive():
                continue
            t = threading.Thread(target=r.attest_now, args=("stop",), name=f"attest-{r.cfg.name}", daemon=True)
            t.start()
            t.join(max(0.0, deadline - time.monotonic()))

    def checkpoint_failed(self, source: str, e: BaseException) -> None:
        self.store_failures += 1
        if self.store_ok.is_set():
            self.store_error = f"checkpoints cannot be saved in {self.store.path}: {type(e).__name__}: {e}"
            self.store_ok.clear()
        self._store_log.failure("checkpoint commit failed; reading paused, retrying", source=source,
                                path=self.store.path, error=f"{type(e).__name__}: {e}")

    def checkpoint_saved(self, source: str) -> None:
        if not self.store_ok.is_set():
            self.store_error = None
            self.store_ok.set()
            self._store_log.recovered("checkpoints saved again; reading resumes", source=source)

    def ended(self) -> EndRun | None:
        """Why the agent must end now (an output or the checkpoint store gave up), or None."""
        if self.end is not None:
            return self.end
        for w in list(self.workers.values()):
            if w.ended is not None:
                return w.ended
        return None

    def sources_finished(self) -> bool:
        return all(r.finished.is_set() for r in self.runners.values())

    def wait_delivered(self, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for r in list(self.runners.values()):
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not r.tracker.wait_idle(left):
                return False
        return True

    def stop(self, timeout: float, quiet: bool = False) -> bool:
        """Stop reading, deliver what is in flight for up to `timeout`, close. True if all delivered."""
        for r in self.runners.values():
            r.stop.set()
        deadline = time.monotonic() + timeout
        for r in self.runners.values():
            r.thread.join(max(0.0, deadline - time.monotonic()))
        self.check_vendor_gaps(time.monotonic())
        if self.integrity_key is not None:
            self._attest_stop(deadline)
        delivered = self.wait_delivered(max(0.0, deadline - time.monotonic()))
        if not delivered and not quiet:
            log.warning("shutdown timeout: undelivered batches stay unacknowledged and are read again next start")
        self.abandon.set()
        for r in self.runners.values():
            r.abandon.set()
        for stop in self._output_stops.values():
            stop.set()
        close_workers(list(self.workers.values()), OUTPUT_CLOSE_TIMEOUT)
        for r in self.runners.values():
            r.close()
        end_helpers()  # the forkserver and resource tracker end with the agent
        self.store.close()
        return delivered

    def check_vendor_gaps(self, now: float) -> None:
        for r in list(self.runners.values()):
            r.check_vendor_gaps(now)

    def retire_idle_pools(self, now: float) -> None:
        for r in list(self.runners.values()):
            r.retire_idle_pool(now)

    def source_errors(self) -> list[str]:
        return [f"{name}: {r.error}" for name, r in self.runners.items() if r.error is not None]

    # --- reload ---------------------------------------------------------------------------------

    def apply(self, new: Config, plan, wait_slice: Callable[[float], bool] | None = None) -> list[str]:
        """Apply a reload plan (shipper.reload.plan_reload) with `new` as the config; returns problems.

        Sources to stop are stopped first and their in-flight batches delivered (for up to
        shutdown_timeout) while every output still runs; only then are outputs closed or replaced and
        the sources restarted from their checkpoints. Kept sources are never touched: same thread,
        tracker and position. `wait_slice(seconds)` sleeps between checks (the runner pings systemd
        there); it returns True to cut the wait short (a stop signal).
        """
        wait_slice = wait_slice or (lambda s: bool(time.sleep(s)))
        problems: list[str] = []
        # Build new outputs first: a plugin that cannot even be constructed refuses the reload untouched.
        new_cfgs = {o.name: o for o in new.outputs}
        saved = (self.config, dict(self.output_configs), dict(self._output_stops))
        self.config = new
        fresh: dict[str, OutputWorker] = {}
        try:
            for name in plan.outputs_added + plan.outputs_replaced:
                fresh[name] = self._make_worker(new_cfgs[name])
        except Exception as e:
            self.config, self.output_configs, self._output_stops = saved
            raise ReloadError(f"cannot create output: {type(e).__name__}: {e}") from e
        # Replaced outputs got new stop events from _make_worker; the old workers keep theirs.
        old_stops = {name: w.stop for name, w in self.workers.items()}

        stopping = [self.runners[n] for n in plan.sources_removed + plan.sources_restarted if n in self.runners]
        for r in stopping:
            r.stop.set()
        deadline = time.monotonic() + new.settings.shutdown_timeout
        # An output the reload replaces or removes while its server refuses it will deliver nothing
        # more: batches it holds cannot complete, so they are not waited for (the draining below
        # restarts their source once that output is closed, and the replacement sends them).
        refused = [self.workers[n] for n in plan.outputs_removed + plan.outputs_replaced if self.workers[n].refused]

        def hopeless(r) -> bool:
            return any(t is r.tracker for w in refused for _, t, _ in w.leftover())

        while any((r.thread.is_alive() or r.tracker.in_flight()) and not (r.tracker.in_flight() and hopeless(r))
                  for r in stopping) and time.monotonic() < deadline:
            if wait_slice(0.1):
                break
        for r in stopping:
            name = r.cfg.name
            if r.tracker.in_flight() or r.thread.is_alive():
                # Batches no output was ever handed are taken back: the restarted source reads them
                # again from its checkpoint. Those an output is sending (or has acknowledged) must
                # complete, and count in the checkpoint, before the source restarts: never both.
                r.abandon.set()  # a put blocked on a full queue gives up: that batch was never handed over
                r.thread.join(5.0)
                taken = self._withdraw(r)
                left = r.tracker.in_flight()
                log.warning("reload: in-flight batches held by a refused output are not waited for; those no "
                            "output was sending are taken back and read again from the checkpoint"
                            if hopeless(r) else
                            "reload: in-flight batches not delivered in time; those no output was sending are "
                            "taken back and read again from the checkpoint",
                            extra={"source": name, "taken_back": taken, "completing": left})
                if left:
                    log.warning("reload: the source restarts once the batches its outputs are sending complete",
                                extra={"source": name, "batches": left})
                    self._draining[name] = r
                    continue
            r.detached = True
            r.abandon.set()
            r.close()
            del self.runners[name]
        for name in plan.sources_removed:
            self._restart_cfgs.pop(name, None)
            if name not in self._draining:
                self._forget_source(name)
            log.info("source removed; its checkpoint is kept", extra={"source": name})

        closing = plan.outputs_removed + plan.outputs_replaced
        for name in closing:
            old_stops[name].set()
        close_workers([self.workers[name] for name in closing], OUTPUT_CLOSE_TIMEOUT)
        for name in closing:
            w = self.workers.pop(name)
            # What a draining source still had there will never be acknowledged by it: read again
            # (a send the close cut short may have been stored: at-least-once for that output).
            left = w.leftover()
            for r in self._draining.values():
                seqs = {seq for _, t, seq in left if t is r.tracker}
                if seqs:
                    r.tracker.withdraw(seqs)
            self.output_started.pop(name, None)
            self.watchdog.forget_output(name)
            if name in plan.outputs_removed:
                forget_metrics("output", name)
                self._output_stops.pop(name, None)
                self.output_configs.pop(name, None)
        for name, w in fresh.items():
            self.workers[name] = w
            try:
                self._start_worker(name)
            except Exception as e:
                log.exception("output failed to start", extra={"output": name})
                problems.append(f"output {name}: failed to start: {e}")
        # Keep the config's order (the router's and the status'); kept workers are the same objects.
        self.workers = {o.name: self.workers[o.name] for o in new.outputs if o.name in self.workers}
        self.router = Router([(o.match, self.workers[o.name]) for o in new.outputs if o.name in self.workers])
        self._warned_tags.clear()

        self.host_name = new.settings.host_name or socket.gethostname()
        self._rotate_integrity_key(new.integrity_key)
        src_cfgs = {c.name: c for c in new.sources}
        for name in plan.sources_added + plan.sources_restarted:
            if name in self._draining:
                self._restart_cfgs[name] = src_cfgs[name]  # started by finish_restarts()
                continue
            try:
                r = SourceRunner(self, src_cfgs[name])
            except Exception as e:
                log.exception("source failed to start", extra={"source": name})
                problems.append(f"source {name}: failed to start: {e}")
                continue
            self.runners[name] = r
            r.thread.start()
        self._order_runners()
        problems += self.finish_restarts()
        for w in self.workers.values():  # kept outputs a server refuses: try again now (a fixed secret file)
            w.retry_now()
        self.compact(time.monotonic())
        return problems

    def _order_runners(self) -> None:
        """The config's order (status, metrics); draining runners of removed sources stay until done."""
        ordered = {c.name: self.runners[c.name] for c in self.config.sources if c.name in self.runners}
        ordered.update({n: r for n, r in self._draining.items() if n not in ordered})
        self.runners = ordered

    def _withdraw(self, r: "SourceRunner") -> int:
        """Take back from every output's queue the batches of `r` no output was ever handed (an
        untouched suffix of its window); they are forgotten by its tracker. All queues are locked
        together, so no output starts one of them meanwhile. Returns how many were taken back."""
        workers = [self.workers[n] for n in sorted(self.workers)]
        for w in workers:
            w._cond.acquire()
        try:
            attempted: set[int] = set()
            for w in workers:
                attempted |= w.attempted_seqs(r.tracker)
            seqs = r.tracker.untouched_suffix(attempted)
            if seqs:
                for w in workers:
                    w.remove(r.tracker, seqs)
        finally:
            for w in reversed(workers):
                w._cond.release()
        if seqs:
            r.tracker.withdraw(seqs)
        return len(seqs)

    def _forget_source(self, name: str) -> None:
        forget_metrics("source", name)
        self.watchdog.forget_source(name)

    def tick(self, now: float) -> None:
        """Once a second from the runner's loop: restarts a reload deferred, and the state kept compact."""
        self.finish_restarts()
        if now - self._compacted >= COMPACT_EVERY:
            self.compact(now)

    def compact(self, now: float) -> None:
        self._compacted = now
        try:
            self.store.compact()
        except sqlite3.Error as e:  # a full disk: the commits' retry says so; compaction waits for the next turn
            log.warning("checkpoint database not compacted", extra={"error": str(e), "path": self.store.path})

    def finish_restarts(self) -> list[str]:
        """Restart (or let go of) sources whose reload waited for batches an output was sending.
        Called after a reload and once a second by the runner's loop."""
        problems: list[str] = []
        for name, r in list(self._draining.items()):
            if not r.thread.is_alive():
                self._withdraw(r)  # batches a late source thread registered after the reload
            if r.tracker.in_flight() and not self.abandon.is_set():
                continue
            del self._draining[name]
            r.detached = True
            r.abandon.set()
            r.close()
            self.runners.pop(name, None)
            cfg = self._restart_cfgs.pop(name, None)
            if cfg is None and not self.abandon.is_set():
                self._forget_source(name)
            if cfg is None or self.abandon.is_set():
                continue
            try:
                fresh = SourceRunner(self, cfg)
            except Exception as e:
                log.exception("source failed to start", extra={"source": name})
                problems.append(f"source {name}: failed to start: {e}")
                continue
            self.runners[name] = fresh
            fresh.thread.start()
            log.info("reload: source restarted from its checkpoint", extra={"source": name})
        self._order_runners()
        return problems

    def _rotate_integrity_key(self, key) -> None:
        """A reload's integrity key: kept chains go on sealed with a new key; turning integrity on or
        off applies to the sources (re)started from now on."""
        old, self.integrity_key = self.integrity_key, key
        if key is not None and self._attest_thread is None:
            self._start_attestations()
        if key is None or old is None or key == old:
            return
        for r in self.runners.values():
            if r.chain is not None:
                with r._chain_lock:
                    r.chain.key = key
        log.info("integrity key rotated: chains go on under the new key", extra={"key_id": key.id})

    def stalled(self, stall_after: float, now: float | None = None) -> list[str]:
        """Why the pipeline is wedged; [] while it is alive (shipper.watchdog)."""
        return self.watchdog.stalled(stall_after, now)


def forget_metrics(label: str, value: str) -> None:
    """Drop every series whose `label` is `value` (a source or output a reload removed): over months
    of reloads the label sets of what no longer exists would otherwise pile up in memory and in
    every scrape."""
    from prometheus_client.metrics import MetricWrapperBase

    for metric in vars(metrics).values():
        if not isinstance(metric, MetricWrapperBase) or label not in metric._labelnames:
            continue
        keys = set()
        for fam in metric.collect():
            for sample in fam.samples:
                if sample.labels.get(label) == value:
                    keys.add(tuple(sample.labels[n] for n in metric._labelnames))
        for key in keys:
            try:
                metric.remove(*key)
            except KeyError:
                pass


def close_workers(workers: list[OutputWorker], timeout: float) -> None:
    """Close outputs in parallel, within one deadline: a stop with several wedged outputs waits
    `timeout` once, not once per output (each close joins its thread, then closes the plugin)."""
    threads = [threading.Thread(target=w.close, kwargs={"timeout": timeout}, name=f"close-{w.name}", daemon=True)
               for w in workers]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout + 1.0  # the plugins' own close() after the joins
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
