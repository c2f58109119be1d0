"""Moves a source's checkpoint only as far as every output has acknowledged, in batch order."""
from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable


class AckTracker:
    """Batches get sequence numbers as they are emitted; each waits for its outputs' acks.

    A batch's checkpoint fragment is committed only when it and every earlier batch of the same
    source are fully acknowledged, so a crash never skips an unacknowledged record.
    """

    def __init__(self, commit: Callable[[dict[str, Any]], None]):
        self._commit = commit
        self._lock = threading.Condition()
        self._next_seq = 0
        self._window: deque[list] = deque()  # [seq, pending outputs, checkpoint fragment]
        self.committed_seq = -1

    def register(self, pending: int, checkpoint: dict[str, Any]) -> int:
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
            self._window.append([seq, pending, checkpoint])
        if pending == 0:
            self._advance()
        return seq

    def ack(self, seq: int) -> None:
        with self._lock:
            base = self._window[0][0]
            entry = self._window[seq - base]
            entry[1] -= 1
        self._advance()

    def _advance(self) -> None:
        merged: dict[str, Any] = {}
        with self._lock:
            while self._window and self._window[0][1] <= 0:
                seq, _, fragment = self._window.popleft()
                merged.update(fragment)
                self.committed_seq = seq
            if merged:
                # Committing under the lock keeps commits in order across output threads.
                self._commit(merged)
            self._lock.notify_all()

    def in_flight(self) -> int:
        with self._lock:
            return len(self._window)

    def wait_idle(self, timeout: float | None) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: not self._window, timeout)
