"""`run --once` waits for its sources' end on their `finished` events (Pipeline.wait_finished), woken by the last
one: it slept 50 ms between looks, ~25 ms of every run's wall time (bench/README.md, session 16). What is tested
here is what the wait answers: not while one source still runs, and yes once it has finished, without a stop."""
from __future__ import annotations

from pathlib import Path

from shipper.config import parse_config
from shipper.pipeline import Pipeline
from tests.core.test_source_stop_and_give_up import ENTERED, RELEASE, blocked_source  # noqa: F401 (a fixture)


def test_wait_finished_answers_once_every_source_ended(tmp_path: Path, blocked_source):  # noqa: F811
    config = parse_config(f"""
state_dir: {tmp_path / 'state'}
sources:
  - {{name: fine, type: file, paths: ['{tmp_path / 'none.log'}'], parser: json}}
  - {{name: held, type: blocked_test, parser: json}}
outputs:
  - type: stdout
""", str(tmp_path / "shipper.yaml"), tmp_path)
    pipeline = Pipeline(config, once=True)
    pipeline.start()
    try:
        assert ENTERED.wait(60)
        assert pipeline.runners["fine"].finished.wait(60)  # the file source read its (missing) file and ended
        assert not pipeline.wait_finished(0.1)  # `held` still runs
        RELEASE.set()
        assert pipeline.wait_finished(60)
        assert all(r.finished.is_set() for r in pipeline.runners.values())
    finally:
        RELEASE.set()
        pipeline.stop(5.0)
