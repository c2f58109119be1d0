"""Black-box attack 30 (exam30a, the parse workers): a record whose parse never returns and keeps its worker busy (a
plugin parser's regular expression backtracking without end on one hostile line — ReDoS —, a loop on a value it
did not expect). docs/operations.md names a worker that "returned nothing and used no CPU for 20 s" (stopped),
kills and replaces it; a worker that died parsing a record twice has that record shipped unparsed, flagged and
named (session 30's fix of test_attack30_record_that_kills_workers_kills_the_agent.py). Issue 13: nothing hangs.

Found (by hand, 2 of 2, `parse_workers: 2`, the record after 100,000 lines, the daemon): the worker spins at full
CPU, the source ships nothing more (100,000 of 109,999 lines, still so 45 s and 90 s later, with the default stall
seconds and with 5), `/health` answers 200 `"status":"ok"` (the output is idle, nothing queued) and the journal has
no line after `http endpoint listening`: a silent, permanent stall of the source, which every restart meets again
at the same record. A SIGTERM stops it in time."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support import free_port, stop_process, wait

SHIPPER = os.path.join(os.path.dirname(sys.executable), "shipper")
REPO = Path(__file__).resolve().parents[2]

PARSER = """
from shipper.api import Parser, base_event

class SpinningParser(Parser):
    module = "spinning"
    dataset = "spinning.audit"

    def parse(self, raw: bytes):
        if raw == b"HOSTILE":
            while True:  # a backtracking regular expression stands for this
                pass
        ev = base_event(self.module, self.dataset, "line")
        ev["message"] = raw.decode()
        return [ev]
"""
BEFORE = 100_000  # the workers are up by then (the first batches may be parsed while they start)
AFTER = 5_000


def installed(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    info = site / "spinning_parser-1.0.dist-info"
    info.mkdir(parents=True)
    (site / "spinning_parser.py").write_text(PARSER)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: spinning-parser\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[shipper.parsers]\nspinning = spinning_parser:SpinningParser\n")
    return {**os.environ, "PYTHONPATH": f"{site}:{REPO}", "SHIPPER_PARSE_STALL_SECONDS": "5"}


def health(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as r:
            return r.read().decode()
    except urllib.error.HTTPError as e:
        return e.read().decode()
    except OSError:
        return ""


def test_a_record_whose_parse_never_returns_is_named_and_the_source_goes_on(tmp_path):
    env = installed(tmp_path)
    log = tmp_path / "app.log"
    with open(log, "w") as f:
        f.write("".join(f"line {i}\n" for i in range(BEFORE)) + "HOSTILE\n"
                + "".join(f"line {i}\n" for i in range(BEFORE, BEFORE + AFTER)))
    port = free_port()
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state"), "shutdown_timeout": 5,
                               "http": {"listen": f"127.0.0.1:{port}"},
                               "sources": [{"name": "app", "type": "file", "paths": [str(log)],
                                            "parser": "spinning", "parse_workers": 2}],
                               "outputs": [{"type": "stdout"}]}))
    out, err = tmp_path / "out.jsonl", tmp_path / "err.txt"
    with open(out, "wb") as o, open(err, "wb") as e:
        agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=o, stderr=e, env=env)
    try:
        def shipped() -> int:
            return out.read_bytes().count(b'"message":"line ')

        assert wait(lambda: shipped() >= BEFORE, 120, every=0.5), f"{shipped()} lines shipped before the record"
        # Two kills at SHIPPER_PARSE_STALL_SECONDS of the worker's CPU each (the batch, then the record): ~50 s of
        # wall time at load 15, where the spinning worker gets a sixth of a core.
        went_on = wait(lambda: shipped() >= BEFORE + AFTER, 180, every=0.5)
        said = err.read_text(errors="replace")
        status = health(port)
        named = [ln for ln in said.splitlines() if "level=warning" in ln or "level=error" in ln]
        assert went_on or named or '"status":"ok"' not in status, (
            f"{shipped()} of {BEFORE + AFTER} lines shipped 180 s after the record, /health {status[:200]}, "
            f"the journal: {said[-600:]}")
        assert went_on, f"{shipped()} of {BEFORE + AFTER} lines shipped 180 s after the record; {said[-600:]}"
        assert "shipped unparsed" in said and "HOSTILE" in out.read_text(errors="replace"), said[-800:]
    finally:
        stop_process(agent, 30)
        time.sleep(0.5)
