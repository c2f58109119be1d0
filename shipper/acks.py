"""Moves a source's checkpoint only as far as every output has acknowledged, in batch order."""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, Callable

# Called once a batch an output acknowledged no longer counts in that output's window of batches
# delivered and not committed (shipper.output_worker): committed, taken back, or given up.
Settle = Callable[[], None]

# A source's state keys (the core's, popped before the source sees its state): per output, the ids of
# events it acknowledged in batches that did not complete before a stop or a reload took them back.
# The re-read sends those events to the other outputs only (shipper.source_runner).
DELIVERED_PREFIX = "_delivered_to:"
# Beside each such note: where that output stores (OutputConfig.where), so that a start after the output was renamed
# while the agent was stopped knows it for the same output (shipper.source_runner).
DELIVERED_WHERE_PREFIX = "_delivered_where:"
# Per where (OutputConfig.where): the ids of events the old server of a name a reload gave to another server stored
# during that reload's wait (delivered_elsewhere), kept for a later start or reload that gives an output that where
# again (shipper.source_runner: park_elsewhere). At most DELIVERED_MAX ids a source, all wheres together.
ELSEWHERE_PREFIX = "_delivered_elsewhere:"
DELIVERED_MAX = 200_000  # ids kept per output (~40 bytes each); an output's in-flight limit stays far below
WITHDRAW_WAIT = 1.0  # seconds withdraw() waits for the commit of what it unblocked (a reload's main thread)

log = logging.getLogger("shipper.pipeline")  # the name operators' log filters already know


class CommitFailed(Exception):
    """Raised by a tracker's commit when the store failed (nothing saved): its committer tries it again
    `retry_in` seconds later, the fragment kept, and commits the other sources' meanwhile."""

    def __init__(self, retry_in: float):
        super().__init__(f"retry in {retry_in}s")
        self.retry_in = retry_in


