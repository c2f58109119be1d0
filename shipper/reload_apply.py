"""Applying a reload plan (shipper.reload) to the running pipeline: sources stopped and their in-flight
batches delivered while every output still runs, then outputs closed, replaced or added, then sources
restarted from their checkpoints; kept sources and outputs are never touched. A source whose batches an
output is still sending restarts later, once they complete (finish_restarts, from the runner's loop).

It changes the pipeline through its reload methods (make_worker, add_output, drop_output, let_go, route,
use_integrity_key) and its public runners, workers and config; what a reload leaves to finish is kept here.
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Collection
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from shipper import registry
from shipper.acks import AckTracker
from shipper.checkpoint import GivenUp
from shipper.config import Config
from shipper.config_base import SourceConfig
from shipper.metrics import forget_metrics
from shipper.output_worker import OUTPUT_CLOSE_TIMEOUT, OutputWorker, close_workers
from shipper.plugin import Batch
from shipper.source_runner import SourceRunner

# shipper.reload (the plan of a reload) is imported by a reload, not by every start (shipper.runner does the same).
if TYPE_CHECKING:
    from shipper.pipeline import Pipeline
    from shipper.reload import ReloadPlan

log = logging.getLogger("shipper.pipeline")  # the name operators' log filters already know


class Reloads:
    """Applies reload plans to one pipeline, and keeps what a reload left to finish: stopped sources
    whose outputs are still sending some of their batches. Those restart (with their new config) only
    once the batches complete, and stay in the pipeline's runners meanwhile."""

    def __init__(self, pipeline: Pipeline):
        self.p = pipeline
        self.draining: dict[str, SourceRunner] = {}
        self.restart_cfgs: dict[str, SourceConfig] = {}
        self.handed: dict[str, Any] = {}  # what a stopped source handed its successor (Source.hand_over)
        self.lost: dict[str, list[dict[str, Any]]] = {}  # losses a stopped source named, for its successor's attestation
        self.links: dict[str, Any] = {}  # a stopped source's chain links not checkpointed, for its successor's re-read
        # Per source restarting, the events reloads took back from it (and its predecessors) that no successor has
        # read again and delivered yet (AckTracker.read_again): a stop before then has not delivered them.
        self.reread: dict[str, int] = {}
        # Per draining source: (its batches' progress, when it last moved, named overdue yet). Past its wait's
        # deadline (shutdown_timeout without progress) a pending restart is a wedge: /health and the journal.
        self._waits: dict[str, tuple[tuple[int, int], float, bool]] = {}
        self._wait_began: dict[str, float] = {}  # per draining source: when its wait began (time.monotonic())
        self._removal_taken: dict[str, int] = {}  # per draining source removed: its batches taken back meanwhile
        # Outputs a reload closed inside a send no close cuts short (Output.finishes_sends): the batches of
        # that send are settled once their thread ends, delivered (acknowledged) or not (_settle_closed).
        self.finishing: list[_Finishing] = []

    def apply(self, new: Config, plan, wait_slice: Callable[[float], bool] | None = None) -> list[str]:
        """Apply a reload plan (shipper.reload.plan_reload) with `new` as the config; returns problems.

        Sources to stop are stopped first and their in-flight batches delivered (for up to
        shutdown_timeout) while every output still runs; only then are outputs closed or replaced and
        the sources restarted from their checkpoints. Kept sources are never touched: same thread,
        tracker and position. `wait_slice(seconds)` sleeps between checks (the runner pings systemd
        there); it returns True to cut the wait short (a stop signal).
        """
        from shipper.reload import ReloadError

        p = self.p
        wait_slice = wait_slice or _sleep
        problems: list[str] = []
        # Build new outputs first: a plugin that cannot even be constructed refuses the reload untouched.
        new_cfgs = {o.name: o for o in new.outputs}
        fresh: dict[str, OutputWorker] = {}
        try:
            for name in plan.outputs_added + plan.outputs_replaced:
                fresh[name] = p.make_worker(new_cfgs[name])
        except Exception as e:
            raise ReloadError(f"cannot create output: {type(e).__name__}: {e}") from e
        p.config = new

        stopping = [p.runners[n] for n in plan.sources_removed + plan.sources_restarted if n in p.runners]
        if plan.outputs_renamed:  # before any note of what the outputs stored is saved (_withdraw, _settle)
            for r in {id(r): r for r in stopping + list(self.draining.values())}.values():
                r.rename_outputs(plan.outputs_renamed)
        for r in stopping:
            _owe_added(r, plan, new)
        for r in stopping:
            if r.cfg.name in plan.sources_restarted:
                r.source.restarting()  # what it holds outlives it, for its successor (hand_over)
            else:
                r.source.removing()  # the same, let go once the reload settled its batches (_let_go)
            r.stop.set()
        deadline = time.monotonic() + new.settings.shutdown_timeout
        if waiting := {r.cfg.name: r.tracker.in_flight() for r in stopping if r.tracker.in_flight()}:
            # (What an output delivers from here is delivered during the wait: an owed output's old server's acks
            # are noted by where it stores, _owe_added. A test waits for this line to bring a server back.)
            log.info("reload: the sources it stops deliver their in-flight batches first", extra={
                "sources": ",".join(waiting), "batches": sum(waiting.values()),
                "timeout": new.settings.shutdown_timeout})
        # An output the reload replaces or removes while its server refuses it will deliver nothing
        # more: batches it holds cannot complete, so they are not waited for (the draining below
        # restarts their source once that output is closed, and the replacement sends them).
        refused = [p.workers[n] for n in plan.outputs_removed + plan.outputs_replaced if p.workers[n].refused]

        def hopeless(r) -> bool:
            return any(t is r.tracker for w in refused for _, t, _ in w.leftover())

        def delivering(r) -> bool:  # (batches owed only to an output the reload added are not waited for)
            return bool(r.tracker.in_flight()) and not r.tracker.unfinished()

        while any((r.thread.is_alive() or delivering(r)) and not (r.tracker.in_flight() and hopeless(r))
                  for r in stopping) and time.monotonic() < deadline:
            if wait_slice(0.1):
                # A stop signal does not cut the wait: the stop waits for the same batches, so the wait goes on
                # within the stop's deadline (shutdown_timeout from its signal). Cut at once, it took back the
                # batches no output had been handed yet, and a stop at healthy servers exited 1 (issue 23).
                if (left := p.stop_left()) is None:
                    break
                deadline = min(deadline, time.monotonic() + left)
        for r in stopping:
            if r.cfg.name in plan.sources_removed and not r.thread.is_alive() and not r.tracker.in_flight():
                # Its chain ends here: the last attestation (`removed`) tells an auditor so, as `stop` does at
                # a shutdown (docs/evidence.md); within the reload's deadline, while the outputs run.
                r.attest_by("removed", deadline, at_least=1.0)
        for r in stopping:
            name = r.cfg.name
            # From here nothing it registers is sent or counted (a parse pool's collector may still be
            # delivering a batch, or a checkpoint that would skip those taken back): read again.
            r.abandon.set()  # a put blocked on a full queue gives up: that batch was never handed over
            r.tracker.close_intake()
            removed = name in plan.sources_removed
            if r.tracker.in_flight() or r.thread.is_alive():
                # Batches no output was ever handed are taken back: the restarted source reads them
                # again from its checkpoint. Those an output is sending (or has acknowledged) must
                # complete, and count in the checkpoint, before the source restarts: never both.
                _join(r, 5.0, wait_slice)
                taken, events = _withdraw(p, r, self._sent_by_closed(r))
                _take_back_unfinished(r, removed)  # (those its outputs completed, owed to an output the reload added)
                left = r.tracker.in_flight()
                why = ("reload: in-flight batches held by a refused output are not waited for" if hopeless(r)
                       else "reload: in-flight batches not delivered in time")
                if r.source.rereads and (taken or (left and not self._commit_holds(r))):
                    log.warning(f"{why}; those no output was sending are taken back and "
                                + (TAKEN_BACK_FROM_REMOVED if removed else "read again from the checkpoint"),
                                extra={"source": name, "taken_back": taken, "completing": left})
                elif not r.source.rereads:  # records pushed to it: what is taken back is gone, and said so
                    r.name_undelivered(taken, events, f"{why}; those no output was sending are taken back")
                if left:
                    self._say_waits(r, removed, left)
                    if self.draining.get(name) is not r:  # (a later reload during the wait: the same wait)
                        self._wait_began[name] = time.monotonic()
                    self.draining[name] = r
                    continue
            self._let_go(r, name in plan.sources_restarted)
        for name in plan.sources_removed:
            self.restart_cfgs.pop(name, None)
            self.reread.pop(name, None)  # (its checkpoint stays: put back, it reads them again)
            if name not in self.draining:
                _forget_source(p, name)
            log.info("source removed; its checkpoint is kept", extra={"source": name})

        closing = plan.outputs_removed + plan.outputs_replaced
        for name in closing:
            p.workers[name].stop.set()
        close_workers([p.workers[name] for name in closing], self._close_grace())
        staying = self._had_by_staying(set(closing))
        for name in closing:
            w = p.drop_output(name)
            held = w.leftover()
            # A send no close cuts short (stdout blocked on a paused pipe reader) will deliver its batch:
            # read again, the replacement would write it twice. It is waited for (_settle_closed).
            sending = [(t, seq) for _, t, seq in w.in_send()] if w.output.finishes_sends else []
            if sending:
                self.finishing.append(_Finishing(w, name, name in plan.outputs_removed, set(closing),
                                                 set(plan.sources_gaining), sending, plan.outputs_renamed.get(name)))
                held = [h for h in held if (h[1], h[2]) not in sending]
            self._settle(name, name in plan.outputs_removed, held, staying, set(plan.sources_gaining),
                         plan.outputs_renamed.get(name))
            if name in plan.outputs_removed:
                forget_metrics("output", name)
        for name, w in fresh.items():
            try:
                p.add_output(new_cfgs[name], w)
            except Exception as e:
                log.exception("output failed to start", extra={"output": name})
                problems.append(f"output {name}: failed to start: {e}")
        p.route(new.outputs)  # the config's order (the router's and the status'); kept workers are the same objects

        p.host_name = new.settings.host_name or socket.gethostname()
        p.use_integrity_key(new.integrity_key)
        src_cfgs = {c.name: c for c in new.sources}
        for name in plan.sources_added + plan.sources_restarted:
            if name in self.draining:
                self.restart_cfgs[name] = src_cfgs[name]  # started by finish_restarts()
                self._look_ahead(self.draining[name], src_cfgs[name], wait_slice)
                continue
            self._start(src_cfgs[name], problems)
        self._order_runners()
        problems += self.finish_restarts()
        for w in p.workers.values():  # kept outputs a server refuses: try again now (a fixed secret file)
            w.retry_now()
        p.compact(time.monotonic())
        return problems

    def _close_grace(self) -> float:
        """How long the outputs a reload closes get to end the send they are in (a chunk's ack due): OUTPUT_CLOSE_TIMEOUT,
        and with a stop asked for, no longer than what is left of its deadline, which began at its signal. Not
        waited for at all, a healthy server's ack due within milliseconds was cut, and the chunk sent again at the
        next start (issue 23: 800 lines twice at each server); waited for past the stop's deadline, a wedged output
        made the stop overrun its bound (attack 15: 8.4 s past shutdown_timeout + 5 s). A wedged output is cut when
        the grace ends: what it holds is settled as any closed output's."""
        left = self.p.stop_left()
        return OUTPUT_CLOSE_TIMEOUT if left is None else min(OUTPUT_CLOSE_TIMEOUT, left)

    def _look_ahead(self, r: SourceRunner, cfg: SourceConfig, wait_slice: Callable[[float], bool]) -> None:
        """A source whose restart waits for batches its outputs are sending takes now the first look its
        successor would take at what the reload adds (Source.look_ahead; saved for the successor), before the
        agent says `reloaded`, as a source started by the reload does (Pipeline.await_first_looks): taken
        only when the restart comes, after an outage, a path added and rotated meanwhile had its backlog
        taken for history, unread and unnamed. Waited for FIRST_LOOK_WAIT seconds at most (a hung NFS
        folder), in a thread of its own; a look that comes later is not used, and that is said."""
        from shipper.pipeline import FIRST_LOOK_SLICE, FIRST_LOOK_WAIT  # (pipeline imports this module)

        p = self.p
        got: dict[str, Any] = {}

        def look() -> None:
            try:
                got["fragment"] = r.source.look_ahead(cfg, lambda: p.store.load(cfg.name))
            except Exception as e:  # (a plugin's bug: the successor's own first look comes later, as before)
                got["error"] = e
        thread = threading.Thread(target=look, name=f"look-ahead-{cfg.name}", daemon=True)
        thread.start()
        deadline = time.monotonic() + FIRST_LOOK_WAIT
        while thread.is_alive() and time.monotonic() < deadline:
            thread.join(FIRST_LOOK_SLICE)
            if wait_slice(0):
                return
        if thread.is_alive() or "error" in got:
            log.warning("reload: the source's restart waits for its batches, and its first look at what the reload "
                        "added could not be taken before `reloaded`: a file rotated before its restart is taken for "
                        "history and not read (its backups are skipped)", extra={
                            "source": cfg.name, "error": (f"still looking after {FIRST_LOOK_WAIT:.0f}s"
                                                          if thread.is_alive() else repr(got["error"]))})
            return
        if got.get("fragment"):
            try:
                p.store.update(cfg.name, got["fragment"])
            except Exception as e:
                log.warning("reload: cannot save the first look at what the reload added: a file rotated before "
                            "the source's restart is taken for history and not read",
                            extra={"source": cfg.name, "error": f"{type(e).__name__}: {e}"})

    def _settle(self, name: str, removed: bool, held: list[tuple[Batch, AckTracker, int]],
                staying: set[tuple[int, int]], gaining: set[str], new_name: str | None = None) -> None:
        """What a draining source still had in output `name`, which a reload closed, will never be acknowledged
        by it. For an output removed, while an output that stays has the batch (stored or sending) and the
        reload adds no output the source will send to (`gaining`: sources that will), nothing needs it from the
        removed one: acknowledged on its behalf, the other outputs' acks decide (read again, it would repeat
        on every output that had it). Otherwise, and for an output replaced, the batch is stranded: once the
        outputs still sending it are done, it is read again for the source's outputs that did not store it
        (finish_restarts; a removed output and an added one: for the added one; a send the close cut short may
        have been stored: at-least-once). A renamed output (`new_name`: ReloadPlan.outputs_renamed) is the same
        output: the events its old name stored are noted for the new one (SourceRunner.rename_outputs), which
        is sent only the rest."""
        for r in self.draining.values():
            seqs = {seq for _, t, seq in held if t is r.tracker}
            if removed and r.cfg.name not in gaining:
                kept = {seq for seq in seqs if (id(r.tracker), seq) in staying}
                for seq in kept:
                    r.tracker.ack_removed(seq, name)
                seqs -= kept
                if seqs and r.source.rereads:
                    log.warning("reload: batches only a removed output held are read again for the "
                                "source's outputs now", extra={"source": r.cfg.name, "output": name,
                                                               "batches": len(seqs)})
            elif removed and seqs and r.source.rereads and new_name is not None:
                log.info("reload: batches the renamed output held are read again for its new name, without the "
                         "events it stored", extra={"source": r.cfg.name, "output": name, "renamed_to": new_name,
                                                    "batches": len(seqs)})
            elif removed and seqs and r.source.rereads:
                log.warning("reload: batches a removed output held are read again for the output the reload "
                            "added", extra={"source": r.cfg.name, "output": name, "batches": len(seqs)})
            for seq in seqs:
                r.tracker.strand(seq, [name])

    def _settle_closed(self) -> None:
        """Outputs closed by a reload inside a send no close cuts short: once its thread ended, the batches of
        that send it did not acknowledge (it failed, or the agent stops) are settled as apply() settles
        those of any closed output."""
        for f in [f for f in self.finishing if not f.worker.alive()]:
            self.finishing.remove(f)
            held = [item for item in f.worker.leftover() if (item[1], item[2]) in f.sending]
            self._settle(f.name, f.removed, held, self._had_by_staying(f.closing, [held]), f.gaining, f.new_name)

    def _sent_by_closed(self, r: SourceRunner) -> set[int]:
        """Seqs of `r`'s batches in a send of an output a reload closed (finishing): handed to an output,
        so never taken back untouched (_withdraw) — neither by this reload nor by a later one."""
        return {seq for f in self.finishing for t, seq in f.sending if t is r.tracker}

    def _had_by_staying(self, closing: set[str], held_by: list[list[tuple[Batch, AckTracker, int]]] | None = None
                        ) -> set[tuple[int, int]]:
        """(id of its tracker, seq) of each draining batch the outputs the reload closes hold (`held_by`, one
        list each; by default what their queues hold) and an output that stays has too: acknowledged it, or
        still owes its ack (more acks owed than closing outputs hold it; one being sent has left its output's
        queue). Decided before any is acknowledged for a removed output, which changes what is owed."""
        if held_by is None:
            held_by = [self.p.workers[name].leftover() for name in closing]
        holders: dict[tuple[int, int], int] = {}
        for items in held_by:
            for _, t, seq in items:
                holders[(id(t), seq)] = holders.get((id(t), seq), 0) + 1
        out: set[tuple[int, int]] = set()
        for r in self.draining.values():
            for (tid, seq), held in holders.items():
                progress = r.tracker.progress(seq) if tid == id(r.tracker) else None
                if progress is not None and (progress[0] > held or progress[1] - closing):
                    out.add((tid, seq))
        return out

    def _start(self, cfg: SourceConfig, problems: list[str]) -> bool:
        """Start a source (_start_source) with what its predecessor left it; True when it started. Not once a stop
        was asked for: it would be stopped at once, and what it read meanwhile be in flight at the stop (undelivered,
        exit 1); what its predecessor handed over is let go (its losses named), its checkpoint says where to go on."""
        name = cfg.name
        if self.p.stop_asked is not None:
            log.info("reload: source not started: the agent stops", extra={"source": name})
            self.lost.pop(name, None)
            self.links.pop(name, None)
            if (handed := self.handed.pop(name, None)) is not None:
                _close_handed(self.p, name, handed)
            return False
        started = _start_source(self.p, cfg, problems, self.handed.pop(name, None), self.lost.pop(name, []),
                                self.links.pop(name, None), self.reread.get(name, 0))
        if started:
            self.reread.pop(name, None)
        return started

    def unread_again(self) -> dict[str, int]:
        """Per source, the events reloads took back that were not read again and delivered: its successor not
        started, still waiting (draining) or not done with them. A source that says it has nothing left to read
        and nothing in flight is done (its re-read may make fewer events: a parser the reload changed)."""
        out = {name: n for name, n in self.reread.items() if n}
        for name, r in list(self.p.runners.items()):
            if not r.source.rereads:
                continue
            waiting = self.draining.get(name) is r
            left = r.tracker.left_to_read_again() + (r.tracker.taken_back_events if waiting and name in self.restart_cfgs
                                                     else 0)
            if left and not waiting and not r.tracker.in_flight():
                try:
                    left = 0 if r.source.pending_bytes() == 0 else left
                except Exception:  # (a plugin's bug: the count stands)
                    pass
            if left:
                out[name] = out.get(name, 0) + left
        return out

    def _let_go(self, r: SourceRunner, restarting: bool) -> None:
        """Let a stopped runner go; a restarting one first hands what it holds to its successor
        (rotated files held open while an output was down: let go, they were lost)."""
        handed = None
        removed = not restarting and not self.p.abandon.is_set()  # (Source.removing: no successor comes)
        if (restarting or removed) and not r.thread.is_alive():  # (a thread still running keeps using what it has)
            try:
                handed = r.source.hand_over()
            except Exception:
                log.exception("reload: the source could not hand over what it holds", extra={"source": r.cfg.name})
        self.p.let_go(r)
        if removed:
            if handed is not None:  # its batches settled (completed or taken back): what they lose is named now
                _close_handed(self.p, r.cfg.name, handed)
            return
        if restarting:  # the chain goes on in the successor: its next attestation names them
            self.lost.setdefault(r.cfg.name, []).extend(r.take_losses())
            if r.source.rereads:
                self.reread[r.cfg.name] = r.tracker.left_to_read_again() + r.tracker.taken_back_events
            # (with those it took over and did not checkpoint; a source that cannot read again meets none of them)
            self.links[r.cfg.name] = r.hand_over_links() if r.source.rereads else None
        if handed is not None:
            old = self.handed.pop(r.cfg.name, None)
            if old is not None:
                _close_handed(self.p, r.cfg.name, old)
            self.handed[r.cfg.name] = handed

    def _order_runners(self) -> None:
        """The config's order (status, metrics); draining runners of removed sources stay until done."""
        p = self.p
        ordered = {c.name: p.runners[c.name] for c in p.config.sources if c.name in p.runners}
        ordered.update({n: r for n, r in self.draining.items() if n not in ordered})
        p.runners = ordered

    def finish_restarts(self) -> list[str]:
        """Restart (or let go of) sources whose reload waited for batches an output was sending.
        Called after a reload and at each check of the runner's loop."""
        p = self.p
        problems: list[str] = []
        self._settle_closed()
        for name, r in list(self.draining.items()):
            if not r.thread.is_alive():
                # batches a late source thread registered after the reload
                taken, events = _withdraw(p, r, self._sent_by_closed(r))
                if not r.source.rereads:
                    r.name_undelivered(taken, events, "reload: batches registered after the source's stop")
            if (taken := _take_back_unfinished(r, name not in self.restart_cfgs)) and name not in self.restart_cfgs:
                self._removal_taken[name] = self._removal_taken.get(name, 0) + taken
            # Its thread still running (run() returning, a parse pool draining) keeps what it holds: let go
            # now, it could hand nothing over and its held rotated files were lost. Waited for within
            # shutdown_timeout of the wait's start; a run() that never returns does not hold the restart.
            running = (r.thread.is_alive() and time.monotonic() - self._wait_began.get(name, 0.0)
                       < p.config.settings.shutdown_timeout)
            if (r.tracker.in_flight() or running) and not p.abandon.is_set():
                continue
            del self.draining[name]
            wait = self._waits.pop(name, None)
            cfg = self.restart_cfgs.pop(name, None)
            if wait is not None and wait[2]:
                log.warning("reload: the overdue batches completed: "
                            + ("the source goes on" if cfg is not None else "the removed source stops"),
                            extra={"source": name})
            taken = self._removal_taken.pop(name, 0)
            if cfg is None and not p.abandon.is_set():
                log.info("reload: the removed source stopped: the batches its outputs were sending " + (
                    f"are settled, {taken} of them taken back (said above)" if taken else
                    "were delivered (they count in its checkpoint, which is kept)"),
                    extra={"source": name, "taken_back": taken})
            self._let_go(r, cfg is not None and not p.abandon.is_set())
            if cfg is None and not p.abandon.is_set():
                _forget_source(p, name)
            if cfg is None or p.abandon.is_set():
                continue
            if self._start(cfg, problems):
                log.info("reload: source restarted from its checkpoint", extra={"source": name})
        self._order_runners()
        return problems

    def _say_waits(self, r: SourceRunner, removed: bool, batches: int) -> None:
        """A draining source's wait begins: what its restart (or its removal) waits for, said."""
        if self._commit_holds(r):
            # Delivered, their checkpoint not saved (a full state_dir: its commit fails and is retried): no output
            # holds them, and "the batches its outputs are sending" sent the operator to the outputs (exam23b).
            log.warning(("reload: the removed source stops" if removed else "reload: the source restarts")
                        + " once the checkpoint of the batches its outputs delivered is saved (its commit fails and is "
                        "retried: `checkpoint commit failed` above)", extra={"source": r.cfg.name, "batches": batches})
            return
        # (A removal said as what it is: "the source restarts" for a source removed for good misled an operator, exam23)
        log.warning("reload: the removed source stops once the batches its outputs are sending complete (delivered, "
                    "they count in its checkpoint, which is kept)" if removed else
                    "reload: the source restarts once the batches its outputs are sending complete",
                    extra={"source": r.cfg.name, "batches": batches})

    def _commit_holds(self, r: SourceRunner) -> bool:
        """Only the checkpoint commit holds a draining source's batches (every output stored them), and it fails."""
        return self._held_by(r) == [COMMIT] and self.p.checkpoint_trouble() is not None

    def _held_by(self, r: SourceRunner) -> list[str]:
        """What holds a draining source's batches: the outputs that have them (queued or in a send), and COMMIT when
        some completed and their checkpoint is not saved (a full state_dir: the commit fails and is retried)."""
        held = [n for n, w in sorted(self.p.workers.items()) if any(t is r.tracker for _, t, _ in w.leftover())]
        held += [f"{f.name} (closed by the reload, its send in progress)" for f in self.finishing
                 if any(t is r.tracker for t, _ in f.sending)]
        return held + [COMMIT] if r.tracker.awaiting_commit() else held

    def _commit_trouble(self) -> str:
        """The checkpoint commit that holds a draining source's delivered batches, and why it does not return or
        fails (for /health and the journal: where, and what the operator can do about a full filesystem)."""
        trouble = self.p.checkpoint_trouble()
        if trouble is None:  # (in progress, not for long enough yet to be called stuck)
            return "its checkpoint commit"
        if self.p.store_full and self.p.store_error:
            return (f"its checkpoint commit, which fails: the state_dir's filesystem is full (ENOSPC: {trouble}); "
                    "free space there")
        return f"its checkpoint commit ({trouble})"

    def overdue(self, now: float) -> list[str]:
        """Sources whose restart (or removal) a reload left pending, and whose batches moved no further for
        shutdown_timeout: what holds them is named (for the watchdog, so /health's `stalled`), and once in
        the journal. Called once a second by the runner's loop."""
        limit = self.p.config.settings.shutdown_timeout
        out: list[str] = []
        for name, r in list(self.draining.items()):
            sig = (r.tracker.committed_seq, r.tracker.in_flight())
            since, named = now, False
            if name in self._waits and self._waits[name][0] == sig:
                _, since, named = self._waits[name]
            still = now - since
            if still > limit:
                began = self._wait_began.get(name, since)
                held = self._held_by(r)
                outputs = [h for h in held if h != COMMIT]
                by = ([f"output {', '.join(outputs)}"] if outputs else []) + (
                    [self._commit_trouble()] if COMMIT in held else [])
                kind = "restart" if name in self.restart_cfgs else "removal"
                why = (f"source {name}: {kind} after a reload "
                       f"pending, {sig[1]} batches not completed for {now - began:.0f}s (none for the last "
                       f"{still:.0f}s, shutdown_timeout {limit:g}s)"
                       + (f", held by {' and by '.join(by)}" if by else ", held by no output"))
                out.append(why)
                if not named:
                    log.error(f"reload: a pending source {kind} is overdue: " + (
                        "the source reads nothing meanwhile" if kind == "restart" else
                        "the batches the removed source's outputs are sending are not delivered"),
                              extra={"source": name, "reason": why})
                    named = True
            self._waits[name] = (sig, since, named)
        for name in [n for n in self._waits if n not in self.draining]:
            del self._waits[name]
        for name in [n for n in self._wait_began if n not in self.draining]:
            del self._wait_began[name]
        return out


