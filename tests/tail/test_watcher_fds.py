"""Issue 23: the change watcher waits on descriptors numbered past 1024 (an agent following
thousands of files holds that many): select() refuses them ("filedescriptor out of range")."""
from __future__ import annotations

import os
import resource
import threading
import time

from shipper.tail.watcher import ChangeWatcher

WAIT = 30.0


def _fill_low_descriptors(tmp_path) -> list[int]:
    """Take descriptors until the next one opened is past 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 2048:
        assert hard == resource.RLIM_INFINITY or hard >= 2048, "the test needs 2048 descriptors"
        resource.setrlimit(resource.RLIMIT_NOFILE, (2048, hard))
    held = []
    base = os.open(tmp_path, os.O_RDONLY)
    held.append(base)
    while held[-1] < 1100:
        held.append(os.dup(base))
    return held


def test_the_wait_works_with_descriptors_past_1024(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    f = d / "a.log"
    f.write_text("one\n")
    held = _fill_low_descriptors(tmp_path)
    w = ChangeWatcher([(str(d), False)], gather=0.0)
    try:
        w.start()
        assert w._wake_r > 1024 and w._ino is not None and w._ino.fileno() > 1024
        w.watch_folders({str(d)})
        w.wait(0)  # the first wait reports "look at everything" without sleeping
        with open(f, "ab") as fh:
            fh.write(b"two\n")
        seen: set[str] = set()
        for _ in range(20):  # each wait returns on a change (or after WAIT)
            seen |= w.wait(WAIT).paths
            if str(f) in seen:
                break
        assert str(f) in seen

        for _ in range(20):
            if not w.wait(1.0).woke:
                break  # quiet now (the file's close was a structure event)
        # wake() from another thread ends a long wait at once (the test would hang otherwise).
        threading.Timer(0.2, w.wake).start()
        ch = w.wait(600.0)
        assert ch.woke and not ch.paths
    finally:
        w.stop()
        for fd in held:
            os.close(fd)
    w.wake()  # after stop: harmless, writes nowhere


def test_the_holder_holds_with_descriptors_past_1024(tmp_path):
    """The holders' shared thread waited with select(): made when the agent already held over a
    thousand descriptors, it ended at once (ValueError) and nothing was held any more, silently."""
    from shipper.tail.holder import Holder
    d = tmp_path / "logs"
    d.mkdir()
    log = str(d / "app.log")
    open(log, "w").close()
    held = _fill_low_descriptors(tmp_path)
    h = Holder(max_files=10)
    try:
        assert h.start()
        h.follow({log}, set())
        with open(log + ".1", "w") as fh:
            fh.write("rotated\n")
        deadline = time.monotonic() + WAIT
        while not h.held and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(h.held) == 1
    finally:
        h.stop()
        for fd in held:
            os.close(fd)
