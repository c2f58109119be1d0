"""Issue 13 (unread13, session 20): a stop with the only output down saves the files it holds unread (rotated while
the reader was held back) at their start, so that the next start knows them. The checkpoint writer keeps a reserve
(checkpoint_db.RESERVE, 1 MiB) that a stop gives up for its own saves only when the writer finds the filesystem full
(under 64 KiB free). A state_dir left with more than that, but less than those saves need, refused them for want of
space with the reserve kept: the stop said it could not save them ("cannot save the state of what this run first read
and did not deliver"), and the next start knew nothing of those files.

Here 200 files rotated away (by unique names, as dateext does) while the reader waits on the first: the holder holds
them, and the stop's save of their states needs some 200 KiB of the WAL's new pages, with 100 KiB left. A real tmpfs
filled with a real file, a real agent, a Fluentd peer kept down; the rotated files are deleted while the agent is
stopped, and the next start must name every byte of them. Fixed: a stop's save refused for want of space while the
reserve is kept gives the reserve up and is tried once more (Pipeline.save_at_stop)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.fs_faults import fill, small_tmpfs
from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait_until

pytestmark = pytest.mark.slow

SHIPPER = str(Path(sys.executable).with_name("shipper"))
FIRST = 5000  # lines of the first file: more batches than the output's queue and those in flight take
ROTATED = 200  # files rotated away while the reader waits
PER = 20  # lines of each


def _write(path: Path, lo: int, hi: int) -> None:
    with path.open("a") as f:
        f.write("".join(json.dumps({"seq": n, "msg": "x" * 20}) + "\n" for n in range(lo, hi)))


def _held_files(http: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{http}/status", timeout=30) as r:
        return json.loads(r.read())["sources"]["app"]["status"]["held_files"]


def test_a_stop_whose_saves_need_more_than_the_room_left_saves_them(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    app = logs / "app.log"
    server = ForwardServer()
    server.start()
    server.stop()  # down: connections refused
    http = ForwardServer().start()  # (only for a free port)
    port = http.port
    http.stop()
    cfg, err = tmp_path / "shipper.yaml", tmp_path / "agent.err"
    with small_tmpfs(tmp_path / "state", 8 * 1024) as state:
        cfg.write_text(json.dumps({  # (JSON is YAML)
            "state_dir": str(state), "shutdown_timeout": 3, "http": {"listen": f"127.0.0.1:{port}"},
            "sources": [{"name": "app", "type": "file", "paths": [str(app)], "parser": "json",
                         "read_from": "beginning", "batch_size": 100,
                         "hold_max_files": 2 * ROTATED}],  # (the default, 256, keeps 64 for rotated names)
            "outputs": [{"type": "fluentd", "name": "fwd", "host": "127.0.0.1", "port": server.port}]}))
        _write(app, 0, FIRST)
        with err.open("ab") as e:
            proc = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=e)
        try:
            wait_until(lambda: "fluentd delivery failed" in err.read_text(), 60, "the first delivery to fail")
            seq = FIRST
            for i in range(1, ROTATED + 1):
                os.rename(app, logs / f"app.log.{i}")
                _write(app, seq, seq + PER)
                seq += PER
            deadline = time.monotonic() + 60
            while (held := _held_files(port)) < ROTATED:
                assert time.monotonic() < deadline, f"the holder holds {held} of the {ROTATED} rotated files"
                time.sleep(0.2)
            filler = fill(state, 100 * 1024)
            code = stop_process(proc, 60)
            filler.unlink()
            for i in range(1, ROTATED + 1):  # deleted while the agent is stopped: the next start must name them
                os.unlink(logs / f"app.log.{i}")
            server.start()
            with err.open("ab") as e:
                proc = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=e)
            wait_until(lambda: {r["generic"]["seq"] for _, _, r in list(server.records)} >= set(range(seq - PER, seq)),
                       60, "the live file's lines")
            stop_process(proc, 60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            server.stop()
    journal = err.read_text()
    assert code == 1, journal  # batches undelivered
    assert "cannot save the state of what this run first read" not in journal, journal
    got = {r["generic"]["seq"] for _, _, r in server.records}
    lost = sum(len(json.dumps({"seq": n, "msg": "x" * 20}) + "\n") for n in range(seq) if n not in got)
    named = sum(int(m) for m in re.findall(r"bytes_lost=(\d+)", journal))
    assert lost and named == lost, f"{lost} bytes lost, {named} named:\n{journal}"