@dataclass
class _Finishing:
    """An output a reload closed inside a send that no close cuts short (Output.finishes_sends)."""

    worker: OutputWorker
    name: str
    removed: bool  # removed by the reload (else replaced or renamed)
    closing: set[str]  # the outputs that reload closed
    gaining: set[str]  # the sources that reload gave an output it added (ReloadPlan.sources_gaining)
    sending: list[tuple[AckTracker, int]]  # the batches of that send: (tracker, seq)
    new_name: str | None = None  # renamed by that reload: its new name (ReloadPlan.outputs_renamed)


def _start_source(p: Pipeline, cfg: SourceConfig, problems: list[str], handed: Any = None,
                  lost: list[dict[str, Any]] | None = None, links: Any = None, reread: int = 0) -> bool:
    """Start a source's runner from its checkpoint, with what its predecessor handed over (if any), the
    losses it named since its last attestation and the chain links it sealed that are not checkpointed
    (its re-read seals those events again with the same links); a source that cannot start is a problem
    of the reload (named in `problems`), not a crash. True when it started."""
    if handed is not None and not registry.load("source", cfg.type).takes_over(cfg):
        # Let go before the successor is built, so that it starts from the states that saves: built first, it
        # named the loss of the deleted files let go unread again, from the checkpoint it had loaded.
        _close_handed(p, cfg.name, handed)
        handed = None
    try:
        r = SourceRunner(p, cfg)
    except GivenUp as e:  # the agent stops while its checkpoint waits on the state_dir (frozen?): not a failure
        log.warning("reload: source not started: the agent stops", extra={"source": cfg.name, "error": str(e)})
        problems.append(f"source {cfg.name}: not started: {e}")
        if handed is not None:
            _close_handed(p, cfg.name, handed)
        return False
    except Exception as e:
        log.exception("source failed to start", extra={"source": cfg.name})
        problems.append(f"source {cfg.name}: failed to start: {e}")
        if handed is not None:
            _close_handed(p, cfg.name, handed)
        return False
    r.inherit_losses(lost or [])
    r.replay_links(links)
    r.tracker.read_again(reread)
    if handed is not None:
        try:
            r.source.take_over(handed)
        except Exception:
            log.exception("reload: the source could not take over what its predecessor held",
                          extra={"source": cfg.name})
            _close_handed(p, cfg.name, handed)
    p.runners[cfg.name] = r
    r.thread.start()
    return True


