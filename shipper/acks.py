"""Moves a source's checkpoint only as far as every output has acknowledged, in batch order."""
from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from typing import Any, Callable

# A source's state keys (the core's, popped before the source sees its state): per output, the ids of
# events it acknowledged in batches that did not complete before a stop or a reload took them back.
# The re-read sends those events to the other outputs only (shipper.source_runner).
DELIVERED_PREFIX = "_delivered_to:"
DELIVERED_MAX = 200_000  # ids kept per output (~40 bytes each); an output's in-flight limit stays far below


class AckTracker:
    """Batches get sequence numbers as they are emitted; each waits for its outputs' acks.

    A batch's checkpoint fragment is committed only when it and every earlier batch of the same
    source are fully acknowledged, so a crash never skips an unacknowledged record.

    `commit(fragment)` returns False when it gave up (the store failing while the agent stops):
    the fragment is then kept, merged before later ones, and the tracker is not idle. Commits run
    outside the window's lock (a commit retrying through a full disk must not block acks, status
    or a shutdown's wait) and one at a time, in order: a thread that finds a commit running leaves
    its fragment to that thread, which commits again before it lets go.
    """

    def __init__(self, commit: Callable[[dict[str, Any]], bool | None]):
        self._commit = commit
        self._lock = threading.Condition()
        self._commit_lock = threading.Lock()
        self._next_seq = 0
        # [seq, pending outputs, checkpoint fragment, outputs at start, outputs that acked, event ids]
        self._window: deque[list] = deque()
        self._unsaved: dict[str, Any] = {}  # acknowledged, merged, not committed yet
        self._unsaved_seq = -1
        self.committed_seq = -1
        self._closed = False  # close_intake(): batches registered from now on are not tracked
        self.untracked = (0, 0)  # (batches, events) with events registered after close_intake: never sent
        # (seq, output) acknowledged for an output a reload removed: that output's own late ack is ignored
        self._behalf: set[tuple[int, str]] = set()
        # Batches an output refused while others had them already (a reload closed it meanwhile): never complete
        self._stranded: set[int] = set()

    def register(self, pending: int, checkpoint: dict[str, Any], ids: Sequence[str] = (),
                 had: Sequence[str] = ()) -> int:
        """`had`: outputs not sent the batch because they stored its events before (delivered_to names them)."""
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
            if self._closed:
                if ids:
                    self.untracked = (self.untracked[0] + 1, self.untracked[1] + len(ids))
                return seq
            self._window.append([seq, pending, checkpoint, pending, set(had), ids])
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

    def strand(self, seq: int) -> None:
        """Batch `seq` will not reach every output it was registered for: one refused it (closed by a
        reload) and those after it were never offered it. It cannot complete: a reload takes it back."""
        with self._lock:
            if self._index(seq) >= 0:
                self._stranded.add(seq)

    def take_stranded(self) -> set[int]:
        """The stranded batches still tracked (then forgotten here: the caller withdraws them)."""
        with self._lock:
            out = {seq for seq in self._stranded if self._index(seq) >= 0}
            self._stranded.clear()
            return out

    def ack(self, seq: int, output: str | None = None) -> None:
        with self._lock:
            if output is not None and (seq, output) in self._behalf:  # acknowledged for it: its output was removed
                self._behalf.discard((seq, output))
                return
            i = self._index(seq)
            if i < 0:
                return  # withdrawn (its output was closed by a reload): read again, not counted
            if output is not None:
                if output in self._window[i][4]:
                    return
                self._window[i][4].add(output)
            self._window[i][1] -= 1
        self._advance()

    def ack_removed(self, seq: int, output: str) -> None:
        """A reload removed `output` while it held batch `seq`: nothing needs the batch from it any more,
        the other outputs' acks decide. Counted once: the removed output's own ack, if a send the close
        cut short completes after all, is then ignored (one ack too many would commit the batch before
        the outputs that still hold it delivered it)."""
        with self._lock:
            i = self._index(seq)
            if i < 0 or output in self._window[i][4]:
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
            for seq, pending, _, total, _, _ in reversed(self._window):
                if pending != total or seq in attempted:
                    break
                out.add(seq)
        return out

    def withdraw(self, seqs: set[int], commit: bool = True) -> None:
        """Forget batches taken back from the outputs (they are read again from the checkpoint).
        `commit=False` (the outputs' queue locks held): what that unblocks is committed by the next
        withdraw() or ack, not now (a commit may retry for long through a full disk)."""
        with self._lock:
            self._window = deque(e for e in self._window if e[0] not in seqs)
        if commit:
            self._advance()

    def _advance(self) -> None:
        with self._lock:
            while self._window and self._window[0][1] <= 0:
                seq, _, fragment, _, _, _ = self._window.popleft()
                self._unsaved.update(fragment)
                self._unsaved_seq = seq
                if self._behalf:  # a late ack of a batch out of the window is ignored anyway
                    self._behalf = {b for b in self._behalf if b[0] > seq}
            if not self._unsaved:
                if self._unsaved_seq > self.committed_seq:
                    self.committed_seq = self._unsaved_seq  # batches with an empty fragment
                self._lock.notify_all()
                return
        self._flush()

    def _flush(self) -> None:
        while self._commit_lock.acquire(blocking=False):
            try:
                with self._lock:
                    merged, seq = self._unsaved, self._unsaved_seq
                    self._unsaved = {}
                ok = self._commit(merged) is not False if merged else True
                with self._lock:
                    if ok:
                        self.committed_seq = max(self.committed_seq, seq)
                    else:
                        self._unsaved = {**merged, **self._unsaved}
                    self._lock.notify_all()
                if not ok:
                    return
            finally:
                self._commit_lock.release()
            with self._lock:
                if not self._unsaved:
                    return

    def delivered_to(self, seqs: set[int] | None = None) -> dict[str, list[str]]:
        """Per output, the event ids of the batches not acknowledged by all (of `seqs`, or all of them)
        that this output did acknowledge: what a re-read must not send it again."""
        out: dict[str, list[str]] = {}
        with self._lock:
            for seq, pending, _, _, acked, ids in self._window:
                if pending > 0 and (seqs is None or seq in seqs):
                    for output in acked:
                        out.setdefault(output, []).extend(ids)
        return out

    def events_in(self, seqs: set[int] | None = None) -> tuple[int, int]:
        """(batches, events) of the batches not acknowledged by all (of `seqs`, or all of them): what a
        source that cannot read again loses when they are let go."""
        with self._lock:
            held = [ids for seq, pending, _, _, _, ids in self._window if pending > 0 and (seqs is None or seq in seqs)]
        return len(held), sum(len(ids) for ids in held)

    def in_flight(self) -> int:
        """Batches not acknowledged yet, plus one while acknowledged ones wait for their commit."""
        with self._lock:
            return len(self._window) + (1 if self._unsaved or self._commit_lock.locked() else 0)

    def wait_idle(self, timeout: float | None) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: not self._window and not self._unsaved
                                       and not self._commit_lock.locked(), timeout)
