"""Issue 23: with `gather_interval: 10` a stop waited the gather window out: the stop's wake-up woke the file
source's watcher, which then slept the window (time.sleep) before the source saw the stop, and a stop with
shutdown_timeout 5 said the source was "blocked in a call the stop cannot wake". The stop ends the window now.
A real pipeline, a real file, inotify; the deadline below is a correctness check (the window is 10 s), not a
benchmark."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from shipper.config import load_config
from shipper.pipeline import Pipeline
from tests.support import wait


def asleep_in_watcher(thread_id: int | None) -> bool:
    """Whether the thread is in the file source's watcher's wait (where a stop finds an idle source)."""
    frame = sys._current_frames().get(thread_id or -1)
    while frame is not None:
        if frame.f_code.co_name == "wait" and frame.f_code.co_filename.endswith("watcher.py"):
            return True
        frame = frame.f_back
    return False


def test_a_stop_does_not_wait_out_the_gather_window(tmp_path: Path, capsys):
    log = tmp_path / "audit.log"
    log.write_text(json.dumps({"@timestamp": "2026-01-02T03:04:05Z", "message": "m0", "n": 0}) + "\n")
    (tmp_path / "shipper.yaml").write_text(f"""
state_dir: {tmp_path / 'state'}
shutdown_timeout: 30
sources:
  - {{name: app, type: file, paths: ['{log}'], parser: json, gather_interval: 10}}
outputs:
  - type: stdout
""")
    pipeline = Pipeline(load_config(str(tmp_path / "shipper.yaml")))
    pipeline.start()
    runner = pipeline.runners["app"]
    try:
        assert wait(lambda: runner.tracker.in_flight() == 0 and runner.last_commit is not None, 60)
        assert wait(lambda: asleep_in_watcher(runner.thread.ident), 60)
    finally:
        t0 = time.monotonic()
        delivered = pipeline.stop(30.0)
        took = time.monotonic() - t0
    assert delivered
    assert not runner.thread.is_alive()
    assert took < 7, f"the stop took {took:.1f}s: it waited the 10 s gather window out"
    assert '"n":0' in capsys.readouterr().out