def _close_handed(p: Pipeline, name: str, handed: Any) -> None:
    """What a stopped source handed over is let go, no successor taking it: the states it returns saved (the
    deleted files it names lost as read up to where they were: else the next start named them again)."""
    try:
        states = handed.close()
    except Exception:
        log.exception("reload: error letting go of what a stopped source held")
        return
    if not isinstance(states, dict) or not states:
        return
    try:
        p.store.update(name, states)
    except GivenUp:  # (Interrupted too) the agent stops: the stop saves them
        p.note_at_stop(name, states, taken_back=False)
    except Exception as e:
        log.warning("cannot save the state of the files let go unread: the next start may name their loss again",
                    extra={"source": name, "error": f"{type(e).__name__}: {e}"})


def _join(r: SourceRunner, timeout: float, wait_slice: Callable[[float], bool]) -> None:
    """Wait up to `timeout` for a stopped source's thread (its last put may wait for room in a wedged
    output's queue, which only the agent's stop gives up), in slices: a stop signal ends the wait, so a
    stop right after a reload keeps to its own deadline (waited for in turn, each source's thread held it
    5 s more). A thread still running is dealt with as one past the timeout: its batches are waited for."""
    deadline = time.monotonic() + timeout
    while r.thread.is_alive() and time.monotonic() < deadline:
        r.thread.join(0.1)
        if wait_slice(0):
            return


