"""Issue 23: a stop whose shutdown_timeout ran out while a source had not returned said of every such source
"blocked in a call the stop cannot wake", though the agent itself held it: waiting for room in a down output's
queue (backpressure, an ordinary state), or for the integrity chain's lock held by an attestation waiting for its
acknowledgement. The stop now names what the source waited for; "cannot wake" stays for a source's own call
(tests/core/test_source_stop_and_give_up.py). A real pipeline, a real file, Fluentd down (a socket nobody
listens on: every connect refused)."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from shipper.config import load_config
from shipper.pipeline import Pipeline
from tests.peers.forward_server import ForwardServer
from tests.support import wait

KEY = "an integrity key of some length, 0123456789abcdef"


def lines(path: Path, n: int) -> None:
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"@timestamp": "2026-01-02T03:04:05Z", "message": f"m{i}", "n": i}) + "\n")


def pipeline_to_down_fluentd(tmp_path: Path, source: str, top: str = "", n: int = 2000) -> Pipeline:
    lines(tmp_path / "audit.log", n)
    (tmp_path / "shipper.yaml").write_text(f"""
state_dir: {tmp_path / 'state'}
shutdown_timeout: 1
{top}
sources:
  - {{name: app, type: file, paths: ['{tmp_path / 'audit.log'}'], parser: json, batch_size: 10, {source}}}
outputs:
  - {{type: fluentd, socket: '{tmp_path / 'fluentd.sock'}', max_in_flight_batches: 2, backoff_base: 0.05,
     backoff_max: 0.3}}
""")
    return Pipeline(load_config(str(tmp_path / "shipper.yaml")))


def stop_said(pipeline: Pipeline, caplog) -> list[logging.LogRecord]:
    """What the stop said of source app's run()."""
    with caplog.at_level(logging.INFO, logger="shipper.pipeline"):
        assert not pipeline.stop(1.0)  # (undelivered: the output is down)
    return [r for r in caplog.records if getattr(r, "source", None) == "app" and "shutdown_timeout" in r.getMessage()]


@pytest.mark.parametrize("workers", [0, 1], ids=["in-thread", "parse-workers"])
def test_a_source_waiting_for_room_in_a_down_outputs_queue_is_said_to(tmp_path, caplog, workers):
    pipeline = pipeline_to_down_fluentd(tmp_path, f"parse_workers: {workers}")
    pipeline.start()
    runner = pipeline.runners["app"]
    # Its queue full (2 batches), the source waits for room in it (through its parse workers' queue, which fills too:
    # waited for in the source's thread itself, else the stop may come while it still reads and submits, and find it
    # in the wait that follows its run(): test_a_source_returned_waiting_for_its_parse_workers_is_said_to)
    assert wait(lambda: pipeline.workers["fluentd"].pending() == 2 and runner.tracker.in_flight() >= 2 + workers, 60)
    assert wait(lambda: (runner.waits.of(runner.thread) or "").startswith("room in "), 60)
    said = stop_said(pipeline, caplog)
    assert len(said) == 1, [r.getMessage() for r in caplog.records]
    message = said[0].getMessage()
    assert "cannot wake" not in message, message
    assert "waiting for room in " in message and "room in output fluentd's queue" in message, message
    assert "read again at the next start" in message, message


def test_a_source_returned_waiting_for_its_parse_workers_is_said_to(tmp_path, caplog):
    """A source whose run() returned at the stop (it had read everything: 5 batches, 2 in the output's queue, 1 held
    by the parse workers' collector waiting for room there, 2 behind it in their queue: the source never waited to
    submit) then waits in its thread for its parse workers to hand on what it read. That wait, not "its own code",
    is what the stop names (it said "returned only after shutdown_timeout … still running its own code": issue 13,
    the [parse-workers] case above when the stop came before the source waited to submit)."""
    pipeline = pipeline_to_down_fluentd(tmp_path, "parse_workers: 1", n=50)
    pipeline.start()
    runner = pipeline.runners["app"]
    assert wait(lambda: pipeline.workers["fluentd"].pending() == 2 and runner.tracker.in_flight() == 3
                and runner.pool is not None and runner.pool.in_queue() == 3, 60)
    said = stop_said(pipeline, caplog)
    assert len(said) == 1, [r.getMessage() for r in caplog.records]
    message = said[0].getMessage()
    assert "cannot wake" not in message and "its own code" not in message, message
    assert "waiting for its parse workers to hand on" in message and "room in output fluentd's queue" in message, \
        message
    assert "read again at the next start" in message, message


def test_a_source_in_an_attestation_waiting_for_a_down_output_is_said_to(tmp_path, caplog):
    (tmp_path / "key").write_text(KEY + "\n")
    (tmp_path / "key").chmod(0o600)
    pipeline = pipeline_to_down_fluentd(tmp_path, "parse_workers: 0", "integrity: {key_file: key}")
    pipeline.start()
    runner = pipeline.runners["app"]
    # The first start's attestation, in the source's thread, waits for its acknowledgement
    assert wait(lambda: runner.chain is not None and runner.chain.seq >= 1 and runner.tracker.in_flight() >= 1, 60)
    said = stop_said(pipeline, caplog)
    assert len(said) == 1, [r.getMessage() for r in caplog.records]
    message = said[0].getMessage()
    assert "cannot wake" not in message, message
    assert "attestation" in message and "acknowledg" in message, message


def test_a_source_behind_the_chains_lock_held_by_a_waiting_attestation_is_said_to(tmp_path, caplog):
    """Fluentd stops after the start: the next periodic attestation, appended from the attestation thread while
    nothing was in flight, waits for its acknowledgement holding the chain's lock, and the source, with new lines
    to seal, waits for that lock."""
    (tmp_path / "key").write_text(KEY + "\n")
    (tmp_path / "key").chmod(0o600)
    peer = ForwardServer(unix_path=str(tmp_path / "fluentd.sock"), mode="unix").start()
    try:
        pipeline = pipeline_to_down_fluentd(tmp_path, "parse_workers: 0", "integrity: {key_file: key, attest_interval: 1}")
        pipeline.start()
        runner = pipeline.runners["app"]
        assert wait(lambda: len(peer.records) >= 2001 and runner.tracker.in_flight() == 0, 120)
    finally:
        peer.stop()
    seq = runner.chain.seq if runner.chain is not None else 0
    assert wait(lambda: runner.chain is not None and runner.chain.seq > seq and runner.tracker.in_flight() >= 1, 60)
    with open(tmp_path / "audit.log", "a") as f:
        f.write(json.dumps({"@timestamp": "2026-01-02T03:04:05Z", "message": "late", "n": 2000}) + "\n")
    assert wait(lambda: "chain's lock" in (runner.waits.of(runner.thread) or ""), 60)
    said = stop_said(pipeline, caplog)
    assert len(said) == 1, [r.getMessage() for r in caplog.records]
    message = said[0].getMessage()
    assert "cannot wake" not in message, message
    assert "waiting for the integrity chain's lock" in message and "attestation" in message, message
