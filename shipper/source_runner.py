"""One source's run: its thread reads, its parser (in the thread or in parse workers) maps, its batches
are routed to the outputs in read order, and its checkpoint moves only as far as every output has
acknowledged (shipper.acks). Integrity sealing and attestations, and the vendor id gaps, are kept
here per source. The Pipeline (shipper.pipeline) makes, starts, stops and replaces these."""
from __future__ import annotations

import logging
import os
import shlex
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, Callable

from shipper import address_space, fdlimit, ids as ids_mod, integrity, metrics, parse_auto, registry, vendor_ids
from shipper.acks import (
    DELIVERED_MAX,
    DELIVERED_PREFIX,
    DELIVERED_WHERE_PREFIX,
    ELSEWHERE_PREFIX,
    AckTracker,
    CommitFailed,
)
from shipper.checkpoint import RECOVERY, CheckpointTooNew, GivenUp, Interrupted, StateDirError
from shipper.config_base import SourceConfig
from shipper.events import EventBuilder, EventSettings
from shipper.log import Throttled
from shipper.parse_workers import Parsed, ParsePool, serialise
from shipper.plugin import (
    Batch,
    EndRun,
    ParserOptions,
    RawBatch,
    SavedPosition,
    SerializedEvents,
    Source,
    SourceContext,
    batch_part,
)
from shipper.source_waits import SourceWaits
from shipper.waking_event import WakingEvent

if TYPE_CHECKING:
    from shipper.pipeline import Pipeline

log = logging.getLogger("shipper.pipeline")  # the name operators' log filters already know

COMMIT_BACKOFF_FIRST = 0.2  # seconds before a failed checkpoint commit is tried again, doubling
COMMIT_BACKOFF_MAX = 10.0
ONCE_COMMIT_BUDGET = 10.0  # `run --once`: seconds of failing commits before the run ends (exit 1)


# A source's state key (the core's): the parser its checkpoint was saved with. A kill -9 re-reads what was
# delivered after the last saved checkpoint; with another parser since, that replay is parsed by it.
PARSER_KEY = "_parser"
# A replay (Chain.replay) that met none of its old links for an attest_interval (at least this long), with nothing
# in flight, ends: what it held is sealed after them and sent (its source may never read those again: a row
# deleted, a file gone), and the attestations it holds back go on.
REPLAY_STALE_MIN = 5.0
REPLAY_HOLD_MIN = 1000  # events new to a replay held back at most (or twice its links): then it ends


