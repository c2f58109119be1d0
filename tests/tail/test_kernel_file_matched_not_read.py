"""A glob that matches a symlink to a file of /proc (exam27b: /proc/kmsg; here /proc/uptime, whose read takes nothing
from anyone): stat calls it a regular file of size 0, and each read gives what the kernel has now. It was read (as
root, /proc/kmsg's messages taken from klogd), and the size 0 after each read taken for a truncation: "data lost … was
truncated in place" several times a second, the loss counted. Now it is named once, as a FIFO or a device is, and
left out; `shipper check` says the same."""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from shipper.tail import discovery
from tests.tail.conftest import Follower


def test_a_symlink_to_a_kernel_file_is_named_once_and_not_read(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="shipper.tail")
    (tmp_path / "app.log").write_bytes(b'{"seq": 1}\n')
    os.symlink("/proc/uptime", tmp_path / "kernel.log")
    fl = Follower([tmp_path / "*.log"], tmp_path)
    for _ in range(4):
        fl.poll()
        time.sleep(0.3)  # (the uptime moves on: another line at each read)
    assert fl.lines() == [b'{"seq": 1}']
    said = [r.getMessage() for r in caplog.records if "kernel.log" in r.getMessage()]
    assert len(said) == 1 and "the kernel makes as it is read" in said[0] and "not read" in said[0], said
    assert fl.tailer.losses == 0 and not [r for r in caplog.records if "lost" in r.getMessage()]
    assert discovery.not_regular([str(tmp_path / "*.log")], [], str(tmp_path)) == [
        (str(tmp_path / "kernel.log"), "a file the kernel makes as it is read (procfs or sysfs: its size says 0, and "
                                       "its reads give what the kernel has now)")]
