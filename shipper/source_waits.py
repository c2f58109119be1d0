"""What a source's threads wait for inside the agent, on its behalf: room in an output's queue, the integrity
chain's lock, an attestation's acknowledgement, the checkpoints. A stop whose shutdown_timeout runs out
while a source has not returned says what it waited for (issue 23: it said "blocked in a call the stop cannot
wake" of a source that only waited for room in a down output's queue, which the stop gives up on); a source
in none of these waits is in a call of its own."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class SourceWaits:
    """Per thread (the source's, its parse workers' collector, an attestation's), the innermost wait it is in."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_thread: dict[int, list[str]] = {}

    @contextmanager
    def on(self, what: str) -> Iterator[None]:
        """The calling thread waits for `what` (a phrase: "room in output x's queue") inside the block."""
        me = threading.get_ident()
        with self._lock:
            self._by_thread.setdefault(me, []).append(what)
        try:
            yield
        finally:
            with self._lock:
                stack = self._by_thread[me]
                stack.pop()
                if not stack:
                    del self._by_thread[me]

    def of(self, thread: threading.Thread) -> str | None:
        """What `thread` waits for now inside the agent (None: not in one of its waits), and what the other
        threads it waits behind (the parse workers' collector, an attestation holding the chain's lock) wait for."""
        with self._lock:
            mine = self._by_thread.get(thread.ident or -1)
            if not mine:
                return None
            others = [stack[-1] for ident, stack in self._by_thread.items() if ident != thread.ident]
        return mine[-1] + "".join(f", behind {other}" for other in others if other != mine[-1])
