"""Issue 23: memory that stays flat. What a reload lets go is freed, although the runner makes the
cyclic garbage collector so rare (shipper.runner) that it would otherwise never come. Counted, not
timed: the runners a reload replaced are looked for by weak reference."""
from __future__ import annotations

import gc
import time
import weakref

import orjson

from shipper.config import load_config
from shipper.pipeline import Pipeline
from shipper.reload import reload
from tests.peers.forward_server import ForwardServer
from tests.support import wait


def _config(tmp_path, port: int, tag: str) -> str:
    return f"""state_dir: {tmp_path / 'state'}
sources:
  - {{name: a, type: file, paths: ['{tmp_path / 'a.log'}'], parser: json, tags: [{tag}]}}
outputs:
  - {{type: fluentd, port: {port}, flush_interval: 0.05}}
"""


def test_the_runners_a_reload_replaced_are_freed(tmp_path):
    """Five reloads that each restart the one source (its tags change), with lines read before
    each. A stopped runner, its tailer, threads and watcher are reference cycles: with cyclic
    collections as rare as the runner makes them (here none at all), every one stayed in memory
    (the soak: ~0.3 MiB more per reload). After each reload's next tick none is left."""
    log = tmp_path / "a.log"
    path = tmp_path / "shipper.yaml"
    peer = ForwardServer().start()
    path.write_text(_config(tmp_path, peer.port, "t0"))
    pipeline = Pipeline(load_config(str(path)))
    gc.disable()  # the runner's thresholds (100,000/50/1000) make a full collection this rare
    replaced: list[weakref.ref] = []
    pipeline.start()
    try:
        for i in range(5):
            with open(log, "ab") as f:
                f.write(orjson.dumps({"@timestamp": "2024-05-01T12:00:00Z", "n": i}) + b"\n")
            assert wait(lambda: len(peer.records) == i + 1, 60), len(peer.records)
            assert pipeline.runners["a"].tracker.wait_idle(60)  # checkpointed: the reload restarts it at once
            replaced.append(weakref.ref(pipeline.runners["a"]))
            path.write_text(_config(tmp_path, peer.port, f"t{i + 1}"))
            result = reload(pipeline, str(path))
            assert result.ok and result.plan is not None and result.plan.sources_restarted == ["a"], result.message
            pipeline.tick(time.monotonic())
            assert pipeline.runners["a"] is not replaced[-1]()
        # (a commit the source's committer thread was making as the reload began holds the last one until it
        # returns: a moment; a runner kept for good fails here after 10 s)
        assert wait(lambda: [r() for r in replaced] == [None] * 5, 10), [r() for r in replaced]
        assert sorted(r[2]["generic"]["n"] for r in peer.records) == list(range(5))  # each line once
    finally:
        gc.enable()
        pipeline.stop(10)
        peer.stop()

