"""A stop while a parse pool's workers are still starting: on a loaded host the forkserver's own start (it
imports the agent) takes seconds, and `shipper run --once | head -1` ended with a warning that the forkserver
"did not end in time (stopped?)", a worker "held by a cgroup freezer?", or a new forkserver's traceback (the
stop's end of multiprocessing's helpers ran while a start was in progress, which launched another forkserver).
The forkserver here is real and slow the same way: its preload waits on a file (tests/core/slow_import_gate.py)."""
from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from multiprocessing import forkserver

from shipper.parse_workers import ParsePool, end_helpers, proc_stat
from shipper.plugin import ParserOptions
from tests.support import wait_until


def test_end_helpers_during_a_slow_worker_start_ends_it_quietly_and_leaves_nothing(tmp_path, monkeypatch, caplog):
    end_helpers()  # no forkserver of an earlier test: the next one preloads the slow module
    monkeypatch.setenv("SHIPPER_TEST_IMPORT_GATE", str(tmp_path / "never"))
    pool = ParsePool("slow", 2, {}, ParserOptions(), "host", lambda raw, parsed: None, lambda raw: (b"", 0, [], None, 0, 0),
                     threading.Event(), lambda e: None, parser_module="tests.core.slow_import_gate")
    starters = [t for t in threading.enumerate() if t.name == "parse-start-slow"]
    wait_until(lambda: forkserver._forkserver._forkserver_pid is not None, 60, "the forkserver launched")
    pid = forkserver._forkserver._forkserver_pid
    assert proc_stat(pid)[0] not in (b"T", b"t")  # slow, not stopped
    caplog.set_level(logging.DEBUG, logger="shipper.parse_workers")
    pool.close(0.5)  # the stop's share for the pool: its starter is still waiting on the forkserver
    started = time.monotonic()
    end_helpers(3.0)
    took = time.monotonic() - started
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert said == [], said  # a slow start is no fault: nothing to name
    assert took < 10, took  # (3 s promised; a loaded host's scheduling aside)
    wait_until(lambda: not any(t.is_alive() for t in starters), 30, "the starter to end")
    assert multiprocessing.active_children() == []
    assert forkserver._forkserver._forkserver_pid is None  # no new forkserver launched by the start
    assert not os.path.exists(f"/proc/{pid}") or proc_stat(pid)[0] == b"Z"
