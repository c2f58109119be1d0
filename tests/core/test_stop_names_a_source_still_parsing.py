"""Issue 13 (stoploss13, session 16): a stop whose shutdown_timeout ran out while a source's thread was still
parsing a batch it had read (harvester.read -> emit -> builder.build: the rest of a 1 MiB read, parsed batch by
batch after an output went down) said "blocked in a call the stop cannot wake", though the thread ended a moment
later. The stop now says what it was doing (the agent's parse, in the source's thread) and that it returned, not
blocked; "cannot wake" stays for a source still in a call of its own (tests/core/test_source_stop_and_give_up.py).

A real pipeline and file source; the parse is held from the stop's deadline until the stop gives its waits up (a
parser that waits for that), so the thread is parsing when the deadline comes and returns after, every time."""
from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest

from plugins.parsers.json_lines import JsonLinesParser
from shipper import registry
from shipper.config import load_config
from shipper.pipeline import Pipeline
from tests.support import wait

PARSING = threading.Event()  # a parse is under way
GIVEN_UP = threading.Event()  # set to the runner's abandon: the stop gave its waits up


class ParsingAtTheDeadline(JsonLinesParser):
    """The json parser, whose parse of the line `"n": 5` goes on until the stop has given up (a long parse)."""

    def parse(self, raw: bytes) -> list[dict]:
        if b'"n": 5}' in raw:
            PARSING.set()
            GIVEN_UP.wait(60)
        return super().parse(raw)


@pytest.fixture
def slow_parser(monkeypatch):
    names, load = registry.names, registry.load
    monkeypatch.setattr(registry, "names", lambda kind: names(kind) + (["parsing_test"] if kind == "parser" else []))
    monkeypatch.setattr(registry, "load", lambda kind, name: ParsingAtTheDeadline
                        if (kind, name) == ("parser", "parsing_test") else load(kind, name))
    PARSING.clear()
    GIVEN_UP.clear()
    yield
    GIVEN_UP.set()  # (whatever happened: the thread is let go)


@pytest.mark.parametrize("integrity", [False, True], ids=["lines", "sealed"])  # (serialised, or built in the thread)
def test_a_source_parsing_at_the_deadline_is_not_said_blocked(tmp_path: Path, slow_parser, caplog, integrity):
    with open(tmp_path / "audit.log", "w") as f:
        for i in range(20):
            f.write(json.dumps({"@timestamp": "2026-01-02T03:04:05Z", "message": f"m{i}", "n": i}) + "\n")
    (tmp_path / "key").write_text("an integrity key of some length, 0123456789abcdef\n")
    (tmp_path / "key").chmod(0o600)
    (tmp_path / "shipper.yaml").write_text(f"""
state_dir: {tmp_path / 'state'}
shutdown_timeout: 1
{"integrity: {key_file: key}" if integrity else ""}
sources:
  - {{name: app, type: file, paths: ['{tmp_path / 'audit.log'}'], parser: parsing_test, batch_size: 10,
     parse_workers: 0}}
outputs:
  - {{type: stdout}}
""")
    pipeline = Pipeline(load_config(str(tmp_path / "shipper.yaml")))
    pipeline.start()
    runner = pipeline.runners["app"]
    assert wait(lambda: PARSING.is_set(), 60)
    threading.Thread(target=lambda: runner.abandon.wait(120) and GIVEN_UP.set(), daemon=True).start()
    with caplog.at_level(logging.INFO, logger="shipper.pipeline"):
        pipeline.stop(1.0)
    assert not runner.thread.is_alive()
    said = [r.getMessage() for r in caplog.records
            if getattr(r, "source", None) == "app" and "shutdown_timeout" in r.getMessage()]
    assert len(said) == 1, [r.getMessage() for r in caplog.records]
    assert "cannot wake" not in said[0], said[0]
    assert "parsing a batch it had read (parser parsing_test" in said[0] and "not blocked" in said[0], said[0]
