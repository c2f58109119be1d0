"""A file only the holder of rotated files held while the reader was held back, the agent killed (kill -9: no stop
names it), the file deleted before the next start: named lost at that start, with its bytes. Real `shipper run`, real
files, a real kill: the reader is held back by its output (stdout into a pipe nobody reads, full), the holder holds a
backup moved in meanwhile, and the source's saver notes its entry in the checkpoint through the checkpoint writer
(shipper/tail/held_record.py: HeldSaver, SourceContext.note), which the agent's snapshot shows before the kill.
Without the saver the next start knew nothing of the file: nothing was named (session 23's journal did this from the
agent's own threads, and hung the stop on a frozen state_dir)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support import free_port, stop_process, wait

pytestmark = pytest.mark.slow


def line(i: int) -> bytes:
    return json.dumps({"seq": i, "pad": "x" * 200}).encode() + b"\n"


def test_a_held_backup_noted_before_a_kill_is_named_at_the_next_start(tmp_path):
    logs, outside, state = tmp_path / "logs", tmp_path / "outside", tmp_path / "state"
    logs.mkdir()
    outside.mkdir()
    live = logs / "app.log"
    # 300 batches of ~2.6 KB of events: the pipe (64 KiB) and the batches in flight fill long before they are read
    live.write_bytes(b"".join(line(i) for i in range(3000)))
    port = free_port()
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {state}
http: {{listen: "127.0.0.1:{port}"}}
sources:
  - {{name: app, type: file, paths: ['{live}'], parser: json, tag: app, batch_size: 10}}
outputs:
  - {{type: stdout}}
""")
    err1 = open(tmp_path / "run1.err", "wb")
    first = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)], stdout=subprocess.PIPE,
                             stderr=err1)  # (its stdout never read: the output blocks, the reader with it)
    second = None
    try:
        snapshot = state / "checkpoints.snapshot.json"
        assert wait(lambda: snapshot.exists() and "seen:" in snapshot.read_text(errors="replace"), timeout=120), \
            "the first run never looked at its files"
        backup = outside / "app.log.1"
        backup.write_bytes(b"".join(line(i) for i in range(5000, 5040)))
        size = backup.stat().st_size
        os.rename(backup, logs / "app.log.1")  # (moved in: a name of the family, never seen by the reader)

        def noted() -> bool:
            try:
                rows = json.loads(snapshot.read_text())["rows"]
            except (OSError, ValueError):
                return False
            return any(k.startswith("held:") and v.get("path") == str(logs / "app.log.1") for _, k, v, _ in rows)

        assert wait(noted, timeout=120), "the held backup's entry never reached the checkpoint"
        first.kill()
        first.wait(60)
        os.unlink(logs / "app.log.1")  # (a cleaner, while the agent is down)
        out2 = open(tmp_path / "run2.out", "wb")
        err2 = tmp_path / "run2.err"
        second = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)], stdout=out2,
                                  stderr=open(err2, "wb"))

        def named() -> str | None:
            for text in err2.read_text(errors="replace").splitlines():
                if "held open, unread, when it ended without a stop" in text and text.find("data lost") >= 0:
                    return text
            return None

        assert wait(lambda: named() is not None, timeout=120), err2.read_text(errors="replace")[-3000:]
        message = named() or ""
        assert f"bytes_lost={size}" in message or f"data lost: {size} bytes or more" in message, message
        assert "app.log.1" in message, message
    finally:
        for p in (first, second):
            if p is not None and p.poll() is None:
                stop_process(p, 60)
        err1.close()
