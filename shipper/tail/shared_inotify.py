"""One inotify instance for every holder of the agent, read by one thread of its own.

The kernel gives a user few inotify instances (`fs.inotify.max_user_instances`, 128 by default,
shared by every process of the user). A holder per file source with an instance of its own ran
them out at ~43 sources (with the change watcher's), and then nothing was held. Here every holder
subscribes to folders of one instance: the kernel keeps one watch per folder inode, its mask the
union of what the subscribers asked (IN_MASK_ADD), removed when the last subscriber of it leaves;
the instance and its thread live while any subscriber does.

The thread reads the events and hands each subscriber those of its folders, in the kernel's order
(a rename's IN_MOVED_FROM and IN_MOVED_TO are paired by cookie). A queue overflow goes to every
subscriber, a folder's IN_IGNORED (deleted, unmounted) to its subscribers. Subscribers are called
outside the table lock, so that one may call watch()/unwatch() while it holds its own lock.
"""
from __future__ import annotations

import logging
import os
import select
import threading
from contextlib import contextmanager
from typing import Any, Iterator, Protocol

from inotify_simple import INotify, flags

log = logging.getLogger("shipper.tail.shared_inotify")


class Subscriber(Protocol):
    def on_events(self, events: list[tuple[str | None, Any]]) -> None:
        """(folder, event) pairs in order; folder None for a queue overflow."""


class SharedInotify:
    _current: SharedInotify | None = None
    _class_lock = threading.Lock()

    @classmethod
    def join(cls, sub: Subscriber) -> SharedInotify:
        """The agent's instance (made now if none lives); OSError when inotify cannot be had."""
        with cls._class_lock:
            hub = cls._current
            if hub is None:
                hub = cls._current = SharedInotify()
            with hub._lock:
                hub._subs.add(sub)
            return hub

    def leave(self, sub: Subscriber) -> None:
        """Drop every watch of `sub`; the last subscriber out ends the thread and the instance. No event
        is handed to `sub` once this returns (a batch being handed out is waited for)."""
        with self._reading, self._lock:
            for (s, folder) in [k for k in self._watch if k[0] is sub]:
                self._unwatch_locked(s, folder)
            self._subs.discard(sub)
        with SharedInotify._class_lock:
            if self._subs:
                return
            if SharedInotify._current is self:
                SharedInotify._current = None
        self._close()

    def __init__(self) -> None:
        self._inotify = INotify()  # OSError (EMFILE: instances used up) goes to the caller
        try:
            self._stop_r, self._stop_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            self._inotify.close()
            raise
        self._subs: set[Any] = set()
        self._lock = threading.Lock()  # the tables
        self._reading = threading.RLock()  # a read and its dispatch (held by paused())
        self._watch: dict[tuple[Any, str], tuple[int, int]] = {}  # (subscriber, folder) -> (wd, mask)
        self._by_wd: dict[int, set[tuple[Any, str]]] = {}
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="file-holder", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------- subscribers' side

    def watch(self, sub: Subscriber, folder: str, mask: int) -> bool:
        """Report events of `mask` in `folder` to `sub`; False (nothing watched) when the kernel refuses."""
        with self._lock:
            self._unwatch_locked(sub, folder)  # a folder name watched again may point elsewhere now
            try:
                wd = self._inotify.add_watch(folder, mask | flags.ONLYDIR | flags.MASK_ADD)
            except OSError as e:
                log.debug("no watch", extra={"path": folder, "error": str(e)})
                return False
            self._watch[(sub, folder)] = (wd, mask)
            self._by_wd.setdefault(wd, set()).add((sub, folder))
            return True

    def unwatch(self, sub: Subscriber, folder: str) -> None:
        with self._lock:
            self._unwatch_locked(sub, folder)

    def _unwatch_locked(self, sub: Subscriber, folder: str) -> None:
        got = self._watch.pop((sub, folder), None)
        if got is None:
            return
        wd = got[0]
        users = self._by_wd.get(wd)
        if users is None:
            return  # the kernel dropped it (IN_IGNORED)
        users.discard((sub, folder))
        if not users:
            del self._by_wd[wd]
            try:
                self._inotify.rm_watch(wd)
            except OSError:
                pass  # the folder is gone: the kernel dropped the watch already

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Hold the thread off (events queue in the kernel, as when the agent is frozen); at the end
        what queued is read and handed out in the caller's thread, before the thread goes on."""
        with self._reading:
            yield
            self._read_and_dispatch()

    def drain(self) -> None:
        """Read what the kernel queues now and hand it out, in the caller's thread: once (bounded by
        the kernel's queue, `fs.inotify.max_queued_events`), so a stop that asks is never held by a storm."""
        try:
            self._read_and_dispatch()
        except Exception:  # a subscriber's bug must not end the caller's stop
            log.exception("handling inotify events failed")

    # ------------------------------------------------------------- the thread

    def _run(self) -> None:
        # poll(), not select(): an agent holding many files has descriptors past 1024, which select()
        # refuses (the thread ended there, and nothing was held any more).
        poller = select.poll()
        poller.register(self._inotify.fileno(), select.POLLIN)
        poller.register(self._stop_r, select.POLLIN)
        while not self._stopping:
            try:
                ready = {fd for fd, _ in poller.poll()}
            except InterruptedError:  # pragma: no cover - (PEP 475 retries it)
                continue
            if self._stopping or self._stop_r in ready:
                return
            try:
                self._read_and_dispatch()
            except Exception:  # a subscriber's bug must not end holding for every source
                log.exception("handling inotify events failed")

    def _read_and_dispatch(self) -> None:
        with self._reading:
            try:
                events = self._inotify.read(timeout=0)
            except (OSError, ValueError):
                return
            per_sub: dict[Any, list[tuple[str | None, Any]]] = {}
            with self._lock:
                for ev in events:
                    if ev.mask & flags.Q_OVERFLOW:
                        for sub in self._subs:
                            per_sub.setdefault(sub, []).append((None, ev))
                        continue
                    users = self._by_wd.get(ev.wd)
                    if not users:
                        continue
                    for sub, folder in users:
                        if ev.mask & (self._watch[(sub, folder)][1] | flags.IGNORED):
                            per_sub.setdefault(sub, []).append((folder, ev))
                    if ev.mask & flags.IGNORED:  # the folder's watch is gone: its subscribers watch again
                        for key in self._by_wd.pop(ev.wd):
                            self._watch.pop(key, None)
            for sub, evs in per_sub.items():
                sub.on_events(evs)

    def _close(self) -> None:
        self._stopping = True
        try:
            os.write(self._stop_w, b"!")
        except OSError:
            pass
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        with self._reading:
            self._inotify.close()
        for fd in (self._stop_r, self._stop_w):
            try:
                os.close(fd)
            except OSError:
                pass
