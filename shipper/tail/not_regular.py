"""Matched paths that are not regular files (a FIFO, a socket, a device, a kernel's file): named once, not read.

The agent reads regular files only: a FIFO's bytes go to whichever reader takes them first (reading one would steal
them from its real reader, and a FIFO with no writer blocks an open), and a device or socket is no log. Fluent Bit and
Filebeat leave such a path out without a word; an operator who pointed `paths` at a pipe then waits for lines that
never come. So each is warned once, by name and kind, and named again only if it goes and comes back. Folders are left
out silently: a glob such as `/var/log/app/*` meets subfolders as a matter of course.
The files of /proc and /sys (a glob meeting a symlink to /proc/kmsg) are regular to stat, of size 0, and made by the
kernel as they are read: each read of /proc/uptime gives a new line, each of /proc/kmsg takes the kernel log's
messages from klogd (as root), and a size 0 after a read looked like a truncation: a false "data lost" several times
a second (exam27b). They are named and left out as the others.
"""
from __future__ import annotations

import logging
import os
import stat

from shipper.config_base import file_kind

KERNEL_FILE = "a file the kernel makes as it is read (procfs or sysfs: its size says 0, and its reads give what the kernel has now)"
_KERNEL_ROOTS = ("/proc", "/sys")
_kernel_devices: frozenset[int] | None = None


def kernel_file(st: os.stat_result) -> bool:
    """Is the regular file of stat `st` on the filesystem of /proc or /sys (procfs, sysfs)?"""
    global _kernel_devices
    if _kernel_devices is None:
        devices = set()
        for root in _KERNEL_ROOTS:
            try:
                devices.add(os.stat(root).st_dev)
            except OSError:
                pass
        _kernel_devices = frozenset(devices)
    return st.st_dev in _kernel_devices


def kind_of(st: os.stat_result) -> str:
    """What a matched path of stat `st`, not read, is, for the line naming it."""
    return KERNEL_FILE if stat.S_ISREG(st.st_mode) else file_kind(st.st_mode)


class NotRegular:
    """The paths a source's globs match that are not regular files, each warned once while it stays."""

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self.named: dict[str, str] = {}  # path -> its kind, warned

    def look(self, paths: list[str]) -> None:
        """A scan's matches that are neither regular files nor folders (discovery.expand's `others`): each warned the
        first time it is met; one missing from the scan is forgotten (named again if it comes back)."""
        now: dict[str, str] = {}
        for path in paths:
            try:
                st = os.stat(path)
            except OSError:
                continue  # (gone since the glob)
            kind = now[path] = kind_of(st)
            if self.named.get(path) != kind:
                self.log.warning(f"{path} is {kind}, not a regular file: not read (the source's `paths` match it; "
                                 "the agent reads regular files only). Point `paths` at the file the program writes, "
                                 "or leave this one out with `exclude`", extra={"path": path})
        self.named = now
