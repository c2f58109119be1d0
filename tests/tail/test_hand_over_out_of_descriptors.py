"""Issue 13/23: a reload restarting a file source hands its holder and copies of its tailer's descriptors to the
successor (FileSource.hand_over). When copying a descriptor fails (EMFILE: the process at its descriptor limit),
nothing is handed over, and the source's close() lets go of all it holds and names what is lost. Before, hand_over
had already taken the holder and marked the tailer's files as handed over when os.dup raised: close() found
nothing, the holder's thread went on holding its files, and the deleted file's unread bytes went unnamed."""
from __future__ import annotations

import logging
import os
import resource
import threading
import time

import pytest

from shipper.tail.holder import Holder
from tests.tail.test_hold import write_rotating
from tests.tail.test_hold_handover import Run
from tests.tail.test_live import WAIT


def test_a_hand_over_out_of_descriptors_hands_nothing_and_close_names_the_loss(tmp_path, caplog):
    d = tmp_path / "logs"
    d.mkdir()
    log = str(d / "app.log")
    open(log, "w").close()
    store: dict = {}
    got: list[int] = []
    up = threading.Event()
    up.set()
    run = Run(tmp_path, log, store, got, up)
    run.thread.start()
    try:
        deadline = time.monotonic() + WAIT
        while not run.source.tailer.files and time.monotonic() < deadline:
            time.sleep(0.05)
        write_rotating(log, 0, 10, 1000, 1)
        while len(got) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(got) == 10
        up.clear()  # the output goes down: the source stops reading
        write_rotating(log, 10, 20000, 100000, 1)  # more than a batch: the reader stops with bytes unread
        time.sleep(1)
        os.rename(log, log + ".1")  # rotated past its backup: the file the tailer had open is deleted, unread
        os.unlink(log + ".1")
        open(log, "w").close()
        run.source.restarting()
        run.stop.set()
        run.thread.join(WAIT)
        assert not run.thread.is_alive()
        holder = run.source.holder
        assert isinstance(holder, Holder), holder  # kept for a successor by restarting()
        # The process at its descriptor limit: every descriptor below it in use (the holes filled), the next EMFILE.
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(int(n) for n in os.listdir("/proc/self/fd")) + 1, hard))
        fillers: list[int] = []
        try:
            while True:
                try:
                    fillers.append(os.open(os.devnull, os.O_RDONLY))
                except OSError:
                    break
            with pytest.raises(OSError):
                run.source.hand_over()
        finally:
            for fd in fillers:
                os.close(fd)
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        with caplog.at_level(logging.WARNING):
            run.source.close()  # (reload_apply: "could not hand over", then the runner is let go)
    finally:
        run.stop.set()
        run.thread.join(WAIT)
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("data lost")]
    assert said and "were never read" in said[0], said
    assert not holder.held, "the holder no one took still holds its files"
