"""What a source's threads wait for inside the agent, on its behalf: room in an output's queue, the integrity
chain's lock, an attestation's acknowledgement, the checkpoints; and the agent's own work for it that is no wait
(parsing what it read, in its thread). A stop whose shutdown_timeout runs out while a source has not returned says
what it waited for or was doing (issue 23: it said "blocked in a call the stop cannot wake" of a source that only
waited for room in a down output's queue, which the stop gives up on; issue 13: of one parsing the rest of a read,
which returned a moment later); a source in none of these is in a call of its own."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class SourceWaits:
    """Per thread (the source's, its parse workers' collector, an attestation's), the innermost wait or work it is
    in."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_thread: dict[int, list[tuple[str, bool]]] = {}  # thread -> [(what, a wait: else work)]

    @contextmanager
    def on(self, what: str) -> Iterator[None]:
        """The calling thread waits for `what` (a phrase: "room in output x's queue") inside the block."""
        with self._in(what, True):
            yield

    @contextmanager
    def busy(self, what: str) -> Iterator[None]:
        """The calling thread does the agent's own work `what` (a phrase: "parsing what it read") inside the block:
        no wait, it ends by itself."""
        with self._in(what, False):
            yield

    @contextmanager
    def _in(self, what: str, wait: bool) -> Iterator[None]:
        me = threading.get_ident()
        with self._lock:
            self._by_thread.setdefault(me, []).append((what, wait))
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
            if not mine or not mine[-1][1]:
                return None
            others = [stack[-1][0] for ident, stack in self._by_thread.items()
                      if ident != thread.ident and stack[-1][1]]
        what = mine[-1][0]
        return what + "".join(f", behind {other}" for other in others if other != what)

    def doing(self, thread: threading.Thread) -> str | None:
        """The agent's own work `thread` is in now (None: none, or it waits)."""
        with self._lock:
            mine = self._by_thread.get(thread.ident or -1)
            return mine[-1][0] if mine and not mine[-1][1] else None