class AckTracker:
    """Batches get sequence numbers as they are emitted; each waits for its outputs' acks.

    A batch's checkpoint fragment is committed only when it and every earlier batch of the same
    source are fully acknowledged, so a crash never skips an unacknowledged record.

    Commits are grouped, with no delay added: a Committer's thread (the pipeline's, one for every
    source) commits at once what an ack completed when no commit is in progress, and merges
    everything completed while one is into the next. The acknowledging thread (an output's) does
    not wait for the commit, so it sends its next batch meanwhile. What a kill -9 repeats is bounded
    by the output's window (OutputWorker): an ack that completes a batch passes its `settle` here,
    called once the batch's commit returned (or it was taken back, or its commit gave up); until
    then the batch counts in that output's max_in_flight_batches, so a hung or failing store stops
    the outputs once their windows are full, and reading pauses. An ack that does not complete its
    batch (another output still owes one) is settled at once: held, it could wait for an output
    whose own window waits for this one.

    `commit(fragment)` returns False when it gave up (the store failing while the agent stops):
    the fragment is then kept, merged before later ones, and the tracker is not idle; the next
    completed batch tries again. It raises CommitFailed to be tried again after a backoff (its
    batches keep their places in the outputs' windows meanwhile). Commits run outside the window's lock (a commit retrying through a
    full disk must not block status or a shutdown's wait), one at a time, in order.
    """

    def __init__(self, commit: Callable[[dict[str, Any]], bool | None], committer: Committer | None = None):
        self._commit = commit
        self._committer = committer if committer is not None else PROCESS_COMMITTER
        self._lock = threading.Condition()
        self._next_seq = 0
        # [seq, acks owed, checkpoint fragment, outputs at start, outputs that acked, event ids,
        #  outputs that will never deliver it (closed by a reload: stranded)]
        self._window: deque[list] = deque()
        self._unsaved: dict[str, Any] = {}  # acknowledged, merged, not committed yet
        self._unsaved_seq = -1
        # settle() of the batches completed and not committed, by seq (in the window or merged into _unsaved),
        # and those of the commit in progress
        self._settles: dict[int, list[Settle]] = {}
        self._committing_settles: list[Settle] = []
        self._queued = False  # handed to the committer, which has not finished with it yet
        self._committing = False  # a commit is in progress (outside the lock)
        self.commits = 0  # commits that returned: batches / commits is what grouping saves
        self.committed_seq = -1
        self._closed = False  # close_intake(): batches registered from now on are not tracked
        self.untracked = (0, 0)  # (batches, events) with events registered after close_intake: never sent
        # (seq, output) acknowledged for an output a reload removed: that output's own late ack is ignored
        self._behalf: set[tuple[int, str]] = set()
        # Per batch in the window, per output: the ids of its events the output stored while it still
        # sends the rest (a batch sent as several chunks: OutputContext.stored). A stop or a reload that
        # takes the batch back notes them with the batch's acks (delivered_to), so they are not sent again.
        self._partly: dict[int, dict[str, dict[str, None]]] = {}  # (ids as dict keys: a part stored twice counts once)
        # Outputs a reload added to this tracker's source while it stopped for a restart (owe): handed none of its
        # batches, they are owed every one not completed, so none completes; once the outputs that have them are
        # done, they are taken back (unfinished) and the restarted source reads them again for the owed outputs.
        self._owed: set[str] = set()
        # Names a reload gave to another server (stores_elsewhere), each with where its old server stores: what they
        # acknowledged is not noted for them, but for that where (delivered_elsewhere).
        self._elsewhere: dict[str, str] = {}
        self.taken_back_events = 0  # events of the batches withdrawn: taken back by a reload, to be read again
        # Events a reload took back from this tracker's source's predecessor (read_again) that batches of this one
        # have not completed again yet: until then, a stop has not delivered all that was read.
        self._to_read_again = 0

    def register(self, pending: int, checkpoint: dict[str, Any], ids: Sequence[str] = (),
                 had: Sequence[str] = (), stored_before: Mapping[str, Sequence[str]] | None = None) -> int:
        """`had`: outputs not sent the batch because they stored its events before (delivered_to names them).
        `stored_before`: per output sent the batch, the events of it left out because it stored them before (a
        re-read meeting its note): delivered_to names them as stored_part's, should the batch be taken back."""
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
            if self._closed:
                if ids:
                    self.untracked = (self.untracked[0] + 1, self.untracked[1] + len(ids))
                return seq
            self._window.append([seq, pending, checkpoint, pending, set(had), ids, set()])
            for output, part in (stored_before or {}).items():
                self._partly.setdefault(seq, {}).setdefault(output, {}).update(dict.fromkeys(part))
        if pending == 0:
            self._advance()
        return seq

    def close_intake(self) -> None:
        """A reload stops this tracker's source: a batch registered from now on (a parse pool's
        collector still delivering) is not tracked — every output refuses it (holds() is False) and
        its checkpoint is never committed. Committed after a withdrawal, a checkpoint-only fragment
        would skip the batches taken back; sent, a batch would also be read again by the successor."""
        with self._lock:
            self._closed = True

    def intake_closed(self) -> bool:
        """Was close_intake() called: a batch registered now is not tracked."""
        with self._lock:
            return self._closed

    def holds(self, seq: int) -> bool:
        """Is batch `seq` tracked: registered before close_intake, neither withdrawn nor completed?"""
        with self._lock:
            return self._index(seq) >= 0

    def _index(self, seq: int) -> int:
        """With the lock held: where batch `seq` is in the window, -1 if it left it (withdrawn by a reload,
        or the window is empty)."""
        if not self._window:
            return -1
        i = seq - self._window[0][0]
        if 0 <= i < len(self._window) and self._window[i][0] == seq:
            return i
        return next((j for j, e in enumerate(self._window) if e[0] == seq), -1)  # after a withdrawal

    def strand(self, seq: int, outputs: Sequence[str]) -> None:
        """`outputs` will never deliver batch `seq`: a reload closed them while they held it, or before
        its put reached them. Their acks are owed no more, and the batch can no longer complete: once
        the outputs that do hold it are done, a reload takes it back (unfinished) and the re-read sends
        it only to the outputs that did not store it. Taken back at once, it would be sent again to an
        output still sending it."""
        with self._lock:
            i = self._index(seq)
            if i < 0:
                return
            entry = self._window[i]
            for output in outputs:
                if output not in entry[4] and output not in entry[6]:
                    entry[6].add(output)
                    entry[1] -= 1
            self._lock.notify_all()  # (a stop's wait_delivered: the window may no longer complete)

    def owe(self, outputs: set[str]) -> None:
        """A reload gave this tracker's (stopped) source `outputs`, which were handed none of its batches: every
        batch not completed, now or registered later, is owed to them and cannot complete (replaces what was
        owed before: a later reload may rename or remove an owed output)."""
        with self._lock:
            self._owed = set(outputs)
        self._advance()  # (owed no more: what its outputs completed is checkpointed)

    def read_again(self, events: int) -> None:
        """This tracker's source starts from a checkpoint behind `events` events a reload took back from its
        predecessor (read, handed to outputs, not delivered by all): owed until as many complete here."""
        with self._lock:
            self._to_read_again = events

    def left_to_read_again(self) -> int:
        with self._lock:
            return self._to_read_again

    def owed(self) -> set[str]:
        with self._lock:
            return set(self._owed)

    def stores_elsewhere(self, outputs: Mapping[str, str]) -> None:
        """A reload gave these output names to other servers (none renamed to keep the old one; each with where its
        old server stores: OutputConfig.where): the events their old servers acknowledged are not stored where those
        names store now, so delivered_to does not name them (noted, the re-read would not send them to the new
        servers); delivered_elsewhere does, by the old server's where."""
        with self._lock:
            for output, where in outputs.items():
                self._elsewhere.setdefault(output, where)  # (a later reload during the wait: the first server's)

    def unfinished(self) -> set[int]:
        """When no batch waits for an output any more and some were stranded, or are owed to an output a
        reload added (owe): every batch in the window (they cannot commit: the stranded ones stop the
        checkpoint), to be taken back and read again for the outputs that did not store them. Else the empty
        set: a batch still being sent is waited for."""
        with self._lock:
            return {e[0] for e in self._window} if self._cannot_complete() else set()

    def _cannot_complete(self) -> bool:
        """With the lock held: no batch in the window waits for an output any more, and some were stranded or are
        owed (unfinished): no ack will ever complete them."""
        return (bool(self._window) and not any(e[1] > 0 for e in self._window)
                and bool(self._owed or any(e[6] for e in self._window)))

    def ack(self, seq: int, output: str | None = None, settle: Settle | None = None) -> bool:
        """`output` stored batch `seq`. `settle` (the output's window) is called once the batch no longer
        counts as delivered and not committed: at once unless this ack completes the batch. False when the batch
        had left the window (withdrawn: a reload or a stop let it go, to be read again), so the ack counts for
        nothing: for an output that had not acknowledged it, what it stored is sent again."""
        held = False
        tracked = True
        with self._lock:
            if output is not None and (seq, output) in self._behalf:  # acknowledged for it: its output was removed
                self._behalf.discard((seq, output))
            elif (i := self._index(seq)) < 0:
                tracked = False  # withdrawn, its output closed by a reload: read again, not counted
            # (Else acknowledged before.)
            elif output is None or output not in self._window[i][4]:
                entry = self._window[i]
                if output is not None:
                    entry[4].add(output)
                if output is not None and output in entry[6]:
                    entry[6].discard(output)  # a send its close cut short completed after all: stored (its ack was not owed)
                else:
                    entry[1] -= 1
                if settle is not None and entry[1] <= 0 and not entry[6] and not self._owed:
                    self._settles.setdefault(seq, []).append(settle)
                    held = True
        if settle is not None and not held:
            settle()
        self._advance()
        return tracked

    def stored_part(self, seq: int, output: str, ids: Sequence[str]) -> None:
        """`output` stored these events of batch `seq` and still sends the rest of it."""
        with self._lock:
            if self._index(seq) >= 0:
                self._partly.setdefault(seq, {}).setdefault(output, {}).update(dict.fromkeys(ids))

    def ack_removed(self, seq: int, output: str) -> None:
        """A reload removed `output` while it held batch `seq`: nothing needs the batch from it any more,
        the other outputs' acks decide. Counted once: the removed output's own ack, if a send the close
        cut short completes after all, is then ignored (one ack too many would commit the batch before
        the outputs that still hold it delivered it)."""
        with self._lock:
            i = self._index(seq)
            if i < 0 or output in self._window[i][4] or output in self._window[i][6]:
                return
            self._window[i][1] -= 1
            self._behalf.add((seq, output))
        self._advance()

    def progress(self, seq: int) -> tuple[int, set[str]] | None:
        """Batch `seq`: how many outputs still owe their ack, and those that acknowledged it (or had its
        events before); None once it left the window."""
        with self._lock:
            i = self._index(seq)
            return (self._window[i][1], set(self._window[i][4])) if i >= 0 else None

    def untouched_suffix(self, attempted: set[int]) -> set[int]:
        """The last batches no output acknowledged or was handed (`attempted`): those a reload may
        withdraw. Only a suffix: an earlier batch withdrawn under a later delivered one would be lost."""
        out: set[int] = set()
        with self._lock:
            for seq, pending, _, total, _, _, stranded in reversed(self._window):
                if pending + len(stranded) != total or seq in attempted:
                    break
                out.add(seq)
        return out

    def withdraw(self, seqs: set[int], commit: bool = True) -> None:
        """Forget batches taken back from the outputs (they are read again from the checkpoint).
        `commit=False` (the outputs' queue locks held): what that unblocks is committed by the next
        withdraw() or ack, not now (a commit may retry for long through a full disk). Else it is
        committed, waited for up to WITHDRAW_WAIT: a reload counts in_flight() next, and a commit
        still in progress would count as a batch its source must wait for."""
        with self._lock:
            self.taken_back_events += sum(len(e[5]) for e in self._window if e[0] in seqs)
            self._window = deque(e for e in self._window if e[0] not in seqs)
            for seq in seqs:
                self._partly.pop(seq, None)
            settles = [f for seq in seqs for f in self._settles.pop(seq, ())]
        for settle in settles:  # (no lock held: it takes the output's queue lock, which may be taken before ours)
            settle()
        if commit:
            self._advance()
            self.wait_saved(WITHDRAW_WAIT)

    def _advance(self) -> None:
        """What completed is merged for the committer, which is handed this tracker if it does not have it."""
        settles: list[Settle] = []
        with self._lock:
            while self._window and self._window[0][1] <= 0 and not self._window[0][6] and not self._owed:
                seq, _, fragment, _, _, ids, _ = self._window.popleft()
                self._to_read_again = max(0, self._to_read_again - len(ids))
                if self._partly:
                    self._partly.pop(seq, None)
                self._unsaved.update(fragment)
                self._unsaved_seq = seq
                if self._behalf:  # a late ack of a batch out of the window is ignored anyway
                    self._behalf = {b for b in self._behalf if b[0] > seq}
            if not self._unsaved:
                if not self._committing:  # batches with an empty fragment: nothing to commit, nothing before them
                    self.committed_seq = max(self.committed_seq, self._unsaved_seq)
                    settles = self._settled_upto(self.committed_seq)
                self._lock.notify_all()
            elif not self._queued:  # (not taken by a stopped committer: kept, as after a commit that gave up)
                self._queued = self._committer.submit(self)
                if not self._queued:  # nothing will commit them: the outputs are not held back for them
                    settles = self._settled_upto(self._unsaved_seq)
        for settle in settles:
            settle()

    def _settled_upto(self, seq: int) -> list[Settle]:
        """With the lock held: the settle() of the batches up to `seq` (completed), taken out."""
        done = [s for s in self._settles if s <= seq]
        return [f for s in done for f in self._settles.pop(s)]

    def _take(self) -> tuple[dict[str, Any], int]:
        """With the lock held, by the committer: what waits, taken to be committed."""
        merged, seq = self._unsaved, self._unsaved_seq
        self._unsaved = {}
        self._committing = True
        self._committing_settles = self._settled_upto(seq)
        return merged, seq

    def _deferred(self, merged: dict[str, Any], seq: int) -> None:
        """With the lock held, by the committer: the commit of `merged` failed, to be tried again after a
        backoff. Kept, merged before what completed since; its batches stay in their outputs' windows."""
        self._committing = False
        self._unsaved = {**merged, **self._unsaved}
        if self._committing_settles:
            self._settles.setdefault(seq, []).extend(self._committing_settles)
            self._committing_settles = []

    def _committed(self, merged: dict[str, Any], seq: int, ok: bool) -> tuple[bool, list[Settle]]:
        """With the lock held, by the committer: the commit of `merged` returned (`ok`) or gave up (kept:
        the next completed batch tries again). (True if more completed meanwhile: the committer keeps it,
        the settle() to call once the lock is let go.) A commit that gave up settles what waits too: the
        outputs are not held back by a store the agent gave up on (they deliver what a stop drains)."""
        self._committing = False
        settles, self._committing_settles = self._committing_settles, []
        if ok:
            self.commits += 1
            # Batches with an empty fragment completed meanwhile need no commit of their own.
            self.committed_seq = max(self.committed_seq, seq if self._unsaved else self._unsaved_seq)
            settles += self._settled_upto(self.committed_seq)
        else:
            self._unsaved = {**merged, **self._unsaved}
            settles += self._settled_upto(self._unsaved_seq)
        self._queued = ok and bool(self._unsaved)
        return self._queued, settles

    def wait_saved(self, timeout: float | None) -> bool:
        """True once every batch completed so far is committed (False after `timeout`, or when a
        commit gave up: its fragment waits for the next completed batch)."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._unsaved and not self._committing
                                       and self.committed_seq >= self._unsaved_seq, timeout)

    def delivered_to(self, seqs: set[int] | None = None) -> dict[str, list[str]]:
        """Per output, the event ids of the batches not committed (of `seqs`, or all of them) that this
        output did acknowledge, and of those it stored part of (stored_part): what a re-read must not
        send it again."""
        out: dict[str, list[str]] = {}
        with self._lock:
            for seq, _, _, _, acked, ids, _ in self._window:
                if seqs is None or seq in seqs:
                    for output in acked - self._elsewhere.keys():
                        out.setdefault(output, []).extend(ids)
                    for output, part in self._partly.get(seq, {}).items():
                        if output not in acked and output not in self._elsewhere:
                            out.setdefault(output, []).extend(part)
        return out

    def stored_unsaved(self, wait: float) -> dict[str, int] | None:
        """For an exit that does not wait (a second signal): per output, how many events of the batches not
        committed it stored (delivered_to), which the next start sends it again; None when the lock was not had
        within `wait` seconds (the handler must not wait on a thread that may be stuck)."""
        if not self._lock.acquire(timeout=wait):  # (a Condition's RLock: the main thread it interrupts may hold it)
            return None
        try:
            return {output: len(ids) for output, ids in self.delivered_to().items() if ids}
        finally:
            self._lock.release()

    def delivered_elsewhere(self, seqs: set[int] | None = None) -> dict[str, list[str]]:
        """Per where (OutputConfig.where), the event ids of the batches not committed (of `seqs`, or all of them)
        that the old server of a name a reload gave to another server acknowledged (stores_elsewhere): acks that
        came during the reload's wait. Should a later reload give an output that where again, the re-read must not
        send it these (a change undone)."""
        out: dict[str, list[str]] = {}
        with self._lock:
            for seq, _, _, _, acked, ids, _ in self._window:
                if seqs is None or seq in seqs:
                    for output in acked & self._elsewhere.keys():
                        if self._elsewhere[output]:  # ("": a block that cannot be told is never taken for another)
                            out.setdefault(self._elsewhere[output], []).extend(ids)
                    for output, part in self._partly.get(seq, {}).items():
                        if output not in acked and self._elsewhere.get(output):
                            out.setdefault(self._elsewhere[output], []).extend(part)
        return out

    def events_in(self, seqs: set[int] | None = None) -> tuple[int, int]:
        """(batches, events) of the batches not acknowledged by all (of `seqs`, or all of them; owed to an output a
        reload added: all): what a source that cannot read again loses when they are let go."""
        with self._lock:
            held = [ids for seq, pending, _, _, _, ids, stranded in self._window
                    if (pending > 0 or stranded or self._owed) and (seqs is None or seq in seqs)]
        return len(held), sum(len(ids) for ids in held)

    def in_flight(self) -> int:
        """Batches not acknowledged yet, plus one while acknowledged ones wait for their commit."""
        with self._lock:
            return len(self._window) + (1 if self._unsaved or self._committing else 0)

    def awaiting_commit(self) -> bool:
        """Batches completed (every output stored them) whose checkpoint is not saved yet: its commit in progress,
        or failed and waiting for its retry (a full state_dir). They count in in_flight(), held by no output."""
        with self._lock:
            return bool(self._unsaved or self._committing)

    def awaiting_commit_unlocked(self) -> bool:
        """awaiting_commit without the lock, for a signal handler (the main thread it interrupts may hold it): a
        moment stale at worst."""
        return bool(self._unsaved or self._committing)

    def wait_idle(self, timeout: float | None) -> bool:
        with self._lock:
            return self._lock.wait_for(self._idle, timeout)

    def wait_delivered(self, timeout: float | None) -> bool:
        """wait_idle for a stop: it ends at once (False) when what is left cannot complete (unfinished: owed to an
        output a reload added, or stranded by an output it closed), its completed part committed. Waited for, a stop
        in a restart's wait for an added output's batches ran the whole shutdown_timeout for acks that never come."""
        with self._lock:
            self._lock.wait_for(lambda: self._idle() or (self._cannot_complete() and not self._unsaved
                                                         and not self._committing), timeout)
            return self._idle()

    def _idle(self) -> bool:
        """With the lock held: every batch completed and committed."""
        return not self._window and not self._unsaved and not self._committing



class Committer:
    """The thread that commits the trackers' checkpoints (AckTracker: what their acks completed, merged),
    one commit at a time, the trackers in turn. One per pipeline, for every source: the store answers one
    request at a time anyway, and a thread started per burst of commits cost more CPU than the grouping
    saved (bench/README.md). Its thread starts with the first commit and ends at stop(), once nothing
    waits. It holds a tracker (and so its source's runner) only from taking what it has to commit until
    that commit returned, and never while it waits: a runner a reload let go is freed. A commit that
    failed (CommitFailed) is not retried in the thread's time: the tracker waits for its retry aside
    (held), and the other sources' commits go on."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: deque[AckTracker] = deque()  # trackers with something to commit, each once, in turn
        self._later: list[tuple[float, int, AckTracker]] = []  # (when, order, tracker): failed, tried again then
        self._order = itertools.count()
        self._retry_soon = False  # retry_now(): the failed ones are tried again at once
        self._thread: threading.Thread | None = None
        self._stopping = False  # stop(): end once nothing is due
        self._ended = False  # ended: nothing handed to it from now on is committed

    def submit(self, tracker: AckTracker) -> bool:
        """With `tracker`'s lock held: it has something to commit. False once stopped: nothing commits it."""
        with self._cond:
            if self._ended:
                return False
            self._due.append(tracker)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="checkpoint-commit", daemon=True)
                self._thread.start()
            self._cond.notify()
            return True

    def retry_now(self) -> None:
        """The commits waiting for their retry after a failure are tried again now (a stop: the store may
        have room now, or the agent gives up)."""
        with self._cond:
            self._retry_soon = True
            self._cond.notify()

    def stop(self, timeout: float) -> bool:
        """Commit what is due (a stop's last acks; those waiting for a retry are tried once more), then end. False if a commit had not returned after
        `timeout` seconds: its thread is left to it (a daemon; the store gives up its waits at the stop's end)."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
            thread = self._thread
            if thread is None:
                self._ended = True
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def _next(self) -> AckTracker | None:
        """The next tracker to commit, once one is due; None once stopped and nothing is due."""
        with self._cond:
            while True:
                now = time.monotonic()
                retry_all, self._retry_soon = self._retry_soon or self._stopping, False
                while self._later and (retry_all or self._later[0][0] <= now):
                    self._due.append(heapq.heappop(self._later)[2])
                if self._due:
                    return self._due.popleft()
                if self._stopping:
                    self._ended = True
                    return None
                self._cond.wait(self._later[0][0] - now if self._later else None)

    def _run(self) -> None:
        while (tracker := self._next()) is not None:
            lock = tracker._lock
            with lock:
                merged, seq = tracker._take()
            ok, retry_in = False, None
            try:
                ok = tracker._commit(merged) is not False
            except CommitFailed as e:  # (at a stop: given up, as the commit would have itself)
                retry_in = None if self._stopping else e.retry_in
            except Exception:  # a bug: this source's commits must not end every source's
                log.exception("checkpoint commit failed: what it held is committed with the next acknowledged batch")
            with lock:
                if retry_in is not None:
                    tracker._deferred(merged, seq)
                    settles: list[Settle] = []
                    with self._cond:
                        heapq.heappush(self._later, (time.monotonic() + retry_in, next(self._order), tracker))
                else:
                    again, settles = tracker._committed(merged, seq, ok)
                    if again:
                        with self._cond:
                            self._due.append(tracker)
                # Let go of it before the lock lets a waiter on (wait_idle): that one may drop the last reference.
                del tracker
                lock.notify_all()
            for settle in settles:  # the outputs' windows (their locks are never taken inside a tracker's)
                settle()
            del settles


# The committer of trackers made without one (tests, tools): its thread lives as long as the process.
PROCESS_COMMITTER = Committer()
