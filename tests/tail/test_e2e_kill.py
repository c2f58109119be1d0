"""The check the issue names: a real Log4j 1.2 writer rotating fast; `shipper run` (stdout output
to a file, state_dir in tmp) killed and restarted repeatedly while it runs, and stopped across
several rotations. Every sequence number must arrive, and any duplicate must be honest.

- SIGKILL runs: the nothing-lost assertion. A kill between an output's write and the checkpoint
  commit legitimately replays the batches in flight, so a sequence number seen in a SIGKILLed
  run may appear again, only in the next run, and at most as many as can be in flight.
- SIGTERM runs: the exactly-once assertion. A run stopped by SIGTERM drains and commits what it
  wrote: nothing it wrote may appear again in any later run.

Deterministic under load: each run has its own writer segment, started once the run has scanned
(its /status lists the files) and delivered everything written before, and finished before the
next run starts; so what may rotate away unread is at most one segment (fewer rotations than
MaxBackupIndex), however slowly a loaded machine runs Python, the parse workers or the JVM.
"""
from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.support import free_port

pytestmark = pytest.mark.slow

LINES = 20000
SEGMENTS = 5  # one Log4j writer process per run of shipper, each writing LINES / SEGMENTS
RATE = 2000  # lines/s, ~22 bytes each: a 16 KB file rotates every ~0.4 s
BATCH = 200
IN_FLIGHT = 4


def start_shipper(cfg, out_path, once=False):
    out = open(out_path, "wb")
    cmd = [sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)] + (["--once"] if once else [])
    return subprocess.Popen(cmd, stdout=out, stderr=open(str(out_path) + ".err", "wb")), out


def wait_scanned(port: int, proc, timeout: float = 180.0) -> None:
    """Until the running agent's file source has looked at the files (its /status lists them)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "shipper ended"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as resp:
                live = json.loads(resp.read())
            if ((live.get("sources", {}).get("app", {}).get("status") or {}).get("files")):
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    raise AssertionError("shipper did not scan in time")


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
    port = free_port()
    (logs / "app.log").touch()  # so that the first run's scan finds the family before the writer starts
    cfg.write_text(f"""
state_dir: {tmp_path}/state
http: {{listen: "127.0.0.1:{port}"}}
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
    for i in range(SEGMENTS):
        out_path = tmp_path / f"out{i}.jsonl"
        proc, fh = start_shipper(cfg, out_path)
        # The first look at a path skips rotated history that predates it, so shipper has
        # scanned before this segment's writer starts.
        wait_scanned(port, proc)
        per = LINES // SEGMENTS
        # Caught up with everything written so far before the next segment starts: what can
        # rotate away unread is then one segment, whatever the load.
        deadline = time.monotonic() + 180
        done = [str(p) for p, _ in runs] + [str(out_path)]
        while set(range(i * per)) - {s for p in done for s in seqs_of(p)}:
            assert time.monotonic() < deadline and proc.poll() is None, "shipper did not catch up"
            time.sleep(0.1)
        writer = log4j.log4j1(logs / "app.log", 16000, 8, i * per, per, rate=RATE, wait=False)
        time.sleep(rng.uniform(0.5, 1.5))
        how = "kill" if i % 2 == 0 else "term"
        proc.send_signal(signal.SIGKILL if how == "kill" else signal.SIGTERM)
        assert proc.wait(60) in (0, -9, 1), (out_path.with_suffix(".jsonl.err")).read_text()
        fh.close()
        runs.append((str(out_path), how))
        # Stopped across rotations: the rest of the segment is written while shipper is down
        # (at most per / ~700 lines a file = 5 rotations, fewer than MaxBackupIndex 8, however
        # slowly a loaded machine runs either process).
        assert writer.wait(120) == 0
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
