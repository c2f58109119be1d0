"""A threading.Event that also wakes threads asleep on something else.

A source thread waits on file descriptors (inotify), not on its stop flag. Without a way to be
woken it must wake up every fraction of a second just to look at the flag: on an idle host those
wake-ups are most of what the agent costs (issue 23). Set from any thread; the functions run in
the setter's thread and must be quick and never block (write a byte to a pipe, notify).
"""
from __future__ import annotations

import threading
from typing import Callable


class WakingEvent(threading.Event):
    """What `ctx.stop` is in the agent: a threading.Event whose set() also runs the wakers added with
    add_waker(fn), so a source asleep on a socket or a pipe wakes at once (this module's note)."""

    def __init__(self) -> None:
        super().__init__()
        self._wakers_lock = threading.Lock()
        self._wakers: list[Callable[[], None]] = []

    def add_waker(self, fn: Callable[[], None]) -> None:
        """Call `fn` when the event is set (at once if it is set already)."""
        with self._wakers_lock:
            self._wakers.append(fn)
        if self.is_set():
            fn()

    def remove_waker(self, fn: Callable[[], None]) -> None:
        """Stop calling `fn` (a function not added is ignored)."""
        with self._wakers_lock:
            if fn in self._wakers:
                self._wakers.remove(fn)

    def set(self) -> None:
        """Set the event and run every waker, in the setting thread."""
        super().set()
        with self._wakers_lock:
            wakers = list(self._wakers)
        for fn in wakers:
            fn()
