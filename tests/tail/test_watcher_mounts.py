"""A file system mounted on a watched folder makes no inotify event (the watch stays on the folder
underneath): the watcher hears the mount table change instead, and only mounts that change what a
watched name reaches make a scan."""
from __future__ import annotations

import subprocess
import time

from shipper.tail.watcher import ChangeWatcher

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
