"""A file system mounted on a watched folder makes no inotify event (the watch stays on the folder
underneath): the watcher hears the mount table change instead, and only mounts that change what a
watched name reaches make a scan."""
from __future__ import annotations

import subprocess
import threading
import time

from shipper.tail.watcher import ChangeWatcher
from tests.support import wait_until

WAIT = 30.0


def structure_within(w: ChangeWatcher, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if w.wait(left).structure:
            return True
    return False


def test_a_mount_on_a_watched_folder_is_a_structure_change_and_one_elsewhere_is_not(tmp_path):
    logs = tmp_path / "app logs"  # (mountinfo escapes the space: \040)
    logs.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    w = ChangeWatcher([(str(logs), False)], gather=0.0)
    mounted = []
    try:
        w.start()
        w.watch_folders({str(logs)})
        w.wait(0)  # the first wait reports "look at everything"
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(elsewhere)], check=True)
        mounted.append(elsewhere)
        assert not structure_within(w, 1.0), "a mount outside the watched folders made a scan"
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(logs)], check=True)
        mounted.append(logs)
        assert structure_within(w, WAIT), "a mount on the watched folder went unnoticed"
        w.watch_folders({str(logs)})  # (the scan's answer: the watch moves to the mounted folder)
        (logs / "new.log").write_text("one\n")
        assert structure_within(w, WAIT), "a file made on the new mount went unnoticed"
    finally:
        w.stop()
        for m in reversed(mounted):
            subprocess.run(["umount", "-l", str(m)], check=False)


def sleeping_in_epoll(t: threading.Thread) -> bool:
    try:
        with open(f"/proc/self/task/{t.native_id}/wchan") as f:
            return f.read() == "do_epoll_wait"
    except OSError:
        return False


def test_a_mount_elsewhere_does_not_end_the_wait(tmp_path):
    """A mount anywhere on the machine (another program's, another test's) ended the wait, though it is
    no change: an idle source woke once for each (test_idle counted two wake-ups in 2 s in a loaded
    full run, [8.2, 8.0]: the same wait begun again). The wait sleeps on until a change or its timeout."""
    logs = tmp_path / "logs"
    logs.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    w = ChangeWatcher([(str(logs), False)], gather=0.0)
    got: list = []
    waiter = threading.Thread(target=lambda: got.append(w.wait(600.0)))
    mounted = False
    try:
        w.start()
        w.watch_folders({str(logs)})
        w.wait(0)  # the first wait reports "look at everything"
        waiter.start()
        wait_until(lambda: sleeping_in_epoll(waiter), WAIT, "the wait asleep")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(elsewhere)], check=True)
        mounted = True
        wait_until(lambda: str(elsewhere) in {point for _, point in w._mounts}, WAIT, "the wait to read the mounts")
        wait_until(lambda: not waiter.is_alive() or sleeping_in_epoll(waiter), WAIT, "the wait asleep again or ended")
        assert waiter.is_alive(), f"a mount elsewhere ended the wait: {got}"
        w.wake()
        waiter.join(WAIT)
        assert got and got[0].woke and not got[0].structure, got
    finally:
        if waiter.is_alive():
            w.wake()
            waiter.join(WAIT)
        w.stop()
        if mounted:
            subprocess.run(["umount", "-l", str(elsewhere)], check=False)
