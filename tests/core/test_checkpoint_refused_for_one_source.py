"""One source whose checkpoint rows the store refuses, beside a source whose rows it takes (issue 13).

What was wrong: any failed commit cleared one pause flag shared by every source, and any source's saved
commit set it again: a source whose own rows were refused (a constraint, a value too big) paused reading for
all of them, for good once the healthy sources had nothing in flight. Now a refusal of one source's rows
pauses that source alone, and /health names it; a failure of the store itself (a full disk: pausing all is
right there, tests/core/test_checkpoint_faults.py) still pauses every source.

The refusal is SQLite's own: a trigger in the agent's database that aborts every write of one source's rows
(what a constraint does), added while the agent runs and dropped later."""
from __future__ import annotations

import signal
import sqlite3
import subprocess
from pathlib import Path

import orjson
import pytest

from tests.core.test_checkpoint_faults import SHIPPER, append, free_port, health
from tests.e2e.reload_overlap import get
from tests.support import wait_until

pytestmark = pytest.mark.slow

REFUSE = ["CREATE TRIGGER refuse_{op} BEFORE {op} ON checkpoints WHEN NEW.source = 'bad' "
          "BEGIN SELECT RAISE(ABORT, 'refused for the test'); END" .format(op=op) for op in ("INSERT", "UPDATE")]


def config(tmp_path: Path, port: int) -> Path:
    cfg = tmp_path / "shipper.yaml"
    sources = "".join(f"""
  - name: {name}
    type: file
    paths: [{tmp_path / name}.log]
    parser: datameer
    batch_size: 50""" for name in ("good", "bad"))
    # shutdown_timeout 2: the stop waits that long (30 s by default) for the refused source's checkpoint, which never
    # comes, then says so: the same words after 2 s (the good source's checkpoints saved before the stop)
    cfg.write_text(f"""
state_dir: {tmp_path / "state"}
shutdown_timeout: 2
http: {{listen: "127.0.0.1:{port}"}}
sources:{sources}
outputs:
  - type: stdout
""")
    return cfg


def shipped(out: Path) -> dict[str, list[int]]:
    """Per log file, the users' numbers shipped, in order."""
    got: dict[str, list[int]] = {"good": [], "bad": []}
    for line in out.read_bytes().splitlines():
        ev = orjson.loads(line)
        got[Path(ev["log"]["file"]["path"]).stem].append(int(ev["user"]["name"][4:]))
    return got


def refuse(tmp_path: Path, on: bool) -> None:
    """Add or drop the triggers, the agent stopped: it holds its database exclusively while it runs."""
    db = sqlite3.connect(tmp_path / "state" / "checkpoints.sqlite", timeout=30)
    try:
        with db:
            for sql in REFUSE if on else ["DROP TRIGGER refuse_INSERT", "DROP TRIGGER refuse_UPDATE"]:
                db.execute(sql)
    finally:
        db.close()  # (its `with` commits, and leaves it open: the agent could not lock it)


def test_a_source_whose_rows_are_refused_pauses_alone(tmp_path):
    port = free_port()
    cfg = config(tmp_path, port)
    good, bad, out = tmp_path / "good.log", tmp_path / "bad.log", tmp_path / "out.ndjson"
    good.touch()
    bad.touch()
    r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()  # the database made
    refuse(tmp_path, True)
    with open(out, "wb") as o:
        p = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=o, stderr=subprocess.PIPE)
    try:
        append(good, 0, 100)
        append(bad, 0, 100)
        wait_until(lambda: health(port)[0] == 503, 120, "/health to name the refused source")
        code, doc = health(port)
        assert "checkpoints of source bad" in doc["checkpoints"] and "refused for the test" in doc["reason"], doc
        wait_until(lambda: shipped(out)["good"] == list(range(100)), 120, "the good source's first lines shipped")
        bad_before = shipped(out)["bad"]
        assert bad_before == list(range(len(bad_before))), bad_before

        append(bad, 100, 100)
        append(good, 100, 200)  # the other source reads on, its checkpoints saved
        wait_until(lambda: shipped(out)["good"] == list(range(300)), 120, "the good source's lines shipped")
        # The refused source read nothing more once its commits were refused.
        assert shipped(out)["bad"] == bad_before
        # The good source's last checkpoint saved: the stop gives up on commits after shutdown_timeout (2 s)
        wait_until(lambda: get(port, "/status")[1]["sources"]["good"]["in_flight_batches"] == 0, 60,
                   "the good source's checkpoints saved")
    finally:
        p.send_signal(signal.SIGTERM)
        _, err_bytes = p.communicate(timeout=120)
    err = err_bytes.decode()
    assert "checkpoint commit of this source refused; its reading paused" in err, err
    assert "reading paused, retrying" not in err.replace("its reading paused, retrying", ""), err
    assert "Traceback" not in err, err
    # Its delivered batches were never checkpointed: the stop says they will be sent again, and they are.
    assert "stopped while checkpoints cannot be saved" in err and "checkpoints of source bad" in err, err

    # (A stop delivers the batch the paused source held, as under a full disk: its repeat is the one named.)
    before = shipped(out)
    assert before["good"] == list(range(300)) and before["bad"] == list(range(len(before["bad"]))), before

    refuse(tmp_path, False)
    r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    out.write_bytes(r.stdout)
    assert shipped(out) == {"good": [], "bad": list(range(200))}