def _withdraw(p: Pipeline, r: SourceRunner, sending: Collection[int] = ()) -> tuple[int, int]:
    """Take back from every output's queue the batches of `r` no output was ever handed (an
    untouched suffix of its window; `sending`: seqs an output a reload closed is still sending); they
    are forgotten by its tracker. All queues are locked
    together, so no output starts one of them meanwhile. Returns how many batches and events were
    taken back. A re-read's batch may hold events some outputs stored before (skipped for them): the
    note of those (`_delivered_to:<output>`) goes on, or the next re-read would send them again."""
    workers = [p.workers[n] for n in sorted(p.workers)]  # one order: no two reloads lock them crosswise
    with ExitStack() as held:
        for w in workers:
            held.enter_context(w.queue_lock())
        attempted = set(sending)
        for w in workers:
            attempted |= w.attempted_seqs(r.tracker)
        seqs = r.tracker.untouched_suffix(attempted)
        taken = r.tracker.events_in(seqs) if seqs else (0, 0)
        had = r.tracker.delivered_to(seqs) if seqs else {}
        if seqs:
            for w in workers:
                w.remove(r.tracker, seqs)
            # (Under the queues' locks: a put waiting for one of them then finds its batch gone.)
            r.tracker.withdraw(seqs, commit=False)
    if had:
        r.save_delivered_to(delivered=had)
    if seqs:
        r.tracker.withdraw(set())  # commits what the withdrawal unblocked
    return taken


