"""Attack 28 (exam28): a second signal with two outputs, one of which has stored the batch. stdout (a file) has written
the 100 events; Fluentd's chunk of them waits for its ack (a slow in_forward). A stop notes what each output stored
(`_delivered_to:<output>`, docs/operations.md "stop": the re-read skips them for it); the second SIGTERM exits at
once naming Fluentd's chunk alone (`output fluentd: the agent exits while a chunk of 100 events … (a possible
repeat)`), and the next start writes the 100 events to stdout again: a certain repeat at the output that had them,
named nowhere. 2 of 2 by hand. What should hold: a second signal names (or notes) what the outputs that completed the
batch already hold, as it names the chunk waiting for its ack."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.journal_sinks import SHIPPER, numbered
from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, stop_twice, wait_until

pytestmark = pytest.mark.slow  # (a late ack, two agents)


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n")


def test_a_second_signal_names_the_batch_another_output_already_stored(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text(numbered(0, 100))
    peer = ForwardServer(mode="no_ack").start()  # stores, never answers: the ack is late
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state"), "shutdown_timeout": 20,
                               "sources": [{"name": "app", "type": "file", "paths": [str(logs / "*.log")],
                                            "parser": "json", "poll_interval": 0.2}],
                               "outputs": [{"type": "fluentd", "host": "127.0.0.1", "port": peer.port,
                                            "flush_interval": 0.2}, {"type": "stdout"}]}))
    out, err, again = tmp_path / "out.jsonl", tmp_path / "first.err", tmp_path / "again.jsonl"
    try:
        with open(out, "wb") as o, open(err, "wb") as e:
            agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=o, stderr=e)
        try:
            wait_until(lambda: _lines(out) >= 100 and len(peer.records) >= 100, 60, "both outputs holding the batch")
            time.sleep(0.5)
            stop_twice(agent)  # the operator does not wait
        finally:
            if agent.poll() is None:
                stop_process(agent, 30)
        peer.mode = "ack"
        with open(again, "wb") as o:
            done = subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], stdout=o, stderr=subprocess.PIPE,
                                  timeout=120)
        assert done.returncode == 0, done.stderr.decode()[-800:]
    finally:
        peer.stop()
    journal = err.read_text()
    named_for_stdout = [ln for ln in journal.splitlines() if "stdout" in ln and "repeat" in ln]
    assert _lines(again) == 0 or named_for_stdout, (
        f"stdout got {_lines(again)} lines again, named nowhere: "
        + "\n".join(ln[:300] for ln in journal.splitlines() if "level=info" not in ln))
