"""`started` (READY=1) and `reloaded` come after the first look of every source that `looks_first` (the file
source: backups found at that look are history): what changes after the agent said so is no history.
A look that does not end within FIRST_LOOK_WAIT is named, not waited for; a stop signal ends the wait.
(The file source end to end: tests/tail/test_first_look_before_started.py.)"""
from __future__ import annotations

import gc
import logging
import threading
from pathlib import Path
from typing import Literal

import pytest

from shipper import pipeline as pipeline_mod
from shipper.api import Source, SourceConfig
from shipper.config import parse_config
from shipper.pipeline import Pipeline
from shipper.reload import reload
from shipper.runner import Daemon
from tests.core.test_source_stop_and_give_up import register_sources
from tests.support import wait

# What happened, in order: "looked" (a source's ctx.looked()) and the agent's own words ("started", "reloaded").
SAID: list[str] = []
SAID_LOCK = threading.Lock()
NEVER_LOOK = threading.Event()  # set: the slow source never says it looked (a hung filesystem)
SLOW_LOOK = 2.0  # seconds a slow look takes at most: it ends early once the agent said what it waits for


def said(what: str) -> None:
    with SAID_LOCK:
        SAID.append(what)


class SlowLookConfig(SourceConfig):
    type: Literal["slow_look_test"] = "slow_look_test"


class SlowLookSource(Source):
    """Takes its first look until the agent has said `started` or `reloaded` (that is: at once where the agent
    does not wait for it), SLOW_LOOK seconds at most, then says it looked and waits for the stop."""
    Config = SlowLookConfig
    looks_first = True

    def run(self) -> None:
        if NEVER_LOOK.is_set():
            self.ctx.stop.wait(120)
            return
        wait(lambda: "started" in SAID or "reloaded" in SAID, SLOW_LOOK)
        said("looked")
        self.ctx.looked()
        self.ctx.stop.wait(120)


class _Said(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() in ("started", "reloaded"):
            said(record.getMessage())


@pytest.fixture
def slow_look(monkeypatch):
    register_sources(monkeypatch, {"slow_look_test": SlowLookSource})
    SAID.clear()
    NEVER_LOOK.clear()
    handler = _Said()
    levels = {}
    for name in ("shipper.run", "shipper.reload"):
        levels[name] = logging.getLogger(name).level
        logging.getLogger(name).setLevel(logging.INFO)
        logging.getLogger(name).addHandler(handler)
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()  # (Daemon._start froze what was alive and raised the thresholds: this process goes on testing)
    gc.set_threshold(*threshold)
    for name in ("shipper.run", "shipper.reload"):
        logging.getLogger(name).removeHandler(handler)
        logging.getLogger(name).setLevel(levels[name])


def config_text(tmp_path: Path, *sources: str) -> str:
    return f"""
state_dir: {tmp_path / 'state'}
sources:
{''.join(f"  - {{name: {name}, type: slow_look_test, parser: json}}{chr(10)}" for name in sources)}
  - {{name: files, type: file, paths: ['{tmp_path / 'app.log'}'], parser: json}}
outputs:
  - type: stdout
"""


def daemon_of(tmp_path: Path, *sources: str) -> Daemon:
    path = tmp_path / "shipper.yaml"
    path.write_text(config_text(tmp_path, *sources))
    return Daemon(parse_config(path.read_text(), str(path), tmp_path))


def test_started_comes_after_every_first_look(tmp_path: Path, slow_look) -> None:
    d = daemon_of(tmp_path, "slow")
    try:
        d._start()
        assert SAID == ["looked", "started"]
        assert all(r.looked.is_set() for r in d.pipeline.runners.values())  # the file source's too
    finally:
        d.pipeline.stop(1.0)


def test_a_look_past_the_deadline_is_named_and_not_waited_for(tmp_path: Path, slow_look, monkeypatch, caplog) -> None:
    monkeypatch.setattr(pipeline_mod, "FIRST_LOOK_WAIT", 0.5)
    NEVER_LOOK.set()
    d = daemon_of(tmp_path, "hung")
    try:
        with caplog.at_level(logging.INFO):
            d._start()
        assert SAID == ["started"]
        late = [r for r in caplog.records if "took their first look" in r.getMessage()]
        assert len(late) == 1 and late[0].levelno == logging.WARNING, caplog.text
        assert late[0].getMessage().startswith("started before source(s) hung took their first look")
        assert late[0].sources == "hung"  # (the file source had looked: not named)
    finally:
        d.pipeline.stop(1.0)


def test_a_stop_signal_ends_the_wait_at_once_and_names_nothing(tmp_path: Path, slow_look, caplog) -> None:
    NEVER_LOOK.set()
    d = daemon_of(tmp_path, "hung")
    d.stop_signal = 15  # (a SIGTERM during the start: the run loop then stops at once)
    try:
        with caplog.at_level(logging.INFO):
            d._start()  # (with FIRST_LOOK_WAIT 30 s: the test's own timeout would say it waited)
        assert SAID == ["started"]
        assert "took their first look" not in caplog.text
    finally:
        d.pipeline.stop(1.0)


def test_reloaded_comes_after_the_first_look_of_a_source_it_adds(tmp_path: Path, slow_look) -> None:
    path = tmp_path / "shipper.yaml"
    path.write_text(config_text(tmp_path))
    p = Pipeline(parse_config(path.read_text(), str(path), tmp_path))
    p.start()
    try:
        assert p.await_first_looks("started", lambda: False) == []
        path.write_text(config_text(tmp_path, "added"))
        result = reload(p, str(path))
        assert result.ok, result.message
        assert SAID == ["looked", "reloaded"]
    finally:
        p.stop(1.0)