COMMIT = "the checkpoint commit"  # (Reloads._held_by: what holds batches every output stored)

# What becomes of the batches a reload takes back from a source it removes (the file source names the loss of its
# deleted held files from what was delivered: Source.removing)
TAKEN_BACK_FROM_REMOVED = ("not read again: the source is removed (its checkpoint is kept: put back, it reads them "
                           "from there; what of them was in deleted files it held is named lost)")


def _take_back_unfinished(r: SourceRunner, removed: bool = False) -> int:
    """A draining source's batches that an output closed by a reload will never deliver (it held them, or
    refused the put: SourceRunner._route_batch) cannot complete. Once no output is still sending any of its
    batches, the whole window is taken back: each output's stored events are noted (save_delivered_to) and
    the re-read sends every batch only to the outputs that did not store it (a source that cannot read
    again names them; for a source a reload removed, `removed`, nothing reads them again). Not before: an output
    still sending a batch would be sent it again. Returns how many batches were taken back."""
    seqs = r.tracker.unfinished()
    if not seqs:
        return 0
    owed = r.tracker.owed()
    if owed:  # (a source that cannot read again is owed nothing: _owe_added)
        log.info("reload: batches not completed when a reload gave the source an output are read again for the "
                 "outputs that did not store them, that output among them", extra={
                     "source": r.cfg.name, "batches": len(seqs), "outputs_added": ",".join(sorted(owed))})
    elif r.source.rereads and removed:
        log.info("reload: batches a closed output did not deliver are taken back and " + TAKEN_BACK_FROM_REMOVED,
                 extra={"source": r.cfg.name, "batches": len(seqs)})
    elif r.source.rereads:
        log.info("reload: batches a closed output did not deliver are read again for the outputs that did not "
                 "store them", extra={"source": r.cfg.name, "batches": len(seqs)})
    else:
        r.name_undelivered(*r.tracker.events_in(seqs), "reload: batches a closed output did not deliver")
    r.save_delivered_to(seqs)
    r.park_elsewhere(seqs)
    r.tracker.withdraw(seqs)
    return len(seqs)


