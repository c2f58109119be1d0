"""The check the issue names: a real Log4j 1.2 writer rotating fast; `shipper run` (stdout output
to a file, state_dir in tmp) killed and restarted repeatedly while it runs, and stopped across
several rotations. Every sequence number must arrive, and any duplicate must be honest.

- SIGKILL runs: the nothing-lost assertion. A kill between an output's write and the checkpoint
  commit legitimately replays the batches in flight, so a sequence number seen in a SIGKILLed
  run may appear again, only in the next run, and at most as many as can be in flight.
- SIGTERM runs: the exactly-once assertion. A run stopped by SIGTERM drains and commits what it
  wrote: nothing it wrote may appear again in any later run.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow

LINES = 14000
RATE = 2000  # lines/s, ~22 bytes each: a 16 KB file rotates every ~0.4 s
BATCH = 200
IN_FLIGHT = 4


def start_shipper(cfg, out_path, once=False):
    out = open(out_path, "wb")
    cmd = [sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)] + (["--once"] if once else [])
    return subprocess.Popen(cmd, stdout=out, stderr=open(str(out_path) + ".err", "wb")), out


def seqs_of(path) -> list[int]:
    out = []
    with open(path, "rb") as f:
        for line in f:
            if line.endswith(b"\n"):
                out.append(json.loads(line)["generic"]["seq"])
    return out


def test_kill_and_restart_while_log4j_rotates(tmp_path, log4j):
    logs = tmp_path / "logs"
    logs.mkdir()
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path}/state
shutdown_timeout: 20
sources:
  - name: app
    type: file
    paths: [{logs}/app.log]
    parser: json
    poll_interval: 0.2
    batch_size: {BATCH}
outputs:
  - type: stdout
    max_in_flight_batches: {IN_FLIGHT}
""")
    rng = random.Random(7)
    runs: list[tuple[str, str]] = []  # (output file, how it ended)
    writer = None
    i = 0
    while writer is None or writer.poll() is None:
        out_path = tmp_path / f"out{i}.jsonl"
        proc, fh = start_shipper(cfg, out_path)
        if writer is None:
            # The first look at a path skips rotated history that predates it, so shipper is
            # up (and watching the missing path) before the writer starts.
            time.sleep(1.5)
            writer = log4j.log4j1(logs / "app.log", 16000, 8, 0, LINES, rate=RATE, wait=False)
        time.sleep(rng.uniform(1.0, 2.0))
        how = "kill" if i % 2 == 0 else "term"
        proc.send_signal(signal.SIGKILL if how == "kill" else signal.SIGTERM)
        assert proc.wait(60) in (0, -9, 1), (out_path.with_suffix(".jsonl.err")).read_text()
        fh.close()
        runs.append((str(out_path), how))
        i += 1
        # stopped across rotations: up to ~1 s = 2-3 rotations, fewer than MaxBackupIndex 8
        time.sleep(rng.uniform(0.1, 1.0))
    assert writer.returncode == 0
    out_path = tmp_path / "final.jsonl"
    proc, fh = start_shipper(cfg, out_path, once=True)
    assert proc.wait(120) == 0, open(str(out_path) + ".err").read()
    fh.close()
    runs.append((str(out_path), "final"))
    assert len(runs) >= 5

    first_run: dict[int, int] = {}
    replays = 0
    for r, (path, _) in enumerate(runs):
        seqs = seqs_of(path)
        assert len(seqs) == len(set(seqs)), f"duplicates within one run {path}"
        for s in seqs:
            if s in first_run:
                prev = first_run[s]
                assert runs[prev][1] == "kill" and prev == r - 1, (
                    f"seq {s} written by run {prev} ({runs[prev][1]}) came again in run {r}")
                replays += 1
            else:
                first_run[s] = r
    missing = sorted(set(range(LINES)) - set(first_run))
    assert not missing, f"{len(missing)} lost, e.g. {missing[:10]}"
    kills = sum(1 for _, how in runs if how == "kill")
    assert replays <= kills * BATCH * (IN_FLIGHT + 1)
    errs = "".join(open(p + ".err").read() for p, _ in runs)
    assert "data lost" not in errs
