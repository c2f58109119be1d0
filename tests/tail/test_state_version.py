"""The tail state is versioned: a file's checkpoint written by another layout (a downgrade after an
upgrade) or damaged is named when the source starts, not ignored without a word; one written before
the version field existed is read as version 1 and goes on where it was."""
from __future__ import annotations

import json
import logging

from shipper.tail.state import STATE_VERSION
from tests.tail.conftest import Follower


def _write(path, lo: int, hi: int) -> None:
    with open(path, "a") as f:
        f.writelines(json.dumps({"seq": i}) + "\n" for i in range(lo, hi))


def _state_after_ten(tmp_path) -> tuple[Follower, str]:
    log = tmp_path / "app.log"
    _write(log, 0, 10)
    fl = Follower([log], tmp_path, read_from="beginning")
    fl.poll()
    assert fl.seqs() == list(range(10))
    keys = [k for k in fl.state if k.startswith("f:")]
    assert len(keys) == 1 and fl.state[keys[0]]["v"] == STATE_VERSION
    return fl, keys[0]


def test_a_state_without_a_version_is_version_1_and_goes_on(tmp_path):
    fl, key = _state_after_ten(tmp_path)
    del fl.state[key]["v"]  # as written before the field existed
    _write(tmp_path / "app.log", 10, 15)
    fl.restart()
    fl.poll()
    assert fl.seqs() == list(range(15))  # nothing read twice


def test_a_state_of_another_version_or_damaged_is_named(tmp_path, caplog):
    fl, key = _state_after_ten(tmp_path)
    fl.state[key] = {**fl.state[key], "v": STATE_VERSION + 1}
    fl.state["f:damaged"] = ["not", "a", "state"]
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        fl.restart()
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    newer = [m for m in said if key in m]
    assert len(newer) == 1 and f"tail state version {STATE_VERSION + 1}" in newer[0], said
    assert any("f:damaged" in m and "damaged" in m for m in said), said