def _owe_added(r: SourceRunner, plan: ReloadPlan, new: Config) -> None:
    """A source a reload restarts (or removes) and an output that reload gives it, storing where none of its
    outputs did (ReloadPlan.owed_outputs): that output was handed none of the batches in flight, which the others
    may complete while the restart waits; they are owed to it (AckTracker.owe), so none is checkpointed, and once
    the others are done with them they are taken back and read again for it alone (_take_back_unfinished: the
    others' stored events are noted; a name now given to another server is no longer noted for what its old
    server stored). What an earlier reload during the same wait owed goes on, under an owed output's new name,
    while the source still sends to it. A source that cannot read again is owed nothing."""
    from shipper.reload import routed_to

    if not r.source.rereads:
        return
    name = r.cfg.name
    cfg = next((c for c in new.sources if c.name == name), None)
    routed = routed_to(cfg.effective_tag, new) if cfg is not None and name in plan.sources_restarted else set()
    before = {plan.outputs_renamed.get(o, o) for o in r.tracker.owed()}
    owed = set(plan.owed_outputs.get(name, ()))
    # A name kept for another server: its old server's acks are not the new one's (unless that server was renamed:
    # then they are noted for its new name, SourceRunner.rename_outputs).
    # (p.output_configs: the old config's until the reload closes its outputs; what the old server acknowledges during
    # the wait is noted for where it stores: _take_back_unfinished)
    olds = r.pipeline.output_configs
    r.tracker.stores_elsewhere({o: olds[o].where() if o in olds else "" for o in owed
                                if o in plan.outputs_replaced and o not in plan.outputs_renamed})
    r.tracker.owe((before & routed) | owed)


def _forget_source(p: Pipeline, name: str) -> None:
    forget_metrics("source", name)
    p.watchdog.forget_source(name)


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False  # never cut short
