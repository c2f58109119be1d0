"""A stop that comes right after a reload changing a wedged output ends ~8.4 s after `shutdown_timeout`,
past the documented `shutdown_timeout` + 5 s, when another source is held by another wedged output.

docs/operations.md ("Stopping"): "the whole stop ends within `shutdown_timeout` + 5 s (the unit allows 90 s),
however many outputs are wedged". Found by attack23 (session 17), from the docs alone: source b ships to a
Fluentd that reads nothing (frozen), source c to one that stores and delays its acks by a minute; a SIGHUP
renames b's output and a SIGTERM follows 0.3 s later. With `shutdown_timeout: 4` the stop took 12.4-12.5 s
(deadline 9 s), 5 of 5 runs (with a third source on an Elasticsearch answering 429 too); with 6: 14.2-14.6 s;
with 10: 18.3 s (a constant ~8.4 s beyond shutdown_timeout); without source c, 5.3 s; without the SIGHUP,
7.4 s. The journal shows the reload waiting out its drain for b (`in-flight batches not delivered in time`,
`reload: source not started: the agent stops`), then the stop's `shutdown timeout` for c.
Cause: the reload, the stop signal already come, still closed the output it renamed with OUTPUT_CLOSE_TIMEOUT
(5 s for a frozen one) before the stop began. Fixed: with a stop requested the reload does not wait for the
outputs it closes (shipper.reload_apply); 12.6 s before, within the bound after (1 of 1 each, load ~25).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.peers.forward_server import ForwardServer

SHIPPER = str(Path(sys.executable).with_name("shipper"))
SHUTDOWN_TIMEOUT = 4.0


def _config(path: Path, tmp: Path, frozen: ForwardServer, slow: ForwardServer, frozen_name: str) -> None:
    sources = [{"name": n, "type": "file", "paths": [str(tmp / f"{n}.log")], "parser": "json",
                "batch_size": 100, "tag": f"audit.{n}"} for n in ("b", "c")]
    outputs = [{"type": "fluentd", "name": frozen_name, "host": "127.0.0.1", "port": frozen.port,
                "match": "audit.b", "ack_timeout": 120, "timeout": 120},
               {"type": "fluentd", "name": "slow", "host": "127.0.0.1", "port": slow.port,
                "match": "audit.c", "ack_timeout": 120}]
    cfg = {"state_dir": str(tmp / "state"), "shutdown_timeout": SHUTDOWN_TIMEOUT, "sources": sources,
           "outputs": outputs}
    t = path.with_suffix(".tmp")
    t.write_text(json.dumps(cfg))  # JSON is YAML
    os.replace(t, path)


def _wait(cond, timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


@pytest.mark.slow
def test_stop_right_after_a_reload_ends_within_the_deadline(tmp_path: Path) -> None:
    for n in ("b", "c"):
        with (tmp_path / f"{n}.log").open("w") as f:
            for i in range(30000):
                f.write(json.dumps({"seq": i, "@timestamp": "2026-12-06T07:00:00Z", "message": "x" * 200}) + "\n")
    frozen = ForwardServer().start()
    frozen.frozen.set()  # reads nothing, as a SIGSTOPped Fluentd
    slow = ForwardServer(mode="delay_ack", ack_delay=60).start()  # stores, acks a minute later
    cfg, err = tmp_path / "shipper.yaml", tmp_path / "agent.err"
    _config(cfg, tmp_path, frozen, slow, "frozen")
    journal = lambda: err.read_text(errors="replace")  # noqa: E731
    with err.open("wb") as e:
        proc = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=e)
    try:
        # both outputs hold batches: the frozen one connected, the slow one stored a chunk
        assert _wait(lambda: "msg=started" in journal() and frozen.connections >= 1 and slow.records), journal()
        time.sleep(1)
        _config(cfg, tmp_path, frozen, slow, "frozen_renamed")
        since = len(journal())
        proc.send_signal(signal.SIGHUP)
        assert _wait(lambda: "msg=reloading" in journal()[since:]), journal()
        time.sleep(0.3)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        frozen.frozen.clear()
        frozen.stop()
        slow.stop()
    # 1 s of grace beyond the documented bound, for a loaded host's process exit
    assert took <= SHUTDOWN_TIMEOUT + 5 + 1, f"the stop took {took:.1f}s:\n{journal()}"
