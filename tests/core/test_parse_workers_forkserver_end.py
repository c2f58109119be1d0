"""The stop ends the parse workers' forkserver without its interpreter's teardown. Asked to end by its pipe's EOF
(multiprocessing's own way), it exited through Python's finalisation, freeing every module it had preloaded (the
agent's parser, pydantic, the plugin API: ~56 M instructions, bench/README.md session 16), and a `run --once`
with workers waited for it last, on one core. It has nothing to flush: SIGTERM ends it at once. The forkserver
here is real; a module it preloads (tests/core/atexit_mark.py) notes whether its exit handlers ran."""
from __future__ import annotations

import multiprocessing
import os
from multiprocessing import forkserver

from shipper.parse_workers import end_helpers, proc_stat


def test_the_stop_ends_the_forkserver_without_its_teardown_and_leaves_nothing(tmp_path, monkeypatch):
    end_helpers()  # no forkserver of an earlier test: the next one preloads the marking module
    mark = tmp_path / "torn-down"
    monkeypatch.setenv("SHIPPER_TEST_ATEXIT_MARK", str(mark))
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["tests.core.atexit_mark"])
    worker = ctx.Process(target=os.getpid)
    worker.start()
    worker.join(60)
    assert worker.exitcode == 0
    pid = forkserver._forkserver._forkserver_pid
    assert isinstance(pid, int) and pid != os.getpid() and proc_stat(pid)[0] != b"Z", pid  # a forkserver, running
    end_helpers(5.0)
    assert forkserver._forkserver._forkserver_pid is None  # multiprocessing knows it ended (a pool starts another)
    assert not os.path.exists(f"/proc/{pid}") or proc_stat(pid)[0] == b"Z"  # gone (reaped), or a zombie of ours
    assert multiprocessing.active_children() == []
    assert not mark.exists(), "the forkserver ran its interpreter's teardown at the stop"
