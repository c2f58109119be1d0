"""One thread per output: takes batches from a bounded queue, delivers them, acknowledges them."""
from __future__ import annotations

import errno
import logging
import threading
import time
from collections import deque
from typing import Sequence

from shipper import metrics
from shipper.acks import AckTracker
from shipper.errors import PermanentRefusal
from shipper.log import Throttled
from shipper.plugin import Batch, EndRun, Output, OutputContext, Stopping, batch_part
from shipper.source_waits import held_a_while

log = logging.getLogger("shipper.output")

# A refusal (wrong key, certificate, refused media type) is retried only this slowly: the first retry
# after REFUSAL_BACKOFF_FIRST seconds, doubling to REFUSAL_BACKOFF_MAX, in case someone fixes the server.
REFUSAL_BACKOFF_FIRST = 30.0
REFUSAL_BACKOFF_MAX = 600.0
# Longest idle sleep: a batch, close() and a stop (when `stop` is a shipper.waking_event.WakingEvent)
# wake the thread at once; this only bounds a stop set on a plain threading.Event.
IDLE_WAIT = 30.0


class OutputWorker:
    """Bounded in events' bytes and batches: a full queue blocks the sources (backpressure).

    `max_batches` also bounds what a kill -9 sends this output again: the batches it delivered whose
    checkpoint is not committed yet (acks.AckTracker settles them) count against it, and the thread
    hands the output no more than the room they leave. A hung or failing checkpoint store therefore
    stops the output once that many wait (its queue fills, reading pauses)."""

    def __init__(self, name: str, output: Output, max_batches: int, max_bytes: int, stop: threading.Event):
        self.name = name
        self.output = output
        self.max_batches = max_batches
        self.max_bytes = max_bytes
        self.stop = stop
        self._queue: deque[tuple[Batch, AckTracker, int]] = deque()
        self._bytes = 0
        self._cond = threading.Condition()
        self._closed = False
        self._failures = Throttled(log)
        self._thread = threading.Thread(target=self._run, name=f"output-{name}", daemon=True)
        self.last_success: float | None = None
        self.last_error: str | None = None
        self.refused: str | None = None  # the server's refusal while it lasts (PermanentRefusal)
        self._refusals = 0
        self.refusal_backoff = (REFUSAL_BACKOFF_FIRST, REFUSAL_BACKOFF_MAX)
        self._retry_soon = False  # retry_now(): a reload cuts the refusal's backoff short
        self.busy = False
        self.ended: EndRun | None = None  # the output cannot go on: the runner ends the agent with its exit code
        # Optional: an output may set `coalesce = (max_events, max_wait)` and define `send_many`.
        limits = getattr(output, "coalesce", None)
        self._coalesce_limits = limits if limits and hasattr(output, "send_many") else None
        self._blocked = 0  # sources waiting in put(): the queue is full, waiting for more is pointless
        # The first _attempted queued batches were handed to the output at least once (an attempt may
        # have stored them): a reload never withdraws those, only what no output ever saw.
        self._attempted = 0
        # Batches delivered (acknowledged) and not settled yet: their checkpoint commit has not returned.
        self._unsettled = 0
        # The batches of the send in progress, by identity, with their tracker, seq and (a part of a queued batch)
        # the positions in it of the part's events: what the output says it stored of them (OutputContext.stored)
        # is noted with their tracker, for a stop or a reload that cuts the send short.
        self._sending: dict[int, tuple[AckTracker, int, list[int] | None]] = {}
        # Per queued batch ((id of its tracker, seq)), the positions of its events the output stored while the send
        # failed: a send tried again sends only the rest. Sent whole again after a refusal, a batch's chunks the
        # server had acknowledged were stored twice, unnamed (exam23: 750 events, a Fluentd that stopped acking).
        self._stored_here: dict[tuple[int, int], set[int]] = {}
        ctx = getattr(output, "ctx", None)
        if isinstance(ctx, OutputContext):
            ctx.on_stored = self._stored
        self.counts = metrics.OutputCounts(name)  # read by the pipeline's readers (Pipeline.output_counts)
        self._m_batches = self.counts.in_flight_batches
        self._m_bytes = self.counts.in_flight_bytes
        self._m_shipped = self.counts.shipped
        self._m_last = self.counts.last_success
        if hasattr(stop, "add_waker"):
            stop.add_waker(self._wake)

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def start(self) -> None:
        self.output.start()
        self._thread.start()

    def put(self, batch: Batch, tracker: AckTracker, seq: int, give_up: threading.Event) -> bool:
        """Queue a batch; block while full. False if give_up was set first, `tracker` no longer holds
        `seq` (a reload took it back meanwhile), or the output is closed or stopping (a reload replaced
        or removed it: its thread would never send it): the batch is not queued."""
        with self._cond:
            if give_up.is_set() or self._closed or self.stop.is_set() or not tracker.holds(seq):
                # (Checked under the queue's lock, which a reload's withdrawal holds: a batch is
                # either taken back with the others or refused here, never sent after it.)
                return False
            # A batch larger than the byte budget is still let through when the queue is empty.
            while self._queue and (len(self._queue) >= self.max_batches or self._bytes + batch.nbytes > self.max_bytes):
                if give_up.is_set() or self._closed or self.stop.is_set() or not tracker.holds(seq):
                    return False
                self._blocked += 1
                try:
                    self._cond.wait(0.2)
                finally:
                    self._blocked -= 1
                held_a_while()  # (the source's look at its inputs while it is held: source_waits)
            if give_up.is_set() or self._closed or self.stop.is_set() or not tracker.holds(seq):
                return False  # the withdrawal that made room took this batch back too (a reload), or a close
            self._queue.append((batch, tracker, seq))
            self._bytes += batch.nbytes
            self._m_batches.set(len(self._queue))
            self._m_bytes.set(self._bytes)
            self._cond.notify_all()
        return True

    def attempted_seqs(self, tracker: AckTracker) -> set[int]:
        """With queue_lock() held: seqs of `tracker`'s batches the output has been handed."""
        return {seq for i, (_, t, seq) in enumerate(self._queue) if i < self._attempted and t is tracker}

    def remove(self, tracker: AckTracker, seqs: set[int]) -> None:
        """With queue_lock() held: take `tracker`'s batches `seqs` back (never one attempted)."""
        head = list(self._queue)[: self._attempted]
        rest = [item for item in list(self._queue)[self._attempted:] if not (item[1] is tracker and item[2] in seqs)]
        self._queue = deque(head + rest)
        self._bytes = sum(item[0].nbytes for item in self._queue)
        self._m_batches.set(len(self._queue))
        self._m_bytes.set(self._bytes)
        self._cond.notify_all()

    def leftover(self) -> list[tuple[Batch, AckTracker, int]]:
        """After close(): what was queued and never delivered."""
        with self._cond:
            return list(self._queue)

    def in_send(self) -> list[tuple[Batch, AckTracker, int]]:
        """The batches handed to the output and not acknowledged, while its thread runs: a send in
        progress, or one just returned and not acknowledged yet (after a stop, the thread ends at once
        from anywhere else). Empty once the thread ended."""
        with self._cond:
            return list(self._queue)[: self._attempted] if self._thread.is_alive() else []

    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    def pending_bytes(self) -> int:
        return self._bytes

    def alive(self) -> bool:
        """Its thread runs (False before start() and once the thread ended)."""
        return self._thread.is_alive()

    def queue_lock(self) -> threading.Condition:
        """Its queue's lock: held to take batches out of several queues at once (a reload)."""
        return self._cond

    def _settle(self) -> None:
        """A batch this output delivered is committed (or will not be): room for one more."""
        with self._cond:
            self._unsettled -= 1
            if self._unsettled == self.max_batches - 1:  # only a thread waiting for room cares (a wake costs)
                self._cond.notify_all()

    def unsettled(self) -> int:
        """Batches delivered whose checkpoint commit has not returned: what a kill -9 now would send again."""
        with self._cond:
            return self._unsettled

    def _run(self) -> None:
        while True:
            with self._cond:
                # (Closed, what is queued is still delivered: a stop's or a reload's drain, the commits go on.)
                while (not self._queue or self._unsettled >= self.max_batches) and not self.stop.is_set() and not (
                        self._closed and not self._queue):
                    self._cond.wait(IDLE_WAIT)
                if self.stop.is_set() or not self._queue:
                    return
                batch, tracker, seq = self._queue[0]
                self.busy = True
                self._attempted = max(self._attempted, 1)
                room = self.max_batches - self._unsettled
            limits = self._coalesce_limits
            group = self._coalesce(limits[0], limits[1], room) if limits else [self._queue[0]]
            sends = self._unstored(group)
            self._sending = {id(b): (t, q, keep) for b, t, q, keep in sends}
            try:
                if len(sends) == 1:
                    self.output.send(sends[0][0])
                elif sends:
                    self.output.send_many([s[0] for s in sends])
            except Stopping:
                return
            except PermanentRefusal as e:
                if self._on_refusal(e):
                    return
                continue
            except EndRun as e:
                self.ended = e
                if str(e):
                    self.last_error = str(e)
                return
            except Exception as e:  # an output bug must not kill the thread silently
                io_error = e if isinstance(e, OSError) and e.errno is not None else None
                self.last_error = _io_error(io_error) if io_error else f"{type(e).__name__}: {e}"
                self.counts.errors.inc()
                # First failure (with its traceback when it may be a bug; an I/O error, such as stdout's disk
                # full, is its one line: errno and text), then a summary a minute: no log storm.
                self._failures.failure("output failed to deliver a batch; retrying", output=self.name,
                                       error=self.last_error, _exc_info=None if io_error else e)
                if self.stop.wait(1.0):
                    return
                continue
            finally:
                self.busy = False
            # (Kept after a failed send: a plugin's close() may still tell what of it was stored, OutputContext.stored)
            self._sending = {}
            with self._cond:
                # Closed and stopped (a reload or a stop gave up on it): the send outlived the close's grace, and
                # what the output still held may have been let go meanwhile, to be read again (leftover()).
                late = self._closed and self.stop.is_set()
                self._unsettled += len(group)  # until their acks (or the commits that follow) settle them
                for _ in range(len(group)):  # (no item of it left in a local: the thread holds none asleep)
                    done, t, q = self._queue.popleft()
                    self._bytes -= done.nbytes
                    self._stored_here.pop((id(t), q), None)
                self._attempted = max(0, self._attempted - len(group))
                self._m_batches.set(len(self._queue))
                self._m_bytes.set(self._bytes)
                self._cond.notify_all()
            self.last_success = time.time()
            self._m_last.set(self.last_success)
            self._failures.recovered("output delivers again", output=self.name)
            if self.refused is not None:
                log.warning("output accepted again after a refusal", extra={"output": self.name, "was": self.refused})
                self.refused, self._refusals = None, 0
            let_go, let_go_events = 0, 0  # batches (and their events) stored after they were let go
            for done, tracker, seq in group:
                self._m_shipped.inc(len(done.events))
                if not tracker.ack(seq, self.name, self._settle) and late:
                    let_go, let_go_events = let_go + 1, let_go_events + len(done.events)
            if let_go:
                # The server acknowledged between the close's timeout and the plugin's close: nothing can take the
                # re-read back now, so the repeat is named (as the Fluentd output names a chunk its close cut).
                log.warning(f"output {self.name}: a send a reload or stop had given up on was acknowledged after "
                            f"all, once its batches were let go to be read again: a possible repeat of "
                            f"{let_go_events} events", extra={"output": self.name, "batches": let_go,
                                                               "events": let_go_events})
            # Asleep until the next batch, the thread holds none: not its events, not (through its
            # tracker) a source runner a reload has let go.
            del batch, tracker, group, done, sends, t

    def _unstored(self, group: list[tuple[Batch, AckTracker, int]]) -> list[tuple[Batch, AckTracker, int, list[int] | None]]:
        """What of `group` to send: each batch, or, tried again after the output stored part of it, the rest
        (with the positions of its events in the batch); none of a batch stored whole."""
        out: list[tuple[Batch, AckTracker, int, list[int] | None]] = []
        for b, t, q in group:
            stored = self._stored_here.get((id(t), q))
            if not stored:
                out.append((b, t, q, None))
                continue
            keep = [i for i in range(len(b.ids)) if i not in stored]
            if keep:
                out.append((batch_part(b, keep), t, q, keep))
        return out

    def _stored(self, batch: Batch, positions: Sequence[int]) -> None:
        """OutputContext.stored, in this worker's thread: part of a batch of the send in progress stored."""
        sending = self._sending.get(id(batch))
        if sending is not None:
            tracker, seq, keep = sending
            self._stored_here.setdefault((id(tracker), seq), set()).update(
                positions if keep is None else (keep[i] for i in positions))
            tracker.stored_part(seq, self.name, [batch.ids[i] for i in positions])

    def error_now(self) -> str | None:
        """What stops delivery now, for /health: the refusal, else the output's own current trouble
        (an output that retries inside may say so in `trouble`), else None."""
        return self.refused or getattr(self.output, "trouble", None)

    def _on_refusal(self, e: PermanentRefusal) -> bool:
        """Logged once per reason, then retried with a long backoff. True = stop requested."""
        reason = str(e)
        first, cap = self.refusal_backoff
        delay = min(cap, first * 2 ** min(self._refusals, 20))
        self._refusals += 1
        self.counts.errors.inc()
        if reason != self.refused:
            log.error("output refused by the server; nothing is delivered until this is fixed, retrying slowly",
                      extra={"output": self.name, "error": reason, "retry_in": f"{delay:.0f}s"})
        self.refused = self.last_error = reason
        deadline = time.monotonic() + delay
        with self._cond:  # woken by a stop (its waker) or retry_now()
            while not self.stop.is_set() and not self._retry_soon and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(min(left, IDLE_WAIT))
            self._retry_soon = False
        return self.stop.is_set()

    def retry_now(self) -> None:
        """A reload: the operator may have fixed what the server refused (a key or password file,
        the server itself), so a refused output tries again now rather than after its backoff."""
        with self._cond:
            if self.refused is not None:
                self._retry_soon = True
                self._cond.notify_all()

    def _coalesce(self, max_events: int, max_wait: float, room: int) -> list[tuple[Batch, AckTracker, int]]:
        """For outputs with `coalesce = (max_events, max_wait)` and a `send_many`: the queued
        batches sent together (at most `room`), waiting up to max_wait for more while under max_events."""
        deadline = time.monotonic() + max_wait
        with self._cond:
            while True:
                group: list[tuple[Batch, AckTracker, int]] = []
                events = 0
                for item in self._queue:
                    if group and (events + len(item[0].events) > max_events or len(group) >= room):
                        self._attempted = max(self._attempted, len(group))
                        return group
                    group.append(item)
                    events += len(item[0].events)
                left = deadline - time.monotonic()
                # A full queue will not grow while the sources are blocked on it.
                if (events >= max_events or len(group) >= room or left <= 0 or self._blocked or self._closed
                        or self.stop.is_set()):
                    self._attempted = max(self._attempted, len(group))
                    return group
                self._cond.wait(min(left, 0.2))

    def close(self, timeout: float | None = None) -> None:
        """Stop taking batches, let the thread finish what is queued (or stop), then close."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread.ident is not None:  # none to join when the output's start() raised
            self._thread.join(timeout)
        try:
            self.output.close()
        except Exception:
            log.exception("error closing output", extra={"output": self.name})


OUTPUT_CLOSE_TIMEOUT = 5.0  # at a stop or reload, after the drain: how long outputs get to finish, together
CLOSE_PLUGINS = 1.0  # close_workers: seconds more for the plugins' own close() after their threads' joins


def close_workers(workers: list[OutputWorker], timeout: float) -> None:
    """Close outputs in parallel, within one deadline: a stop with several wedged outputs waits
    `timeout` once, not once per output (each close joins its thread, then closes the plugin)."""
    threads = [threading.Thread(target=w.close, kwargs={"timeout": timeout}, name=f"close-{w.name}", daemon=True)
               for w in workers]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout + CLOSE_PLUGINS  # the plugins' own close() after the joins
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))


def _io_error(e: OSError) -> str:
    """An output's I/O failure in one line: the errno's name and the text (`ENOSPC: cannot write to stdout (No space
    left on device); …`), with the file it names if any."""
    name = errno.errorcode.get(e.errno or 0, f"errno {e.errno}")
    where = f" ({e.filename})" if e.filename else ""
    return f"{name}: {e.strerror or e}{where}"
