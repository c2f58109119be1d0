"""Issue 23: a note of the events an output stored before a stop (`_delivered_to:<output>`) whose output the config
no longer has, and which no configured output matches (saved by a version that did not record where an output
stores, or the output removed, or renamed with other settings changed): the start says so once, naming the output
and how many events, and that a renamed output is sent them again, and drops the note. Before, it stayed in the
state unwarned (re-saved at every stop, up to DELIVERED_MAX ids), and the repeat to a renamed output was silent."""
from __future__ import annotations

import logging

from shipper.acks import DELIVERED_PREFIX, DELIVERED_WHERE_PREFIX
from shipper.checkpoint import CheckpointStore
from shipper.config import load_config
from shipper.pipeline import Pipeline
from tests.peers.forward_server import ForwardServer


def config(tmp_path, port: int):
    (tmp_path / "app.log").write_text("")
    path = tmp_path / "shipper.yaml"
    path.write_text(f"""
state_dir: {tmp_path}/state
shutdown_timeout: 1
sources:
  - {{name: app, type: file, paths: ["{tmp_path}/app.log"], parser: json}}
outputs:
  - {{type: fluentd, name: fwd_new, host: 127.0.0.1, port: {port}, flush_interval: 0.5}}
""")
    return load_config(path)


def start_and_stop(cfg) -> dict:
    p = Pipeline(cfg)
    p.start()
    p.stop(1.0)
    store = CheckpointStore(cfg.state_dir)
    try:
        return store.load("app")
    finally:
        store.close()


def test_the_note_of_an_output_gone_is_said_once_and_dropped(tmp_path, caplog):
    server = ForwardServer().start()
    try:
        cfg = config(tmp_path, server.port)
        store = CheckpointStore(cfg.state_dir)
        # What a stop with one output down left: one note as an older version saved it (no digest of where its
        # output stores), one of an output removed since (its digest matches no configured output).
        store.update("app", {DELIVERED_PREFIX + "fwd": ["id-a", "id-b", "id-a"],
                             DELIVERED_PREFIX + "es": ["id-c"], DELIVERED_WHERE_PREFIX + "es": "0" * 16})
        store.close()
        with caplog.at_level(logging.WARNING):
            state = start_and_stop(cfg)
        said = [r for r in caplog.records if "the note is dropped" in r.getMessage()]
        assert sorted((r.output, r.events, r.where_known) for r in said) == [  # type: ignore[attr-defined]
            ("es", 1, True), ("fwd", 3, False)], [r.getMessage() for r in said]
        assert all("renamed" in r.getMessage() and "again" in r.getMessage() for r in said)
        assert not [k for k in state if k.startswith((DELIVERED_PREFIX, DELIVERED_WHERE_PREFIX))], state
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            start_and_stop(cfg)
        assert not [r for r in caplog.records if "the note is dropped" in r.getMessage()], "said again"
    finally:
        server.stop()


def test_a_note_a_configured_output_matches_is_kept_for_it(tmp_path, caplog):
    """The control: a note whose digest says where a configured output stores is that output's (renamed while
    stopped, its block unchanged): moved to its name, neither dropped nor warned."""
    server = ForwardServer().start()
    try:
        cfg = config(tmp_path, server.port)
        where = cfg.outputs[0].where()
        store = CheckpointStore(cfg.state_dir)
        store.update("app", {DELIVERED_PREFIX + "fwd": ["id-a"], DELIVERED_WHERE_PREFIX + "fwd": where})
        store.close()
        with caplog.at_level(logging.INFO):
            state = start_and_stop(cfg)
        assert not [r for r in caplog.records if "the note is dropped" in r.getMessage()]
        assert state.get(DELIVERED_PREFIX + "fwd_new") == ["id-a"], state
        assert DELIVERED_PREFIX + "fwd" not in state
    finally:
        server.stop()
