"""Issue 13 (session 22, hold13): a stop with an output down saves the states of the files the run first read and did
not deliver (SourceRunner.save_unsaved_state), so that the next start reads them again or names their bytes lost if
they are deleted meanwhile. Not while the source's thread still runs (its state moves): and then it said nothing of
them, so a stop whose source was stuck in a read (a hung disk, an NFS server gone) left the next start knowing
nothing of a file that appeared during the run, and that file, deleted before the next start, went without a word.
The stop now names each file it could not save, with its bytes.

A real pipeline, real files, inotify, Fluentd down (a socket nobody listens on). The stuck read is a hook: the file
source's read of its files blocks (once b.log was read) until the stop is over, as a read on a hung mount blocks (no
such mount is to be had here). The pipeline runs in a process of its own: a source thread left stuck past a stop
made the next in-process pipeline test of the same pytest process time its stop wrong
(test_stop_names_what_a_source_waited_for.py [parse-workers], 1 run in 5)."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from pathlib import Path

from shipper.config import load_config
from shipper.pipeline import Pipeline
from tests.support import wait

ROOT = Path(__file__).resolve().parents[2]


def lines(path: Path, n: int) -> int:
    text = "".join(json.dumps({"@timestamp": "2026-01-02T03:04:05Z", "message": f"m{i}", "n": i}) + "\n"
                   for i in range(n))
    path.write_text(text)
    return len(text)


def stop_with_a_read_stuck(tmp: Path) -> None:
    """The scenario, in this process: the stop's warnings printed, one JSON string a line."""
    logs = tmp / "logs"
    logs.mkdir()
    lines(logs / "a.log", 50)
    (tmp / "shipper.yaml").write_text(f"""
state_dir: {tmp / 'state'}
shutdown_timeout: 1
sources:
  - {{name: app, type: file, paths: ['{logs}/*.log'], parser: json, batch_size: 10, parse_workers: 0}}
outputs:
  - {{type: fluentd, socket: '{tmp / 'fluentd.sock'}', backoff_base: 0.05, backoff_max: 0.3}}
""")
    said: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: said.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("shipper").addHandler(handler)
    pipeline = Pipeline(load_config(str(tmp / "shipper.yaml")))
    runner = pipeline.runners["app"]
    source = runner.source
    stuck, let_go = threading.Event(), threading.Event()
    read_all = source.tailer.read_all

    def read_then_hang(emit, stop):  # (the hook: a read that blocks once b.log was read, as on a hung mount)
        got = read_all(emit, stop)
        if any(f.path.endswith("b.log") and f.state is not None for f in source.tailer.files.values()):
            stuck.set()
            let_go.wait(60)
        return got

    source.tailer.read_all = read_then_hang
    pipeline.start()
    try:
        assert wait(lambda: runner.tracker.in_flight() >= 1, 60)  # a.log read, its lines undelivered
        lines(logs / "b.log", 30)  # a file that appears during the run: its state saved by no batch
        assert wait(stuck.is_set, 60)
        said.clear()
        assert not pipeline.stop(1.0)  # (undelivered: the output is down)
    finally:
        let_go.set()
        runner.thread.join(30)
    for message in said:
        print(json.dumps(message))


def test_a_stop_names_what_a_source_still_reading_could_not_save(tmp_path):
    run = subprocess.run([sys.executable, "-m", "tests.core.test_stop_names_unsaved_of_a_source_not_returned",
                          str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    said = [m for m in map(json.loads, run.stdout.splitlines()) if "did not deliver" in m]
    assert len(said) == 1, run.stdout
    size_b = (tmp_path / "logs" / "b.log").stat().st_size
    assert f"{tmp_path / 'logs' / 'b.log'} ({size_b} bytes from offset 0)" in said[0], said[0]


if __name__ == "__main__":
    stop_with_a_read_stuck(Path(sys.argv[1]))
