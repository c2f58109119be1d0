"""Black-box attack 10 (resources): the disk under one followed file starts answering I/O errors (a failing
disk or SAN path: ext4 shuts itself down after a journal error and answers EIO to every read, done here with
the real kernel's EXT4_IOC_SHUTDOWN on a small loop-mounted ext4), while the same source also follows a file
on a healthy disk.

Found (by hand 3 of 3, and with this test): the first `pread` that meets EIO (the source's truncation check
of the file on the failed disk) raises out of the file source's thread: the journal says once `source stopped
with an error ... [Errno 5] Input/output error` and the source never reads again, its healthy file included
(0 of the 100 lines written to it after the fault arrived in 60 s), while `/health` keeps answering 200
`"status": "ok"` without `sources_failing`, the watchdog is fed, and a SIGTERM stop exits 0 (`delivered=True`).
`shipper status` alone says `NOT RUNNING`. The lines are not lost (they are past the saved checkpoint and a
restart reads them), but the agent stops shipping that source for good, silently to every monitor.

Promised (README, "A source's current and last failure ... shows in /health (sources_failing, status
degraded)"; DEVELOPERS.md: a transient failure is retried with backoff, a permanent one named once and
clearly, nothing hangs): the failing file is named and retried, the rest of the source keeps shipping, and
/health says the source fails.
A quiet file on the failed disk is read by nothing until the safety rescan (`rescan_interval`, 60 s by default): its
failure is named then (a line appended elsewhere with open-write-close set off a full scan until 3c09d32, which this
test had relied on). The rescan is every 2 s here."""
from __future__ import annotations

import fcntl
import os
import struct
import time

from tests.fs_faults import ext4_folder
from tests.tail.attack_agent import Agent, append_numbered, exactly_once

EXT4_IOC_SHUTDOWN = 0x8004587D  # _IOR('X', 125, __u32)
EXT4_GOING_FLAGS_LOGFLUSH = 1  # flush the journal, then every I/O of the filesystem answers EIO


def shut_down(mountpoint) -> None:
    fd = os.open(mountpoint, os.O_RDONLY)
    try:
        fcntl.ioctl(fd, EXT4_IOC_SHUTDOWN, struct.pack("I", EXT4_GOING_FLAGS_LOGFLUSH))
    finally:
        os.close(fd)


def test_an_io_error_on_one_file_does_not_stop_the_source_silently(tmp_path):
    with ext4_folder(tmp_path) as disk:
        failing, healthy = disk / "a.log", tmp_path / "b.log"
        append_numbered(failing, 0, 100)
        append_numbered(healthy, 100, 200)
        agent = Agent(tmp_path, [failing, healthy], source_extra="    rescan_interval: 2")
        agent.start()
        try:
            assert agent.wait_delivered(range(200), 60), exactly_once(agent.seqs(), range(200))
            os.sync()
            shut_down(disk)
            append_numbered(healthy, 200, 300)  # written to the healthy disk after the fault
            deadline = time.monotonic() + 40  # both come within seconds when the source carries on
            while True:
                shipped = set(range(300)) <= set(agent.seqs())
                status, health = agent.get("/health")
                named = "app" in str(health.get("sources_failing"))
                if (shipped and named) or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert shipped, (f"the healthy file's lines stopped: {exactly_once(agent.seqs(), range(300))}; "
                             f"/health {status} {health}; journal: {agent.errors()[-1500:]}")
            assert "app" in str(health.get("sources_failing")), f"/health {status} {health} does not name the source"
        finally:
            agent.stop()
