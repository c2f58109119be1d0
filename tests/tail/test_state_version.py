"""The tail state is versioned: a file's checkpoint written by a later layout (a downgrade after an
upgrade) stops the agent from starting (exit 2, naming the database, the file and what to do); a
damaged one is named when the source starts, not ignored without a word; one written before the
version field existed is read as version 1, goes on where it was and is saved as version 1."""
from __future__ import annotations

import json
import logging
import re
import shlex
import sqlite3
import subprocess

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from shipper.checkpoint import CheckpointTooNew
from shipper.tail.state import STATE_VERSION, load_states
from tests.core.test_checkpoint_faults import SHIPPER, _one_error_line, append, users
from tests.core.test_reset import two_sources
from tests.tail.conftest import Follower

pytestmark = pytest.mark.slow  # (tens of seconds: `make test` hands it out with the slow files, early)


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


def test_a_state_without_a_version_is_version_1_goes_on_and_is_saved_as_version_1(tmp_path):
    fl, key = _state_after_ten(tmp_path)
    # As the first layout wrote it: before "v" and the fields added since (they take their defaults).
    first_layout = ("fid", "dev", "ino", "head_len", "head", "offset", "mark", "path", "family")
    fl.state[key] = {k: fl.state[key][k] for k in first_layout}
    _write(tmp_path / "app.log", 10, 15)
    fl.restart()
    fl.poll()
    assert fl.seqs() == list(range(15))  # nothing read twice
    assert fl.state[key]["v"] == STATE_VERSION and fl.state[key]["size"] == (tmp_path / "app.log").stat().st_size


def test_a_state_of_a_later_version_is_refused_a_damaged_one_named(tmp_path, caplog):
    fl, key = _state_after_ten(tmp_path)
    fl.state["f:damaged"] = ["not", "a", "state"]
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        fl.restart()
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("f:damaged" in m and "damaged" in m for m in said), said
    fl.state[key] = {**fl.state[key], "v": STATE_VERSION + 1}
    with pytest.raises(CheckpointTooNew) as refused:
        fl.restart()
    assert f"tail state version {STATE_VERSION + 1}" in str(refused.value) and key in str(refused.value)
    assert str(tmp_path / "app.log") in str(refused.value)


def test_the_agent_refuses_to_start_on_a_later_tail_state(tmp_path):
    """A real `shipper run --once` on a database a later version wrote: exit 2, one line naming the
    database, the source, the file and what to do; the database is left as it was. Done as it says
    (the `shipper reset` command, run as given), that one source starts over (read_from: beginning) while the
    other source keeps its positions: the remedy never costs the other sources a replay."""
    cfg, log, other, db = two_sources(tmp_path)  # dm's 20 lines and other's 5, shipped and saved
    with sqlite3.connect(db) as conn:
        ((source, key, value),) = conn.execute("SELECT source, key, value FROM checkpoints "
                                               "WHERE key LIKE 'f:%' AND source='dm'")
        later = {**orjson.loads(value), "v": STATE_VERSION + 1}
        conn.execute("UPDATE checkpoints SET value=? WHERE source=? AND key=?", (orjson.dumps(later), source, key))
    conn.close()
    before = db.read_bytes()
    append(log, 20, 10)
    err = _one_error_line(subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True,
                                         timeout=120))
    assert err.startswith(f"error: {db}: source {source}: checkpoint {key} (file {log})"), err
    assert f"tail state version {STATE_VERSION + 1}; this one reads {STATE_VERSION}" in err, err
    assert "run that version of shipper (or a later one) again" in err and "docs/operations.md" in err, err
    assert "mv " not in err and ".newer" not in err, err  # never the whole database for one source's state
    assert db.read_bytes() == before  # nothing written over the later version's positions
    command = re.search(r"then (shipper reset -c \S+ --source dm) \(", err)
    assert command, err
    assert shlex.split(command.group(1))[3] == str(cfg)
    reset = subprocess.run(SHIPPER + shlex.split(command.group(1))[1:], capture_output=True, timeout=60)
    assert reset.returncode == 0 and f"file {log}, read to byte " in reset.stdout.decode(), reset
    append(other, 105, 2)
    r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    # dm started over (every line of its file); other read on from its saved position (only its 2 new).
    assert sorted(users(r.stdout)) == [*range(30), 105, 106]


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)
GOOD = {"v": 1, "fid": "a1", "dev": 1, "ino": 2, "head_len": 3, "head": "h", "offset": 5, "mark": "m",
        "path": "/var/log/a.log", "family": "/var/log/a.log", "size": 9, "gz": False, "cont": False,
        "gone": 0.0, "unmatched": 0.0, "earlier": []}


@settings(max_examples=300, deadline=None)
@given(value=JSON | st.fixed_dictionaries({}, optional={k: JSON | st.just(v) for k, v in GOOD.items()}))
def test_any_saved_value_is_read_named_damaged_or_refused_never_a_crash(value):
    """Whatever a file's checkpoint holds, loading it gives a state of the right types, or none (named
    damaged), or CheckpointTooNew for a later layout — never another exception the tailer would meet."""
    later = isinstance(value, dict) and type(value.get("v", 1)) is int and value.get("v", 1) > STATE_VERSION
    try:
        files, _ = load_states({"f:x": value}, warn=True)
    except CheckpointTooNew:
        assert later
        return
    assert not later
    for f in files:
        assert all(isinstance(getattr(f, k), str) for k in ("fid", "head", "mark", "path", "family"))
        assert all(isinstance(getattr(f, k), int) for k in ("dev", "ino", "head_len", "offset", "size"))
        assert isinstance(f.earlier, list) and isinstance(f.gone, float)