class SourceRunner:
    def __init__(self, pipeline: "Pipeline", cfg: SourceConfig, at_start: bool = False):
        self.pipeline = pipeline
        self.cfg = cfg
        self.tag = cfg.effective_tag
        parser_cls = registry.load("parser", cfg.parser)
        self.counts = metrics.SourceCounts(cfg.name)  # read by the pipeline's readers (Pipeline.source_counts)
        self.builder = EventBuilder(cfg, parser_cls(_parser_options(cfg)), pipeline.host_name, self.counts)
        self.tracker = AckTracker(self._try_commit, pipeline.committer)
        self.stop = WakingEvent()  # stop reading (wakes a source asleep on its files at once)
        self.abandon = threading.Event()  # give up blocked puts: shutdown, or this source's restart timed out
        self.detached = False  # replaced on reload: its late acks must not move the new runner's checkpoint
        self.finished = threading.Event()
        self.waits = SourceWaits()  # what its threads wait for inside the agent (a stop that runs out names it)
        self._parsing = f"parsing a batch it had read (parser {cfg.parser}, in the source's thread)"  # (waits.busy)
        # Set once the source has taken its first look (Source.looks_first), or when its thread begins (other
        # sources) or ends: the agent says `started` once every source's is set (Pipeline.await_first_looks).
        self.looked = threading.Event()
        self.error: BaseException | None = None
        self.last_commit: float | None = None
        self._reserve_tried = False  # a failed commit was tried again once the stop freed the reserve
        self._commit_retry = COMMIT_BACKOFF_FIRST  # the next failed commit's backoff (doubling)
        self._failing_since: float | None = None  # the first of the commits failing now
        # Clear while the store refuses this source's rows alone (pipeline.checkpoint_failed): this source
        # pauses, the others read on. commit_error says why, for /health.
        self.commits_ok = threading.Event()
        self.commits_ok.set()
        self.commit_error: str | None = None
        self._refused_log = Throttled(log)
        state = pipeline.store.load(cfg.name)
        # The checkpoint as saved, kept up to date by each commit (SourceContext.saved; read by the source's
        # thread, written by the committer's: single dict operations).
        self._saved: dict[str, Any] = dict(state)
        saved_chain = state.pop(integrity.STATE_KEY, None)  # the core's, not the source's
        # A replay a kill -9 or a stop cut short (replayed again when the thread starts, unless a reload hands one)
        self._saved_replay = state.pop(integrity.REPLAY_KEY, None)
        self._save_parser(state.pop(PARSER_KEY, None), bool(state) and at_start)
        # Per output, events it stored before a stop or reload took their batches back: the re-read
        # sends them to the other outputs only (each id once; the note goes when all were met again).
        self._delivered_before: dict[str, Counter[str]] = {}
        self._delivered_noted: dict[str, list[str]] = {}  # what save_delivered_to noted so far (its batches were let go)
        # Old name -> new name of outputs a reload renamed while this runner stopped (rename_outputs): what the old
        # name stored is noted under the new one, which is the same output.
        self.outputs_renamed: dict[str, str] = {}
        # Per output, where the events noted for it were stored (its OutputConfig.where then: the note loaded, or
        # when save_delivered_to first noted its acks). Saved with the note: a reload that gives the name to another
        # server must not make the note say the new server has them (the re-read would not send them there).
        self._stored_where: dict[str, Any] = {}
        for key in [k for k in state if k.startswith(DELIVERED_PREFIX)]:
            ids = state.pop(key)
            if isinstance(ids, list) and ids:
                self._delivered_before[key[len(DELIVERED_PREFIX):]] = Counter(i for i in ids if isinstance(i, str))
        wheres = {k[len(DELIVERED_WHERE_PREFIX):]: state.pop(k) for k in [k for k in state
                                                                          if k.startswith(DELIVERED_WHERE_PREFIX)]}
        self._carry_renamed_notes(wheres)
        self._load_parked({k[len(ELSEWHERE_PREFIX):]: state.pop(k) for k in [k for k in state
                                                                            if k.startswith(ELSEWHERE_PREFIX)]})
        self._adopt_notes_elsewhere()
        # During a replay, per output: what it stores past the saved checkpoint, as the replay's batches' commits
        # note it (_replay_note): the note loaded, then every replay batch routed so far.
        self._replay_stored: dict[str, list[str]] = {}
        self.chain = (integrity.Chain.resume(pipeline.integrity_key, f"{pipeline.host_name}/{cfg.name}", saved_chain)
                      if pipeline.integrity_key is not None else None)
        self._chain_lock = threading.Lock()  # one order for sealing, registering and queueing
        self._attest_reason: str | None = None  # an attestation waits to be appended
        # During a replay (a re-read after a reload, Chain.replay): the checkpoints of its batches, merged and
        # committed with the batch that ends it (which carries the events held back meanwhile: a checkpoint
        # committed before could skip one); the events new to it, held back; when it last met an old link.
        self._replay_hold: dict[str, Any] | None = None
        self._held: list[tuple[dict, str]] = []
        self._replay_met_at = 0.0
        self._replay_hold_max = REPLAY_HOLD_MIN
        self.vendor_gaps = (vendor_ids.VendorIdGaps(state.pop(vendor_ids.STATE_KEY, None))
                            if parser_cls.monotonic_ids else None)
        source_cls = registry.load("source", cfg.type)
        # gaps are attested (also "none") when the parser's ids or the source's own numbering are watched
        self._watches_ids = parser_cls.monotonic_ids or source_cls.reports_vendor_gaps
        self._gaps_lock = threading.Lock()
        # since the last attestation: (first, last, numbering) — numbering None for the parser's event ids,
        # else what the source named (e.g. Puppet's "service rbac commit offsets")
        self._gaps_reported: list[tuple[int, int, str | None]] = []
        self._gap_ids_reported = 0  # every id in those gaps, also of the ranges no longer listed
        self._m_vendor_gaps = self.counts.vendor_id_gaps
        self._lost: list[dict[str, Any]] = []  # losses the source named since the last attestation
        # (batches, records) emitted and given up before they were registered (stopping): never sent
        self._dropped = (0, 0)
        self._sealed_before = int(state.pop(integrity.SEALED_KEY, 0) or 0)
        if self.chain is not None and self.chain.seq:
            self.request_attestation("resume")
        ctx = SourceContext(
            name=cfg.name, emit=self.emit, stop=self.stop, once=pipeline.once, state=state,
            state_dir=pipeline.config.state_dir, logger=logging.getLogger(f"shipper.source.{cfg.name}"),
            base_dir=pipeline.config.base_dir, lost=self._name_loss, vendor_gaps=self._source_gaps,
            note=self._note, looked=self._looked, saved=self._saved.get,
        )
        if not state:
            self._name_orphaned_positions(source_cls)
        try:
            self.source: Source = source_cls(cfg, ctx)
        except CheckpointTooNew as e:  # one line for `run` (exit 2): the database, the source, what to do
            db = pipeline.store.path
            raise StateDirError(f"{db}: source {cfg.name}: {e}: {_newer_state_remedy(cfg, pipeline.config.path)}; "
                                f"{RECOVERY}") from None
        self.thread = threading.Thread(target=self._run, name=f"source-{cfg.name}", daemon=True)
        self.pool: ParsePool | None = None  # parse_workers: made when the thread starts, or on a backlog (auto)
        # `auto`: workers while the source is behind (shipper.parse_auto). The lock is held by
        # submissions to the pool, so the pool is never retired under one.
        self.backlog = parse_auto.BacklogDetector(cfg.batch_size) if cfg.parse_workers == "auto" else None
        self._auto_pool = False  # this pool came from the budget and goes back to it
        self._granted = 0  # the parse workers its pool holds of the descriptor limit's room (fdlimit.grant_workers)
        self._auto_refused_said = False  # that an auto pool got no workers from the limit: said once
        self._pool_dropped = (0, 0)  # (batches, records) its pool ended with undelivered (end_pool)
        self._pool_lock = threading.Lock()
        # Set by the stop's end_pool: the source's thread (not waited for by a stop with no time left) makes no
        # pool after it, one the agent's exit would find starting its workers.
        self._pools_ended = False
        self._m_unrouted = self.counts.unrouted
        self._m_ckpt = self.counts.checkpoint_time

    def _save_parser(self, saved: Any, say: bool) -> None:
        """Note the parser this source's checkpoints are saved with, and name a change since the last run
        (`say`: at start, with a checkpoint). A reload changing the parser delivers or notes the batches in
        flight first (save_delivered_to); a kill -9 or a crash does not, and what it had delivered after
        its last saved checkpoint is read again and parsed by the new parser: in Elasticsearch another data
        stream (logs-<dataset>-…) and perhaps other ids, so stored beside the first copies."""
        parser = self.cfg.parser
        if saved == parser:
            return
        if say and isinstance(saved, str):
            log.warning(f"source {self.cfg.name}: its parser changed since its checkpoint was saved ({saved} → "
                        f"{parser}): if the agent did not stop cleanly (kill -9, a crash, a power cut), what it had "
                        f"delivered after its last saved checkpoint is read again and parsed by {parser}: "
                        "Elasticsearch stores those events a second time (in the data stream of their new "
                        "event.dataset), stdout and Fluentd receive them again in their new form; a SIGTERM stop "
                        "or a reload repeats nothing", extra={"source": self.cfg.name, "was": saved, "parser": parser})
        try:
            self.pipeline.store.update(self.cfg.name, {PARSER_KEY: parser})
        except (sqlite3.Error, OSError) as e:  # named again at the next start: nothing else depends on it
            log.debug("cannot note the source's parser in its checkpoint", extra={"source": self.cfg.name, "error": str(e)})

    def _name_orphaned_positions(self, source_cls: type[Source]) -> None:
        """This source starts without a checkpoint: if the state_dir holds positions of a source no longer
        configured in files that are still there, it was likely renamed (the name keys the checkpoint), and
        it reads them again from their start — every event shipped again, under other stable ids. Say so
        (a reload's rename is said by the source itself), naming the files and how to avoid it."""
        configured = {s.name for s in self.pipeline.config.sources}
        for old in sorted(self.pipeline.store.names() - configured):
            try:
                positions = source_cls.saved_positions(self.pipeline.store.load(old))
            except Exception:  # another type's state: not this source's to read
                continue
            # (Only the files this source reads: each new source over files of its own was warned as a rename of
            # every source removed before it: tests/e2e/test_attack24_unrelated_source_called_renamed.py.)
            base = self.pipeline.config.base_dir
            there = sorted({p.path for p in positions if os.path.exists(p.path)
                            and source_cls.reads_file(self.cfg, base, p.path) is not False})
            if there:
                log.warning(f"source {self.cfg.name} starts without a checkpoint, and the state_dir holds source "
                            f"{old}'s (no longer configured) for {len(there)} file(s) still there, e.g. {there[0]}: "
                            f"if {old} was renamed {self.cfg.name}, they are read again from their start (every "
                            f"event shipped again, under other stable ids); give the source its old name back to "
                            "go on where it was", extra={"source": self.cfg.name, "path": there[0],
                                                          "files": len(there), "checkpoint_of": old})

    def _commit(self, fragment: dict[str, Any]) -> bool:
        """Save a fragment now (a note, a seal). A failing store (full disk, I/O error) is retried
        with backoff until it works: reading pauses meanwhile (emit waits), /health names the cause.
        False (nothing saved) only when the agent gives up: a stop, or `run --once` after
        ONCE_COMMIT_BUDGET seconds (then the run ends, exit 1)."""
        while True:
            try:
                return self._try_commit(fragment)
            except CommitFailed as e:
                with self.waits.on("a checkpoint the state_dir refuses, retried"):
                    if self._backoff(e.retry_in):
                        return False

    def _try_commit(self, fragment: dict[str, Any]) -> bool:
        """Save a delivered prefix's checkpoint (the tracker's commit), once: a failing store raises
        CommitFailed with the backoff before the next try (the committer tries again then, and
        commits the other sources' meanwhile). False as _commit's."""
        if self.detached:
            return True
        if self._delivered_noted:
            # A batch that met the last event of an output's old note deletes that note when it commits; a
            # note saved since (batches taken back: save_delivered_to) stays.
            fragment = {k: v for k, v in fragment.items() if not (v is None and any(
                k.startswith(p) and k[len(p):] in self._delivered_noted for p in (DELIVERED_PREFIX, DELIVERED_WHERE_PREFIX)))}
        store = self.pipeline.store
        try:
            store.update(self.cfg.name, fragment)
        except GivenUp:  # the agent stops without the store (a commit stuck): read again next start
            return False
        except (sqlite3.Error, OSError) as e:
            if not self.pipeline.checkpoint_failed(self.cfg.name, e):
                self._refused(e)
            now = time.monotonic()
            if self._failing_since is None:
                self._failing_since = now
            if self.pipeline.once and now - self._failing_since >= ONCE_COMMIT_BUDGET:
                why = (f"the filesystem holding it is full (ENOSPC: {e}); free space there" if
                       self.pipeline.store_full else str(e))
                self.pipeline.end = EndRun(f"cannot save checkpoints in {store.path} ({why}); what was "
                                           "delivered since the last save is sent again next run")
                return False
            if self.pipeline.abandon.is_set():
                return False
            delay, self._commit_retry = self._commit_retry, min(self._commit_retry * 2, COMMIT_BACKOFF_MAX)
            raise CommitFailed(delay) from None
        self._failing_since, self._commit_retry = None, COMMIT_BACKOFF_FIRST
        for key, value in fragment.items():
            if value is None:
                self._saved.pop(key, None)
            else:
                self._saved[key] = value
        self.pipeline.checkpoint_saved(self.cfg.name)
        if not self.commits_ok.is_set():
            self.commit_error = None
            self.commits_ok.set()
            self._refused_log.recovered("this source's checkpoints saved again; its reading resumes",
                                        source=self.cfg.name)
        chain = fragment.get(integrity.STATE_KEY)
        if chain is not None and self.chain is not None:
            self.chain.acked_seq = chain["seq"]
        self.last_commit = time.time()
        self._m_ckpt.set(self.last_commit)
        return True

    def _refused(self, e: BaseException) -> None:
        """The store refused this source's rows alone: this source pauses (emit), the others read on."""
        error = f"{type(e).__name__}: {e}"
        if self.commits_ok.is_set():
            self.commit_error = (f"checkpoints of source {self.cfg.name} cannot be saved in {self.pipeline.store.path}: "
                                 f"{error}")
            self.commits_ok.clear()
        self._refused_log.failure("checkpoint commit of this source refused; its reading paused, retrying (the "
                                  "other sources read on)", source=self.cfg.name, path=self.pipeline.store.path,
                                  error=error)

    def _backoff(self, delay: float) -> bool:
        """Wait `delay` seconds before a failed commit is tried again; True when the agent gives up meanwhile.
        A stop that gave the state_dir's reserve back ends the wait once (the commit may fit now)."""
        end = time.monotonic() + delay
        while (left := end - time.monotonic()) > 0:
            # Not this source's `abandon`: a reload that restarts it waits for its delivered batches'
            # checkpoint, so the commit goes on until it is saved (given up, nothing would try it again
            # and the restart waited for ever, the source reading nothing after the disk had room).
            if self.pipeline.abandon.wait(min(left, 0.1)):
                return True
            if self.pipeline.reserve_freed.is_set() and not self._reserve_tried:
                self._reserve_tried = True
                return False
        return self.pipeline.abandon.is_set()

    def _note(self, fragment: dict[str, Any]) -> None:
        """SourceContext.note: saved now, retried like a checkpoint while the store fails."""
        self._commit(fragment)

    def _looked(self) -> None:
        """ctx.looked (once the source has looked, before its first batch): the agent may say it started.
        Then a first start's attestation, which waits for the outputs (one down at the start holds it):
        after the look, or a file rotated while it waited was taken for history at the look."""
        if self.looked.is_set():
            return
        self.looked.set()
        if self.chain is not None and self.chain.seq == 0 and not self._sealed_before:
            self.attest_now("start")

    def emit(self, raw: RawBatch) -> None:
        if not self.looked.is_set():  # (a source that emits before saying it looked: the attestation comes first)
            self._looked()
        # Checkpoints cannot be saved (the store's, or this source's alone): read no further until they can
        # (what is read would pile up).
        store_ok, mine_ok = self.pipeline.store_ok, self.commits_ok
        if not (store_ok.is_set() and mine_ok.is_set()):
            with self.waits.on("its checkpoints to be saved again (the state_dir refuses them)"):
                while not (store_ok.is_set() and mine_ok.is_set()) and not self.stop.is_set() and not self.abandon.is_set():
                    (mine_ok if store_ok.is_set() else store_ok).wait(0.5)
        if (self.backlog is not None and self.backlog.saw(len(raw.records), time.monotonic()) and self.pool is None
                and not self.stop.is_set() and not self.abandon.is_set()):
            # (Not while stopping: the agent's exit cleans multiprocessing's temporary folder meanwhile, and
            # the start failed with a warning or a traceback after `run --once | head -1`.)
            self._start_auto_pool()
        targets = self.pipeline.router.route(self.tag)
        if self.pool is not None:
            with self._pool_lock:
                pool = self.pool
                if pool is not None:  # parsed in a worker; _deliver_parsed routes it, in read order
                    with self.waits.on("room in its parse workers' queue"):
                        submitted = pool.submit(raw, any(w.output.reads_index_keys for w in targets))
                    if not submitted:
                        self._given_up(1, len(raw.records))  # stopping: read again, or (pushed) named lost
                    return
        if self.chain is None and all(w.output.takes_lines for w in targets):
            # Every output writes NDJSON lines: the events serialised now, while still in the CPU's cache,
            # and freed at once (~15 % less CPU a record than dicts dumped in the output's thread, bench/README.md)
            with self.waits.busy(self._parsing):
                parsed = serialise(self.builder, raw, any(w.output.reads_index_keys for w in targets))
            self._deliver_parsed(raw, parsed)
            return
        address_space.room_for(raw.records)  # the events are serialised by the outputs (and sealed): under a limit, is there room?
        with self.waits.busy(self._parsing):
            events, ids = self.builder.build(raw)
        self._route(raw.checkpoint, Batch(self.cfg.name, self.tag, events, ids, raw.nbytes))

    def _new_pool(self, workers: int) -> ParsePool:
        cfg = self.cfg
        return ParsePool(cfg.name, workers, EventSettings.of(cfg), _parser_options(cfg), self.builder.host,
                         self._deliver_parsed, self._parse_here, self.abandon, self._pool_failed,
                         parser_cls=type(self.builder.parser))

    def _granted_pool(self, wanted: int) -> ParsePool | None:
        """A pool of the workers (of `wanted`) the descriptor limit leaves room for, or None when it leaves none (said
        once: parsing in the agent). The workers it got go back when it ends (_give_back_workers)."""
        granted = fdlimit.grant_workers(wanted)
        if granted < wanted:
            log.warning(("cannot start parse workers (out of file descriptors: " if not granted else
                         f"parse workers: {granted} started (out of file descriptors for more: ")
                        + fdlimit.workers_refused(wanted, granted) + ")"
                        + ("; parsing in the agent" if not granted else ""),
                        extra={"source": self.cfg.name, "parse_workers": wanted, "started": granted})
        if not granted:
            return None
        try:
            pool = self._new_pool(granted)
        except BaseException:
            fdlimit.give_back_workers(granted)
            raise
        self._granted = granted
        return pool

    def _give_back_workers(self) -> None:
        granted, self._granted = self._granted, 0
        fdlimit.give_back_workers(granted)

    def _made_pool(self, workers: int) -> ParsePool | None:
        """A new pool, or None (warned of) when no processes can be had (limits, memory): the thread goes on alone."""
        try:
            return self._new_pool(workers)
        except Exception as e:
            if not self.stop.is_set():  # a stop came meanwhile: nothing to warn of, the thread parses what is left
                log.warning("cannot start parse workers; parsing in the source's thread",
                            extra={"source": self.cfg.name, "error": f"{type(e).__name__}: {e}"})
            return None

    def _start_auto_pool(self) -> None:
        """In the source thread, between two batches: every earlier batch is already routed, so
        the pool's batches follow them in read order."""
        if not self.pipeline.pool_budget.take():
            return
        granted = fdlimit.grant_workers(parse_auto.WORKERS)
        if not granted:  # the descriptor limit leaves the workers no room now: the thread parses; tried again later
            self.pipeline.pool_budget.give_back()
            if not self._auto_refused_said:
                self._auto_refused_said = True
                log.info("backlog: no parse worker processes (out of file descriptors: "
                         + fdlimit.workers_refused(parse_auto.WORKERS, 0) + "); parsing in the source's thread",
                         extra={"source": self.cfg.name})
            return
        with self._pool_lock:
            pool = None if self._pools_ended else self._made_pool(granted)
            if pool is None:
                fdlimit.give_back_workers(granted)
                self.pipeline.pool_budget.give_back()
                self.backlog = None
                return
            self._granted = granted
            self._auto_pool = True
            self.pool = pool
        log.info("backlog: parsing in worker processes", extra={"source": self.cfg.name, "workers": granted})

    def retire_idle_pool(self, now: float) -> bool:
        """Give an auto pool back once the source has sent no full batch for a while and nothing is
        in it. Never waits: a submission in progress means it is not idle. True if retired."""
        if not self._auto_pool or self.backlog is None or not self.backlog.idle(now):
            return False
        if not self._pool_lock.acquire(blocking=False):
            return False
        try:
            pool = self.pool
            if pool is None or pool.in_queue():
                return False
            self.pool = None
            self._auto_pool = False
        finally:
            self._pool_lock.release()
        pool.close()
        self._give_back_workers()
        self.pipeline.pool_budget.give_back()
        log.info("caught up: parsing in the source's thread again", extra={"source": self.cfg.name})
        return True

    def parse_workers(self) -> int:
        """Worker processes parsing for this source now (0: its own thread parses)."""
        pool = self.pool
        return pool.workers if pool is not None else 0

    def _parse_here(self, raw: RawBatch) -> Parsed:
        return serialise(self.builder, raw)

    def _deliver_parsed(self, raw: RawBatch, parsed: Parsed) -> None:
        """A worker's result, in read order (the pool's collector thread)."""
        lines, n, id_parts, index_keys, failures, unmapped = parsed
        self.builder.count(n, raw.nbytes, failures, unmapped)
        batch = Batch(self.cfg.name, self.tag, SerializedEvents(lines, n), self.builder.ids(id_parts, raw.keys),
                      raw.nbytes, lines=lines, index_keys=index_keys)
        self._route(raw.checkpoint, batch)

    def _pool_failed(self, e: BaseException) -> None:
        self.error = e
        if isinstance(e, MemoryError):
            self._out_of_memory(e)
        else:
            log.error("source failed: %s: %s", type(e).__name__, e, extra={"source": self.cfg.name}, exc_info=e)
        self.stop.set()

    def _out_of_memory(self, e: MemoryError) -> None:
        """No memory for what the source read (an address-space limit: shipper.address_space): the agent ends,
        exit 1, with one line (what it did not deliver is read again at the next start). The source alone
        ended, the agent went on without it, and the next allocation anywhere failed as well."""
        limit = address_space.limit()
        why = str(e) or ("an allocation failed (out of memory)" if limit is None else
                         f"an allocation failed under the address-space limit ({limit // 1024} KiB: ulimit -v, "
                         "systemd's LimitAS=): raise the limit, or lower the source's max_line_bytes")
        if self.pipeline.end is None:
            self.pipeline.end = EndRun(f"source {self.cfg.name}: {why}")

    def _route(self, checkpoint: dict[str, Any], batch: Batch) -> None:
        if self.vendor_gaps is not None and batch.events and hasattr(batch.ids, "vendor_ids"):
            with self._gaps_lock:
                self._report_gaps(self.vendor_gaps.observe(batch.ids.vendor_ids(), time.monotonic()))
                checkpoint = {**checkpoint, vendor_ids.STATE_KEY: self.vendor_gaps.state()}
        if self.chain is None:
            self._route_batch(checkpoint, batch)
            return
        if not self._chain_lock.acquire(blocking=False):
            with self.waits.on("the integrity chain's lock"):
                self._chain_lock.acquire()
        try:
            if self._attest_reason is not None and self.chain.seq >= self._sealed_before and self._replay_hold is None:
                self._attest_locked()
            if batch.events and self._replay_hold is not None:
                self._route_replayed(checkpoint, batch)
                return
            if batch.events:
                chain = self.chain
                if chain.pending:  # old links a replay did not meet: an event met later still gets its link
                    batch = self._sealed_after_replay(batch)
                else:
                    batch = Batch(batch.source, batch.tag, [chain.seal(ev, i) for ev, i in zip(batch.events, batch.ids)],
                                  batch.ids, batch.nbytes)
                if not self._sealed(self.chain.seq):
                    self._given_up(1, len(batch.ids))
                    return
                checkpoint = {**checkpoint, integrity.STATE_KEY: self.chain.state()}
            self._route_batch(checkpoint, batch)
        finally:
            self._chain_lock.release()

    # --- integrity: a replay (a re-read after a reload restarted the source; Chain.replay) ---------------

    def _start_replay(self, handed: Any) -> bool:
        """With the chain's lock or before the thread starts: the re-read seals the events the predecessor
        sealed with their links, and holds back what is new to it until it met them all."""
        assert self.chain is not None
        if not self.chain.replay(handed):
            return False
        self._replay_hold, self._held = {}, []
        self._replay_met_at = time.monotonic()
        self._replay_hold_max = max(REPLAY_HOLD_MIN, 2 * len(handed["links"]))
        log.info("the re-read seals the events its predecessor sealed with the same links (sequence, hash), and "
                 "what is new to it after them", extra={"source": self.cfg.name, "links": len(handed["links"])})
        return True

    def replay_links(self, handed: Any) -> None:
        """A reload restarting this source, before its thread starts: its predecessor's links (hand_over_links),
        saved (a kill -9 during the re-read replays them again) and replayed."""
        if handed is None or self.chain is None:
            return
        with self._chain_lock:
            if self._start_replay(handed):
                self._commit({integrity.REPLAY_KEY: handed})

    def hand_over_links(self) -> Any:
        """A reload restarting this source, once it let it go: its chain's links not checkpointed (None: none),
        for the successor's re-read."""
        if self.chain is None:
            return None
        with self._chain_lock:
            return self.chain.hand_over()

    def _route_replayed(self, checkpoint: dict[str, Any], batch: Batch) -> None:
        """With the chain's lock: a batch of the replay. Its events met again go out with their links; those new
        to it are held back (an output that keeps order must store every old link before a link sealed after
        them); its checkpoint waits for the batch that ends the replay."""
        chain = self.chain
        assert chain is not None
        events, ids = self._met_again(batch, lambda ev, event_id: self._held.append((ev, event_id)))
        if not chain.pending or len(self._held) + chain.links_due_later() > self._replay_hold_max:
            if chain.pending:
                log.warning(f"the re-read after a reload met {len(self._held)} events new to it before "
                            f"{sum(len(m) for m in chain.pending.values())} events its predecessor had sealed: it "
                            "seals them now, after the predecessor's links; an output that stores in order may "
                            "store those later than these (shipper verify: reordered)", extra={"source": self.cfg.name})
            self._end_replay(events, ids, batch.nbytes, checkpoint)
            return
        assert self._replay_hold is not None
        if not events:
            self._replay_hold.update(checkpoint)
            return
        self._route_batch(checkpoint, Batch(batch.source, batch.tag, events, ids, batch.nbytes))

    def _sealed_after_replay(self, batch: Batch) -> Batch:
        """A batch after a replay that ended before it met all its old links: an event met now gets its link."""
        chain = self.chain
        assert chain is not None
        events, ids = self._met_again(batch, lambda ev, event_id: (chain.seal(ev, event_id), event_id))
        return Batch(batch.source, batch.tag, events, ids, batch.nbytes)

    def _met_again(self, batch: Batch, not_met: Callable[[dict, str], tuple[dict, str] | None]
                   ) -> tuple[list[dict], list[str]]:
        """With the chain's lock, during or after a replay: a batch's events in order, each met again giving
        the old links now due; `not_met` says what an event new to the replay becomes (None: held back)."""
        chain = self.chain
        assert chain is not None
        events: list[dict] = []
        ids: list[str] = []
        for ev, event_id in zip(batch.events, batch.ids):
            ready, met = chain.replayed(ev, event_id)
            if met:
                self._replay_met_at = time.monotonic()
            elif (placed := not_met(ev, event_id)) is not None:
                ready = [*ready, placed]
            events += [doc for doc, _ in ready]
            ids += [i for _, i in ready]
        return events, ids

    def _end_replay(self, events: list[dict], ids: list[str], nbytes: int, checkpoint: dict[str, Any]) -> None:
        """With the chain's lock: the replay ends with this batch, which carries the events it held back (sealed
        after its last old link) and every checkpoint it held, with the chain's head."""
        chain = self.chain
        assert chain is not None and self._replay_hold is not None
        due = chain.end_replay()
        held, self._held = self._held, []
        events = events + [doc for doc, _ in due] + [chain.seal(ev, event_id) for ev, event_id in held]
        ids = ids + [event_id for _, event_id in due] + [event_id for _, event_id in held]
        deferred, self._replay_hold = self._replay_hold, None
        if held and not self._sealed(chain.seq):
            self._given_up(1, len(ids))  # the agent stops: read again from the saved checkpoint and replay
            return
        for output in self._replay_stored:  # the replay's notes: what is left of the note loaded, once checkpointed
            if DELIVERED_PREFIX + output not in deferred:
                left = list((+self._delivered_before.get(output, Counter())).elements())
                deferred[DELIVERED_PREFIX + output] = left or None
                if not left:
                    deferred[DELIVERED_WHERE_PREFIX + output] = None
        self._replay_stored = {}
        checkpoint = {**deferred, **checkpoint, integrity.STATE_KEY: chain.state(), integrity.REPLAY_KEY: None}
        self._route_batch(checkpoint, Batch(self.cfg.name, self.tag, events, ids, nbytes))

    def end_stale_replay(self, now: float, interval: float) -> bool:
        """From the attestation thread (`now`: time.monotonic()): a replay that met no old link for `interval`
        (the attest_interval, at least REPLAY_STALE_MIN) seconds while nothing is in flight ends (the source
        may never read those events again). True if it ended."""
        if self._replay_hold is None or not self._chain_lock.acquire(blocking=False):
            return False
        try:
            stale = max(REPLAY_STALE_MIN, interval)
            if self._replay_hold is None or self.tracker.in_flight() or now - self._replay_met_at < stale:
                return False
            assert self.chain is not None
            log.warning(f"the re-read after a reload did not meet {sum(len(m) for m in self.chain.pending.values())} "
                        f"events its predecessor had sealed for {stale:.0f} s: it seals the "
                        f"{len(self._held)} events new to it that it held back now; if it meets those later, an output "
                        "that stores in order may store them after these (shipper verify: reordered)",
                        extra={"source": self.cfg.name})
            self._end_replay([], [], 0, {})
            return True
        finally:
            self._chain_lock.release()

    def check_vendor_gaps(self, now: float) -> None:
        if self.vendor_gaps is not None:
            with self._gaps_lock:
                self._report_gaps(self.vendor_gaps.due(now, self.cfg.vendor_id_grace))

    def _source_gaps(self, gaps: list[tuple[int, int]], numbering: str) -> None:
        """From the source's thread: gaps in a numbering the source watches itself (shipper.vendor_ids)."""
        with self._gaps_lock:
            self._report_gaps(gaps, numbering)

    def _report_gaps(self, gaps: list[tuple[int, int]], numbering: str | None = None) -> None:
        if not gaps:
            return
        ids = sum(hi - lo + 1 for lo, hi in gaps)
        self._m_vendor_gaps.inc(ids)
        missing = vendor_ids.describe(gaps[:20])
        if numbering is None:
            log.warning("the product's event ids skip numbers never seen here: ask its database whether they exist",
                        extra={"source": self.cfg.name, "missing_ids": missing, "count": ids})
        else:
            log.warning(f"the product's {numbering} skip numbers never seen here ({missing}): "
                        "ask its database whether they exist",
                        extra={"source": self.cfg.name, "numbering": numbering, "missing_ids": missing, "count": ids})
        self._gaps_reported.extend((lo, hi, numbering) for lo, hi in gaps)
        self._gap_ids_reported += ids
        del self._gaps_reported[:-100]  # an attestation names the last 100 ranges, and counts all

    def _name_loss(self, what: str, nbytes: int) -> None:
        if self.chain is not None:
            with self._gaps_lock:
                self._lost.append({"what": what, "bytes": nbytes})
                del self._lost[:-100]  # the last 100 named; `losses` counts all

    def name_undelivered(self, batches: int, events: int, why: str) -> None:
        """Batches of a source that cannot read them again (Source.rereads False) were let go undelivered:
        a loss, warned with its count, counted in shipper_losses and named in the next attestation."""
        if not batches:
            return
        self.counts.losses.inc()
        log.warning(f"{why}: {events} events in {batches} batches are lost: this source cannot read them again",
                    extra={"source": self.cfg.name, "batches": batches, "events": events})
        self._name_loss(f"{events} events not delivered ({why})", 0)

    def _given_up(self, batches: int, records: int) -> None:
        with self._gaps_lock:
            self._dropped = (self._dropped[0] + batches, self._dropped[1] + records)

    def take_losses(self) -> list[dict[str, Any]]:
        """The losses named since the last attestation, for a successor's next one (a reload's restart)."""
        with self._gaps_lock:
            lost, self._lost = self._lost, []
        return lost

    def inherit_losses(self, lost: list[dict[str, Any]]) -> None:
        if lost and self.chain is not None:
            with self._gaps_lock:
                self._lost[:0] = lost
                del self._lost[:-100]

    def _take_gaps(self) -> dict[str, Any] | None:
        if not self._watches_ids:
            return None
        with self._gaps_lock:
            gaps, self._gaps_reported = self._gaps_reported, []
            ids, self._gap_ids_reported = self._gap_ids_reported, 0
        out: dict[str, Any] = {"ids": ids, "ranges": [[lo, hi] for lo, hi, n in gaps if n is None]}
        named = [{"numbering": n, "first": lo, "last": hi} for lo, hi, n in gaps if n is not None]
        if named:  # a list, not a mapping by name: a store would map a field per numbering
            out["numbered"] = named
        return out

    # --- integrity (shipper.integrity): attestations ---------------------------------------------
    # A replay after a kill -9 must seal the same links again (same sequence, same hash), or a store
    # that de-duplicates by _id keeps the first copies while the chain goes on from the second. So
    # an attestation (its time differs on every run) is appended only (1) when everything before it
    # is acknowledged and checkpointed, (2) holding back every later link until it is checkpointed
    # itself, and (3) never inside the links an earlier run sealed and may not have checkpointed
    # (`integrity.sealed`, written before a batch goes out).

    def _sealed(self, seq: int) -> bool:
        """Save the sealed mark before the batch leaves, through the checkpoint's own retries (a full
        disk pauses reading). False: the agent gives up (a stop, or --once out of time); the batch is
        then not sent, so the next start seals it again from the saved head."""
        return self._commit({integrity.SEALED_KEY: seq})

    def seal_with(self, key) -> None:
        """A reload's new integrity key: the chain goes on sealed with it."""
        if self.chain is not None:
            with self._chain_lock:
                self.chain.key = key

    def request_attestation(self, reason: str) -> None:
        if self.chain is not None and self._attest_reason is None:
            self._attest_reason = reason

    def attest_due(self, now: float, interval: float) -> bool:
        return self.chain is not None and now - self.chain.since_time >= interval

    def attest_if_idle(self) -> bool:
        """From the attestation thread: append a requested attestation now if the source is not
        routing a batch and nothing is in flight (else the next batch appends it). True if done."""
        if self.chain is None or self._attest_reason is None or not self._chain_lock.acquire(blocking=False):
            return False
        try:
            if self.tracker.in_flight() or self.chain.seq < self._sealed_before or self._replay_hold is not None:
                return False
            return self._attest_locked()
        finally:
            self._chain_lock.release()

    def attest_by(self, reason: str, deadline: float, at_least: float = 0.0) -> None:
        """attest_now in a thread of its own, waited for until `deadline` (time.monotonic()), at least
        `at_least` seconds: a stop or a reload goes on at its deadline even if the outputs hang."""
        if self.chain is None:
            return
        t = threading.Thread(target=self.attest_now, args=(reason,), name=f"attest-{self.cfg.name}", daemon=True)
        t.start()
        t.join(max(at_least, deadline - time.monotonic()))

    def attest_now(self, reason: str) -> bool:
        """Append an attestation, waiting for what is in flight (start and stop)."""
        if self.chain is None:
            return False
        with self._chain_lock:
            self._attest_reason = reason
            return self._attest_locked()

    def _chains_beside(self, outputs: list[str]) -> dict[str, list[dict[str, Any]]]:
        """Per output, the other sources' chains it also carries, at their current sequence and at the one
        every output of theirs has acknowledged (checkpointed): a trail of that output that lacks one of them
        altogether, or its acknowledged links, was cut (shipper verify names it). Only the acknowledged one
        is proof of what a store holds: a batch still retried (429) is sealed but not stored yet. A list,
        not a mapping by name: a store would map a field per chain."""
        beside: dict[str, list[dict[str, Any]]] = {o: [] for o in outputs}
        for r in list(self.pipeline.runners.values()):
            if r is self or r.chain is None or r.detached:
                continue
            for w in self.pipeline.router.route(r.tag):
                if w.name in beside:
                    beside[w.name].append({"chain": r.chain.id, "sequence": r.chain.seq,
                                           "acknowledged": r.chain.acked_seq})
        return beside

    def _wait_checkpointed(self) -> bool:
        with self.waits.on("an attestation to be acknowledged by every output, with what is in flight before it"):
            while not self.tracker.wait_idle(0.1):
                if self.abandon.is_set():
                    return False
        return True

    def _attest_locked(self) -> bool:
        chain, reason = self.chain, self._attest_reason
        assert chain is not None and reason is not None  # every caller checked both, under the lock
        if self._replay_hold is not None:  # never among links a predecessor sealed and may not have checkpointed
            return False
        if not self._wait_checkpointed():
            return False
        routes = self.pipeline.router.route(self.tag)
        outputs = [w.name for w in routes]
        counts = chain.counts(self.counts, {w.name: w.counts for w in routes})
        for name, beside in self._chains_beside(outputs).items():
            counts["outputs"][name]["chains"] = beside
        for w in self.pipeline.router.route(self.tag):
            if not w.output.stores_in_order:  # shipper verify tells no reordering in its store's trail
                counts["outputs"][w.name]["ordered"] = False
        gaps = self._take_gaps()
        if gaps is not None:
            counts["vendor_id_gaps"] = gaps
        with self._gaps_lock:
            lost, self._lost = self._lost, []
        if lost:
            counts["lost"] = lost
        prev = chain.head
        doc = chain.seal(chain.attestation(reason, counts,
                                           {"name": self.builder.host}, self.builder.agent))
        chain.attested()
        self._attest_reason = None
        # Its id names its content: an attestation re-made after a kill -9 is a second link at that
        # place (shipper verify accepts both), never taken by the store for the first one.
        ids = [ids_mod.vendor_stable_id(self.builder.id_namespace,
                                        f"attestation\0{chain.id}\0{chain.seq}\0{chain.head}")]
        # Kept until checkpointed: a reload that stops this source before then (its wait below given up, the
        # batch taken back or never tracked) hands it over, and the successor's re-read re-issues it in its place
        chain.keep_attestation(ids[0], prev, doc)
        if not self._sealed(chain.seq):
            return False
        self._route_batch({integrity.STATE_KEY: chain.state()}, Batch(self.cfg.name, self.tag, [doc], ids, 0))
        return self._wait_checkpointed()

    def _route_batch(self, checkpoint: dict[str, Any], batch: Batch) -> None:
        events = batch.events
        targets = self.pipeline.router.route(self.tag)
        if not targets and events:
            self._m_unrouted.inc(len(events))
            self.pipeline.warn_unrouted(self.tag)
        sends = [(w, batch) for w in targets]
        met: dict[str, list[str]] = {}  # per output, the events it stored before met in this batch
        if self._delivered_before and events:
            checkpoint = dict(checkpoint)
            sends = [(w, b) for w in targets
                     if (b := self._not_delivered_before(w.name, batch, checkpoint, met)) is not None]
        sent = {w.name for w, _ in sends}
        if self._replay_hold is not None:  # a replay: its checkpoints go with the batch that ends it
            self._replay_hold.update(checkpoint)
            checkpoint = self._replay_note(batch.ids, targets) if events else {}
        # The note's events met here for an output sent the rest stay noted with this batch: taken back before that
        # output acknowledged it, the next re-read must still spare them (they were sent again, unnamed: issue 23)
        seq = self.tracker.register(len(sends) if events else 0, checkpoint, batch.ids,
                                    [w.name for w in targets if w.name not in sent],
                                    {output: ids for output, ids in met.items() if output in sent})
        if met and self.tracker.intake_closed():
            # Not tracked (a reload stops this source): read again, and what it met of the note stays in it
            # (else a save_delivered_to would forget those events, and the next re-read send them again).
            for output, ids in met.items():
                self._delivered_before.setdefault(output, Counter()).update(ids)
        if not events:
            return
        give_up = self.abandon
        for i, (worker, mine) in enumerate(sends):
            with self.waits.on(f"room in output {worker.name}'s queue (the output is down or slower than the source "
                               "reads: backpressure)"):
                queued = worker.put(mine, self.tracker, seq, give_up)
            if not queued:
                # Stopping: not acked, so not checkpointed, so read again next start. Or a reload closed
                # this output before or while the put waited for room: the outputs before it may have the
                # batch, this one and those after never will, so it never completes; once those before
                # are done with it, the reload takes it back (shipper.reload_apply).
                self.tracker.strand(seq, [w.name for w, _ in sends[i:]])
                return
            # Handed to one output, it must reach the others too: a reload that gave up here would
            # leave it delivered by one and never by the rest (its source could never restart).
            # Only the agent's stop gives up on it now.
            give_up = self.pipeline.abandon

    def _replay_note(self, ids: Sequence[str], targets: Sequence[Any]) -> dict[str, Any]:
        """With the chain's lock, a replay's batch: what its commit saves in place of its checkpoint (held back
        until the replay ends), once every output stored it: per output, the events it stores past the saved
        checkpoint (the note loaded, then every replay batch so far). A stop, a second reload or a kill -9 before
        the replay ends re-reads from that checkpoint, and sends these to that output no more: the replay's
        delivered batches were sent again to every output, unnamed (Fluentd down, two reloads: 4-40 events
        stored twice)."""
        configured = self.pipeline.output_configs
        fragment: dict[str, Any] = {}
        for w in targets:
            if w.name not in self._replay_stored:
                self._replay_stored[w.name] = list((self._saved.get(DELIVERED_PREFIX + w.name) or ()))
            stored = self._replay_stored[w.name]
            stored.extend(ids)
            fragment[DELIVERED_PREFIX + w.name] = stored[-DELIVERED_MAX:]  # (a copy: the list grows on)
            if w.name in configured:
                fragment[DELIVERED_WHERE_PREFIX + w.name] = configured[w.name].where()
        return fragment

    def _not_delivered_before(self, output: str, batch: Batch, checkpoint: dict[str, Any],
                              met: dict[str, list[str]]) -> Batch | None:
        """The batch without the events `output` stored before the last stop (None: it had them all);
        those are added to `met[output]`. Once every such event was met again, `checkpoint` deletes the
        note with this batch."""
        seen = self._delivered_before.get(output)
        if not seen:
            return batch
        keep: list[int] = []
        for i, event_id in enumerate(batch.ids):
            if seen[event_id] > 0:
                seen[event_id] -= 1
                if not seen[event_id]:
                    del seen[event_id]
                met.setdefault(output, []).append(event_id)
            else:
                keep.append(i)
        skipped = len(batch.ids) - len(keep)
        if skipped:
            log.info("events this output stored before the last stop or reload are not sent to it again",
                     extra={"source": self.cfg.name, "output": output, "events": skipped})
        if not seen:
            del self._delivered_before[output]
            checkpoint[DELIVERED_PREFIX + output] = None
            checkpoint[DELIVERED_WHERE_PREFIX + output] = None
        if not skipped:
            return batch
        if not keep:
            return None
        return batch_part(batch, keep)

    def _carry_renamed_notes(self, wheres: dict[str, Any]) -> None:
        """A note of events an output stored (`_delivered_to:<output>`) is that of the output that stores where it
        says (`wheres`: its OutputConfig.where when noted). A note whose output the config has no more, or whose
        name now names an output storing elsewhere (a name given to another server, two names swapped), while
        exactly one configured output without a valid note of its own stores where it did: the output was
        renamed while the agent was stopped. Its note is that output's, or the re-read would send it again what
        the old name stored (and not send the name's new server what it lacks)."""
        if not self._delivered_before:
            return
        configured = self.pipeline.output_configs
        gone = [o for o in self._delivered_before if o not in configured
                or (wheres.get(o) and configured[o].where() != wheres[o])]
        kept = {o: ids for o, ids in self._delivered_before.items() if o not in gone}
        moved: dict[str, str] = {}
        for old in gone:
            where = wheres.get(old)
            same = [n for n, c in configured.items() if where and c.where() == where
                    and n not in kept and n not in moved.values()]
            if len(same) == 1:
                moved[old] = same[0]
        fragment: dict[str, Any] = {}
        for old in gone:
            fragment.update({DELIVERED_PREFIX + old: None, DELIVERED_WHERE_PREFIX + old: None})
        for old, new in moved.items():
            kept[new] = self._delivered_before[old]
            fragment.update({DELIVERED_PREFIX + new: list(kept[new].elements()),
                             DELIVERED_WHERE_PREFIX + new: wheres[old]})
        self._stored_where = {o: wheres[o] for o in kept if wheres.get(o)}
        self._stored_where.update((new, wheres[old]) for old, new in moved.items())
        if moved:
            log.info("events outputs stored before the last stop are noted for the name each has now (renamed, the "
                     "rest of its block unchanged): not sent to it again", extra={
                         "source": self.cfg.name, "renamed": ",".join(f"{o}->{n}" for o, n in moved.items())})
        # Decision (docs/operations.md): the note of an output gone, which no configured output matches, is said
        # once and dropped. It spares that output alone, which no re-read sends to; kept, it lingered unwarned in
        # every later save (up to DELIVERED_MAX ids), and a rename it missed repeated those events silently.
        for old in [o for o in gone if o not in moved]:
            ids = self._delivered_before[old]
            none = (f"no configured output is {old} or stores where it did" if old not in configured else
                    f"the output now named {old} stores elsewhere, and no configured output stores where it did")
            log.warning(f"source {self.cfg.name}: {sum(ids.values())} events output {old} stored before the last stop "
                        f"or reload were noted so that they are not sent to it again, and {none}"
                        ": the note is dropped. If the output was renamed (its block changed "
                        "with its name, or the note was saved by a version that did not record where an output "
                        "stores), the batches read again send those events to it again under its new name",
                        extra={"source": self.cfg.name, "output": old, "events": sum(ids.values()),
                               "where_known": old in wheres})
        self._delivered_before = kept
        if not fragment:
            return
        try:
            self.pipeline.store.update(self.cfg.name, fragment)
        except (sqlite3.Error, OSError):  # (the next start finds the old names and does the same)
            pass

    def park_elsewhere(self, seqs: set[int]) -> None:
        """Before batches a reload takes back are let go: what the old server of a name that reload gave to another
        server acknowledged during its wait (AckTracker.delivered_elsewhere), kept by where it stores for this
        source's successors (Pipeline.notes_elsewhere). A later reload giving an output that where again (a change
        undone while the batches are read again for the name's new server) has its re-read skip them there."""
        parked = self.pipeline.notes_elsewhere.setdefault(self.cfg.name, {})
        had = set(parked)
        came = self.tracker.delivered_elsewhere(seqs)
        for where, ids in came.items():
            parked[where] = [*parked.pop(where, ()), *ids][-DELIVERED_MAX:]  # (the newest where last)
        while sum(map(len, parked.values())) > DELIVERED_MAX:  # bounded: the oldest where goes first
            del parked[next(iter(parked))]
        if not parked:
            del self.pipeline.notes_elsewhere[self.cfg.name]
        # Saved at once: a stop between the two reloads (or a kill -9) must not forget them, or the start with the
        # change undone sent them to that server again without a word.
        fragment: dict[str, Any] = {ELSEWHERE_PREFIX + w: parked[w] for w in came if w in parked}
        fragment.update((ELSEWHERE_PREFIX + w, None) for w in had if w not in parked)
        self._save_parked(fragment)

    def _load_parked(self, saved: dict[str, Any]) -> None:
        """Parked notes a stop saved (park_elsewhere), for this start: the agent's own, in memory, are the same."""
        parked = self.pipeline.notes_elsewhere.setdefault(self.cfg.name, {})
        for where, ids in saved.items():
            if isinstance(ids, list) and ids and where not in parked:
                parked[where] = [i for i in ids if isinstance(i, str)]
        if not parked:
            del self.pipeline.notes_elsewhere[self.cfg.name]

    def _save_parked(self, fragment: dict[str, Any]) -> None:
        if not fragment:
            return
        try:
            self.pipeline.store.update(self.cfg.name, fragment)
        except Interrupted:  # a stop cut the reload that parked them: the stop saves them
            self.pipeline.note_at_stop(self.cfg.name, fragment, taken_back=False)
        except (sqlite3.Error, OSError) as e:  # kept in memory: a stop before the change is undone forgets them
            log.warning("cannot save the note of the events an output's old server stored during a reload's wait: "
                        "a stop before a reload gives an output that server again sends them to it again",
                        extra={"source": self.cfg.name, "error": f"{type(e).__name__}: {e}"})

    def forget_parked(self) -> None:
        """A stop that delivered everything: every event read is checkpointed, those of the parked notes too, and
        none is read again; the notes go (else kept for ever, DELIVERED_MAX ids at most)."""
        parked = self.pipeline.notes_elsewhere.pop(self.cfg.name, None)
        if parked:
            try:
                self.pipeline.store.update(self.cfg.name, {ELSEWHERE_PREFIX + w: None for w in parked})
            except (sqlite3.Error, OSError):  # (a stale note spares only events no re-read meets)
                pass

    def _adopt_notes_elsewhere(self) -> None:
        """A parked note (park_elsewhere) of where a configured output that has no note of its own stores: that
        output's note, saved (the re-read does not send it those events again, nor after a stop)."""
        parked = self.pipeline.notes_elsewhere.get(self.cfg.name)
        if not parked:
            return
        fragment: dict[str, Any] = {}
        for ocfg in self.pipeline.config.outputs:
            ids = parked.get(ocfg.where()) if ocfg.name not in self._delivered_before else None
            if ids and fnmatchcase(self.tag, ocfg.match):
                del parked[ocfg.where()]
                self._delivered_before[ocfg.name] = Counter(ids)
                self._stored_where[ocfg.name] = ocfg.where()
                fragment.update({DELIVERED_PREFIX + ocfg.name: ids, DELIVERED_WHERE_PREFIX + ocfg.name: ocfg.where(),
                                 ELSEWHERE_PREFIX + ocfg.where(): None})
                log.info("events an output stored during a reload's wait, before that reload gave its name to another "
                         "server, are noted for the output storing there now: not sent to it again",
                         extra={"source": self.cfg.name, "output": ocfg.name, "events": len(ids)})
        if not parked:
            del self.pipeline.notes_elsewhere[self.cfg.name]
        if fragment:
            try:
                self.pipeline.store.update(self.cfg.name, fragment)
            except (sqlite3.Error, OSError):  # (kept in memory: a stop's save_delivered_to saves it)
                pass

    def rename_outputs(self, renamed: dict[str, str]) -> None:
        """A reload renamed these outputs (old name -> new name: ReloadPlan.outputs_renamed) while this runner
        stopped for a restart: the events the old name stored are noted for the new name (save_delivered_to).
        A rename of a rename (a later reload during the wait) follows it to the last name."""
        chained = {old: renamed.get(new, new) for old, new in self.outputs_renamed.items()}
        chained.update((old, new) for old, new in renamed.items() if old not in chained)
        self.outputs_renamed = {old: new for old, new in chained.items() if old != new}

    def save_delivered_to(self, seqs: set[int] | None = None, delivered: dict[str, list[str]] | None = None) -> None:
        """Before batches that not every output acknowledged are let go (a stop, a reload taking them back):
        note per output the events it did store, so that the re-read does not send them to it again.
        `delivered`: what tracker.delivered_to() said of batches already withdrawn (instead of `seqs`)."""
        # Each call replaces the note: it holds what an earlier call noted (a reload closing two outputs,
        # a batch stranded after the others were taken back, a stop after a reload) and what the re-read
        # has not met again yet.
        noted = self._delivered_noted
        configured = self.pipeline.output_configs
        for output, ids in (self.tracker.delivered_to(seqs) if delivered is None else delivered).items():
            noted.setdefault(output, []).extend(ids)
            if output in configured:
                self._stored_where.setdefault(output, configured[output].where())
        parts = {output: list(ids) for output, ids in noted.items()}
        for output, left in self._delivered_before.items():
            parts.setdefault(output, []).extend((+left).elements())
        if self._replay_stored:  # a replay's batches delivered and committed: their notes (_replay_note)
            for output in self._replay_stored:
                saved = self._saved.get(DELIVERED_PREFIX + output) or ()
                parts[output] = list(dict.fromkeys([*parts.get(output, ()), *saved]))
        renamed = {old: new for old, new in self.outputs_renamed.items() if old in parts}
        # All at once, not one rename after another: names swapped (a -> b, b -> a) would undo each other.
        moved: dict[str, list[str]] = {}
        for output, ids in parts.items():
            moved.setdefault(self.outputs_renamed.get(output, output), []).extend(ids)
        parts = moved
        fragment: dict[str, Any] = {DELIVERED_PREFIX + o: list(ids)[-DELIVERED_MAX:] for o, ids in parts.items() if ids}
        fragment.update((DELIVERED_WHERE_PREFIX + o, self._stored_where.get(o) or configured[o].where())
                        for o, ids in parts.items() if ids and o in configured)
        # A renamed output's note says where its new name stores in the config in force: saved while a reload takes
        # batches back, the running outputs are still the old config's, where a swapped name names the other server.
        in_force = {o.name: o for o in self.pipeline.config.outputs}
        fragment.update((DELIVERED_WHERE_PREFIX + new, in_force[new].where()) for new in set(renamed.values())
                        if parts.get(new) and new in in_force)
        # (an old name's note goes, unless that name now has a note of its own: the successor has no output of
        # that name, or it is another output's)
        fragment.update((prefix + old, None) for old in renamed if not parts.get(old)
                        for prefix in (DELIVERED_PREFIX, DELIVERED_WHERE_PREFIX))
        if not fragment:
            return
        try:
            self.pipeline.store.update(self.cfg.name, fragment)
        except Interrupted:  # a stop cut the reload that let them go: the stop saves the note, uncut
            self.pipeline.note_at_stop(self.cfg.name, fragment)
        except (sqlite3.Error, OSError) as e:  # then those outputs get them again: at-least-once, said
            log.warning("cannot note which outputs stored the batches taken back: the re-read sends them to "
                        "every output again", extra={"source": self.cfg.name, "error": f"{type(e).__name__}: {e}"})

    def save_unsaved_state(self) -> None:
        """At a stop that left batches undelivered: what the source first read in this run and no delivered
        batch's checkpoint saved (Source.unsaved_state), saved now, so that the next start reads it again or
        names it lost. Not while its thread still runs (the stop did not wait for it): its state moves.
        What cannot be saved (its thread still running, the stop's time up, the writer stuck, the disk full) is
        named now, each file with its bytes: the next start knows nothing of it (a never-read file deleted
        meanwhile went without a word; with the thread stuck in a read, the stop said nothing of it at all:
        tests/core/test_stop_names_unsaved_of_a_source_not_returned.py)."""
        if self.thread.is_alive():
            self._say_unsaved(None)
            return
        store = self.pipeline.store
        try:
            fragment = self.source.unsaved_state(store.load(self.cfg.name))
            if fragment:
                self.pipeline.save_at_stop(self.cfg.name, fragment)
        except (sqlite3.Error, OSError) as e:  # (GivenUp, Interrupted: the store given up, the stop's time up)
            self._say_unsaved(e)
        except Exception:
            log.exception("cannot tell what this run first read and did not deliver", extra={"source": self.cfg.name})

    def save_seen_at_stop(self) -> None:
        """At a stop that delivered everything: what the source saw after its last delivered batch and the next start
        needs (Source.seen_unsaved), saved now. Not while its thread still runs (its state moves). What cannot be
        saved is said: the next start judges those inputs without it."""
        if self.thread.is_alive():
            return
        try:
            fragment = self.source.seen_unsaved(self.pipeline.store.load(self.cfg.name))
            if fragment:
                self.pipeline.save_at_stop(self.cfg.name, fragment)
        except (sqlite3.Error, OSError) as e:
            log.warning("stopping: cannot save what this run saw of its inputs and did not read (the sizes its looks "
                        "saw): a cut of them while the agent is stopped may go unnamed",
                        extra={"source": self.cfg.name, "error": f"{type(e).__name__}: {e}"})
        except Exception:
            log.exception("cannot tell what this run saw and did not read", extra={"source": self.cfg.name})

    def _say_unsaved(self, e: BaseException | None) -> None:
        """The stop's save of what this run first read and did not deliver failed (`e`), or was not made (None: the
        source's thread still runs, its state moving): what it was to save, told from the state this runner knows
        was saved (the store may not answer any more), each file with its bytes; with the thread running, as it is
        now, or, when that cannot be told (the thread changed it meanwhile), without the files."""
        try:
            positions: list[SavedPosition] | None = type(self.source).saved_positions(
                self.source.unsaved_state(dict(self._saved)))
        except Exception:
            positions = None
        if e is None and positions == []:
            return  # (nothing it was to save)
        why = (f"{type(e).__name__}: {e}" if e is not None
               else "its thread had not ended: the stop did not wait for it, and its state still moves")
        at_risk = sum(p.size - p.offset for p in positions or () if p.size is not None and p.size > p.offset)
        files = "; ".join(f"{p.path} ({p.size - p.offset} bytes from offset {p.offset})" if p.size is not None
                          else f"{p.path} (from offset {p.offset})" for p in positions or ())
        log.warning("stopping: cannot save the state of what this run first read and did not deliver: the next start "
                    "does not know it, and if it is deleted before then, its loss is not named"
                    + (f": {files}" if files else ""),
                    extra={"source": self.cfg.name, "error": why, "bytes_at_risk": at_risk})

    def _run(self) -> None:
        try:
            if self._saved_replay is not None and self.chain is not None:
                with self._chain_lock:
                    if self._replay_hold is None and not self._start_replay(self._saved_replay):
                        self._commit({integrity.REPLAY_KEY: None})  # its links are checkpointed: nothing to replay
            if isinstance(self.cfg.parse_workers, int) and self.cfg.parse_workers:
                with self._pool_lock:
                    if not self._pools_ended:
                        self.pool = self._granted_pool(self.cfg.parse_workers)
            if not self.source.looks_first:
                self._looked()
            self.source.run()
        except EndRun as e:  # the source gave up for a reason it names (a server unreachable under --once): no bug
            self.error = e
            log.error("source gave up: %s", e, extra={"source": self.cfg.name})
        except MemoryError as e:
            self.error = e
            self._out_of_memory(e)
        except Exception as e:
            self.error = e
            log.exception("source failed", extra={"source": self.cfg.name})
        finally:
            pool = self.pool  # (a stop's end_pool() may take it meanwhile)
            if pool is not None:
                # Finished means every batch read is registered (or given up): --once waits for
                # the trackers to be idle after this, and must not see an empty one too early. A wait of the agent's
                # (behind a down output's full queue, say), named so by a stop it outlasts, not "its own code".
                with self.waits.on("its parse workers to hand on the batches it had read (run() had returned)"):
                    pool.drain(self.abandon)
            self.looked.set()  # (ended before it looked: nothing to wait for)
            self.finished.set()

    def close(self) -> None:
        """After stop and abandon: end the parse workers, close the source."""
        self.end_pool()
        if not self.source.rereads:  # never registered, or registered once the reload closed the tracker's intake
            parts = (self._pool_dropped, self.tracker.untracked, self._dropped)
            self.name_undelivered(sum(p[0] for p in parts), sum(p[1] for p in parts),
                                  "batches still parsed or routed when the source stopped")
        try:
            self.source.close()
        except Exception:
            log.exception("error closing source", extra={"source": self.cfg.name})

    def end_pool(self) -> None:
        """After abandon: end the parse workers (what they did not deliver yet stays unregistered: read
        again, or named by close() for a source that cannot). A stop runs it while the outputs close,
        within their deadline."""
        with self._pool_lock:
            pool, self.pool = self.pool, None
            auto, self._auto_pool = self._auto_pool, False
            self._pools_ended = True
        if pool is not None:
            try:
                pool.close()
                dropped = pool.undelivered()
                self._pool_dropped = (self._pool_dropped[0] + dropped[0], self._pool_dropped[1] + dropped[1])
            except Exception:
                log.exception("error stopping parse workers", extra={"source": self.cfg.name})
            self._give_back_workers()
            if auto:
                self.pipeline.pool_budget.give_back()


def _newer_state_remedy(cfg: SourceConfig, config_path: str) -> str:
    """What to do about a source's state written by a later version: run the version that wrote it
    (shipper, or the plugin's own distribution), or start this one source over. Never the whole
    database: the other sources' positions are theirs, and moving them aside would ship everything again."""
    dist = registry.distribution("source", cfg.type)
    if dist is None or dist[0] == "shipper":
        run_later = "run that version of shipper (or a later one) again"
    else:
        run_later = (f"upgrade {dist[0]} (the distribution of source type {cfg.type}; installed: {dist[1]}) "
                     "to the version that wrote it, or a later one")
    command = shlex.join(["shipper", "reset", "-c", os.path.abspath(config_path), "--source", cfg.name])
    return (f"{run_later}; or, to run this version, start this source alone over: stop shipper, then "
            f"{command} (its saved state goes and it reads as on its first start; the other sources keep theirs)")


def _parser_options(cfg: SourceConfig) -> ParserOptions:
    return ParserOptions(timezone=cfg.timezone, source=cfg.name)
