"""How the core treats a source that does not end as asked, or ends saying why:
- a stop while `run()` is blocked in a call no waker can interrupt (a library's request without a
  timeout): the agent ends after shutdown_timeout and says which source's run() did not return;
- a source that gives up under --once (a server it cannot reach) with `EndRun`: one error line naming
  the source and its reason, no traceback (it is no bug), exit 1, the next run reads on;
- a source whose run() raised while the agent runs: /health names it in `sources_failing` (it reads no more;
  before, /health said "ok")."""
from __future__ import annotations

import logging
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Literal

import pytest

from shipper import registry
from shipper.api import RawBatch, Source, SourceConfig
from shipper.config import parse_config
from shipper.http_endpoint import failing_sources
from shipper.pipeline import Pipeline
from tests.core.test_checkpoint_faults import SHIPPER
from tests.support import wait

ENTERED = threading.Event()
RELEASE = threading.Event()  # what the blocked call waits for: nothing the agent's stop can set


class BlockedConfig(SourceConfig):
    type: Literal["blocked_test"] = "blocked_test"


class BlockedSource(Source):
    """Emits one record, then blocks as a client library without a timeout would."""
    Config = BlockedConfig

    def run(self) -> None:
        self.ctx.emit(RawBatch([b'{"n": 1}'], ["k:0"], {"read": 1}, 8))
        ENTERED.set()
        RELEASE.wait(120)


class CrashingConfig(SourceConfig):
    type: Literal["crashing_test"] = "crashing_test"


class CrashingSource(Source):
    """A source with a bug: its run() raises."""
    Config = CrashingConfig

    def run(self) -> None:
        raise RuntimeError("a bug in the source")


def register_sources(monkeypatch, sources: dict[str, type[Source]]) -> None:
    names, load = registry.names, registry.load
    monkeypatch.setattr(registry, "names", lambda kind: names(kind) + (list(sources) if kind == "source" else []))
    monkeypatch.setattr(registry, "load", lambda kind, name: sources[name] if kind == "source" and name in sources
                        else load(kind, name))


@pytest.fixture
def blocked_source(monkeypatch):
    register_sources(monkeypatch, {"blocked_test": BlockedSource})
    ENTERED.clear()
    RELEASE.clear()
    yield
    RELEASE.set()


def test_a_stop_names_the_source_whose_run_did_not_return(tmp_path: Path, blocked_source, caplog, capsys):
    config = parse_config(f"""
state_dir: {tmp_path / 'state'}
shutdown_timeout: 1
sources:
  - {{name: stuck, type: blocked_test, parser: json}}
  - {{name: fine, type: file, paths: ['{tmp_path / 'none.log'}'], parser: json}}
outputs:
  - type: stdout
""", str(tmp_path / "shipper.yaml"), tmp_path)
    pipeline = Pipeline(config)
    pipeline.start()
    assert ENTERED.wait(60)
    assert wait(lambda: pipeline.runners["stuck"].tracker.in_flight() == 0, 60)  # its one batch is delivered
    with caplog.at_level(logging.WARNING, logger="shipper.pipeline"):
        t0 = time.monotonic()
        delivered = pipeline.stop(1.0)
        took = time.monotonic() - t0
    assert delivered  # nothing it emitted is undelivered: the stop is no failure...
    assert took < 30, took  # ...and it does not wait for the blocked call
    said = [r for r in caplog.records if r.levelno == logging.WARNING and "run() did not return" in r.getMessage()]
    assert len(said) == 1, [r.getMessage() for r in caplog.records]
    assert "source stuck:" in said[0].getMessage() and "shutdown_timeout (1s)" in said[0].getMessage()
    assert said[0].source == "stuck"
    assert "read again at the next start" in said[0].getMessage()
    assert b'"n":1' in capsys.readouterr().out.encode()


def test_a_source_giving_up_under_once_is_one_named_line_and_exit_1(tmp_path: Path):
    """The built-in http_poll gives up after a few attempts under --once with EndRun: the real command."""
    refusing = socket.socket()  # bound, never listening: every connect is refused
    refusing.bind(("127.0.0.1", 0))
    port = refusing.getsockname()[1]
    (tmp_path / "token").write_text("t\n")
    (tmp_path / "token").chmod(0o600)
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
sources:
  - {{name: pe, type: http_poll, url: 'http://127.0.0.1:{port}/activity-api/v2/events', token_file: token,
     services: [rbac], backoff_initial: 0.1, backoff_max: 0.2}}
outputs:
  - type: stdout
""")
    try:
        r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    finally:
        refusing.close()
    err = r.stderr.decode()
    assert r.returncode == 1, err
    errors = [line for line in err.splitlines() if line.startswith("level=error")]
    assert len(errors) == 1, err  # named once: not again as "source stopped with an error"
    assert 'msg="source gave up: activity API still failing after 3 attempts: rbac:' in errors[0], err
    assert errors[0].endswith("source=pe"), err
    assert "Traceback" not in err and "source failed" not in err, err


def test_a_source_whose_run_raised_is_failing_in_health(tmp_path: Path, monkeypatch):
    register_sources(monkeypatch, {"crashing_test": CrashingSource})
    config = parse_config(f"""
state_dir: {tmp_path / 'state'}
sources:
  - {{name: broken, type: crashing_test, parser: json}}
  - {{name: fine, type: file, paths: ['{tmp_path / 'none.log'}'], parser: json}}
outputs:
  - type: stdout
""", str(tmp_path / "shipper.yaml"), tmp_path)
    pipeline = Pipeline(config)
    pipeline.start()
    try:
        assert wait(lambda: pipeline.runners["broken"].finished.is_set(), 60)
        failing = failing_sources(pipeline)
    finally:
        pipeline.stop(1.0)
    assert set(failing) == {"broken"}, failing
    assert failing["broken"]["failing"] and "RuntimeError: a bug in the source" in failing["broken"]["message"]
