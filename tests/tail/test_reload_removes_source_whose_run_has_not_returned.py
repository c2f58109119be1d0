"""A reload removes a file source whose run() has not returned (a long parse), while its output is down and it holds
a rotated backup the writer deleted: the lines of that backup it read and never delivered are named lost, from what
its checkpoint delivered, once (issue 23 (c); removed23, session 20, covered the thread that returns:
tests/tail/test_attack18_reload_removes_source_held_deleted.py).

Found (repeat23, session 21): the removal's hand-over is taken only from a source whose thread has returned; one
still parsing was let go through its close(), which named its deleted files from what was *read* — all of the
backup here, so nothing — with "the agent stopped" for cause: 2,000 lines lost without a word, every run. Now its
close() names them as the hand-over would: from what was delivered, "a reload removed the source", saved gone.

A real pipeline, file source and strict Fluentd peer; the source's parser holds the parse of one marker line until
the test ends (as tests/core/test_stop_names_a_source_still_parsing.py holds one), so the thread is inside run() when
the reload lets it go, and when the agent stops.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

import pytest

from plugins.parsers.json_lines import JsonLinesParser
from shipper import registry
from shipper.config import load_config
from shipper.pipeline import Pipeline
from shipper.reload import reload
from tests.peers.forward_server import ForwardServer
from tests.support import wait, wait_until

PARSING = threading.Event()  # the marker's parse is under way
RELEASE = threading.Event()  # the test is over: the parse ends


class HoldsTheMarker(JsonLinesParser):
    """The json parser, whose parse of the marker line goes on until the test ends."""

    def parse(self, raw: bytes) -> list[dict]:
        if b'"marker"' in raw:
            PARSING.set()
            RELEASE.wait(120)
        return super().parse(raw)


@pytest.fixture
def held_parser(monkeypatch):
    names, load = registry.names, registry.load
    monkeypatch.setattr(registry, "names", lambda kind: names(kind) + (["holds_marker"] if kind == "parser" else []))
    monkeypatch.setattr(registry, "load", lambda kind, name: HoldsTheMarker
                        if (kind, name) == ("parser", "holds_marker") else load(kind, name))
    PARSING.clear()
    RELEASE.clear()
    yield
    RELEASE.set()


def _lines(first: int, last: int) -> bytes:
    return b"".join(json.dumps({"seq": i, "pad": "y" * 40}).encode() + b"\n" for i in range(first, last + 1))


def _config(tmp_path: Path, port: int, with_b: bool) -> Path:
    b = f"""  - {{name: b, type: file, paths: ['{tmp_path / 'b.log'}'], parser: holds_marker, batch_size: 500,
     parse_workers: 0}}
""" if with_b else ""
    path = tmp_path / "shipper.yaml"
    path.write_text(f"""
state_dir: {tmp_path / 'state'}
shutdown_timeout: 1
sources:
  - {{name: a, type: file, paths: ['{tmp_path / 'a.log'}'], parser: json, parse_workers: 0}}
{b}outputs:
  - {{type: fluentd, name: fwd, host: 127.0.0.1, port: {port}, flush_interval: 0.2, backoff_max: 0.5}}
""")
    return path


def _seqs(peer: ForwardServer) -> set[int]:
    return {r["generic"]["seq"] if "generic" in r else r["seq"] for _, _, r in list(peer.records)}


@pytest.mark.parametrize("then", ["stop", "output_back"])
def test_a_removed_source_still_parsing_names_its_deleted_backup_from_what_was_delivered(tmp_path, held_parser, caplog,
                                                                                        then):
    """`stop`: the agent stops during the removal's wait (the output still down). `output_back`: the output
    returns, delivers the batch it was sending, and the reload lets the source go, its thread still parsing."""
    peer = ForwardServer().start()
    (tmp_path / "a.log").touch()
    log = tmp_path / "b.log"
    log.write_bytes(_lines(1, 1000))
    p = Pipeline(load_config(str(_config(tmp_path, peer.port, True))))
    p.start()
    try:
        assert peer.wait_for_records(1000, 60), "the first 1,000 lines were not delivered"
        runner = p.runners["b"]
        wait_until(lambda: runner.tracker.in_flight() == 0, 60, "the first lines' checkpoint")
        peer.stop()
        undelivered = _lines(1001, 3000)
        with open(log, "ab") as f:
            f.write(undelivered)
        wait_until(lambda: runner.tracker.events_in()[1] == 2000, 60, "lines 1001-3000 in flight")
        os.rename(log, tmp_path / "b.log.1")
        log.write_bytes(b'{"marker": 1}\n')
        os.unlink(tmp_path / "b.log.1")  # (the source holds it open: read, not delivered)
        wait_until(PARSING.is_set, 60, "the marker's parse")
        with caplog.at_level(logging.INFO):
            result = reload(p, str(_config(tmp_path, peer.port, False)))  # b removed, its thread in run()
            assert result.ok, result.message
            assert runner.thread.is_alive(), "the thread returned: the premise of this test did not occur"
            if then == "output_back":
                peer = ForwardServer(port=peer.port).start()
                wait_until(lambda: not p.reloads.finish_restarts() and "b" not in p.reloads.draining, 60,
                           "the removal's batches to settle")
                assert runner.thread.is_alive(), "the thread returned: the premise of this test did not occur"
            p.stop(1.0)
    finally:
        RELEASE.set()
        if not p.abandon.is_set():
            p.stop(1.0)
        peer.stop()
    named = [r for r in caplog.records if "data lost" in r.getMessage() and "b.log" in r.getMessage()]
    said = "\n".join(f"{r.name}: {r.getMessage()} {getattr(r, 'bytes_lost', '')}" for r in named)
    assert len(named) == 1, said or "the undelivered lines of the deleted b.log.1 lost, not named"
    assert "a reload removed the source" in named[0].getMessage(), said
    delivered = _seqs(peer) if then == "output_back" else set()
    assert getattr(named[0], "bytes_lost", None) == len(b"".join(
        _lines(i, i) for i in range(1001, 3001) if i not in delivered)), said
    assert wait(lambda: not runner.thread.is_alive(), 30)  # (released: it ends, and names nothing more)
