"""What a source's threads wait for inside the agent, on its behalf: room in an output's queue, the integrity
chain's lock, an attestation's acknowledgement, the checkpoints; and the agent's own work for it that is no wait
(parsing what it read, in its thread). A stop whose shutdown_timeout runs out while a source has not returned says
what it waited for or was doing (issue 23: it said "blocked in a call the stop cannot wake" of a source that only
waited for room in a down output's queue, which the stop gives up on; issue 13: of one parsing the rest of a read,
which returned a moment later); a source in none of these is in a call of its own."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger("shipper.source")

# A source held in a wait of the agent's (an output's full queue, its parse workers') is called back this often.
LOOK_EVERY = 1.0
_held = threading.local()  # the calling thread's `look` (looking_while_held) and when it is due


@contextmanager
def looking_while_held(look: Callable[[], None]) -> Iterator[None]:
    """Inside the block, `look` is called in the calling thread about every LOOK_EVERY seconds while the agent holds
    it in ctx.emit (backpressure: an output down or slow, the parse workers busy). A source looks at its inputs then:
    the file source notes how far its files have grown, so that one cut back while it was held is a named loss, not
    taken for growth (tests/tail/test_attack25_cut_above_read_position_silent.py). `look` must be quick and never
    emit."""
    _held.look, _held.due = look, 0.0
    try:
        yield
    finally:
        _held.look = None


def held_a_while() -> None:
    """Called by the loops that hold a source's thread in ctx.emit, once a round (a wait of 0.2 s that found no room):
    `look` when it is due, at most every LOOK_EVERY over the waits that follow one another (an output slow rather than
    down holds the reader in many short waits)."""
    look = getattr(_held, "look", None)
    if look is None:
        return
    now = time.monotonic()
    if now < _held.due:
        return
    _held.due = now + LOOK_EVERY
    try:
        look()
    except Exception:  # (a bug in a source's look must not lose the batch being handed over)
        log.exception("a source's look while held failed")


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
