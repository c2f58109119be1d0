"""Touched, not written: a followed file whose mtime moved with no write since the last scan.

A live file read no further than its head that did not grow while its mtime moved was cut and given the same bytes
again (copytruncate of a header-only log, a writer reopening it with O_TRUNC: truncation.rewritten_unseen), or only
touched (`touch`, `os.utime`, a backup tool restoring times, `find … -exec touch`). Its bytes and size cannot tell
the two apart; inotify can: a write or a cut is IN_MODIFY, a change of times alone IN_ATTRIB (fsnotify_change). The
watcher reports both (watcher.Changes.written, .touched); each file touched with no write seen since the last scan is
looked at as the event is read, and a scan that finds it as it was then (inode, size, mtime) takes its mtime as moved
by the touch, not by a cut. A write seen after it, or an event queue overflow, drops that: a cut made after the touch
moves the mtime again, or its IN_MODIFY is read before the scan (only a cut within the mtime's granularity of the
touch whose events come after the scan's look could pass for it). Where no such events come (polling, watchdog's
folders, a watch limit), nothing is taken as touched: the mtime alone decides, as before.
(Taken for a cut, every quiet one-line log touched was read again at the next safety rescan and shipped twice,
warned "possibly lost": tests/tail/test_attack24_touched_quiet_file_read_again.py.)
"""
from __future__ import annotations

import os
from collections.abc import Iterable


class Touches:
    def __init__(self) -> None:
        self._written: set[str] = set()  # paths written to (IN_MODIFY) since the last scan
        # path -> (device, inode, size, mtime) when its touch (IN_ATTRIB, no write before it since the last scan) was read
        self._touched: dict[str, tuple[int, int, int, int]] = {}

    def note(self, written: Iterable[str], touched: Iterable[str], overflowed: bool) -> None:
        """One batch of the watcher's events: the paths written to, those touched (in the same batch as a write: not
        taken as touched, the order is not known), and whether events were dropped (then nothing is)."""
        if overflowed:
            self._touched.clear()
        for path in written:
            self._written.add(path)
            self._touched.pop(path, None)
        if overflowed:
            return
        for path in touched:
            if path in self._written:
                continue
            try:
                st = os.stat(path)
            except OSError:
                continue
            self._touched[path] = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def explains(self, path: str, st: os.stat_result) -> bool:
        """Is `st` (the file at `path` now) as it was when its touch was read, with no write seen since the last scan?"""
        return (path not in self._written
                and self._touched.get(path) == (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))

    def scanned(self) -> None:
        """A scan has looked at every followed file: what comes next is for the next one."""
        self._written.clear()
        self._touched.clear()
