"""A path taken out of a source's `paths` by a reload and put back (in process: each reload is a new
Tailer built from the committed checkpoint, as the file source does): the same file goes on from its
checkpoint (tests/tail/test_attack2_reload_path_removed.py, with a real agent); a file that is no
longer the same is read from its start as a new one; a checkpoint out of scope for longer than
OUT_OF_SCOPE_SECONDS is forgotten, and the path put back then is a new family (read_from applies)."""
from __future__ import annotations

import json
import os

from shipper.tail import scan_rules
from tests.tail.conftest import Follower, assert_exactly_once


def write(path, lo: int, hi: int) -> None:
    with open(path, "a") as f:
        f.write("".join(json.dumps({"seq": i, "file": os.path.basename(path)}) + "\n" for i in range(lo, hi)))


def reload(f: Follower, paths) -> None:
    f.patterns = [str(p) for p in paths]
    f.restart()
    f.settle()


def states_of(f: Follower, name: str) -> list[dict]:
    return [v for k, v in f.state.items() if k.startswith("f:") and v["family"].endswith(name)]


def test_same_file_goes_on_from_its_checkpoint_a_replaced_one_is_new(tmp_path):
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    write(a, 0, 10)
    write(b, 10, 20)
    f = Follower([a, b], tmp_path)
    f.settle()
    reload(f, [a])  # b.log out of scope: kept, not "rotated away"
    assert f.tailer.losses == 0 and len(states_of(f, "b.log")) == 1
    assert states_of(f, "b.log")[0]["unmatched"] > 0
    assert not f.tailer.needs_rescan()  # an out-of-scope state waits for nothing (no polling for it)
    write(b, 20, 25)
    reload(f, [a, b])
    assert f.tailer.losses == 0
    assert_exactly_once(f.seqs(), range(25))
    assert states_of(f, "b.log")[0]["unmatched"] == 0

    reload(f, [a])
    os.unlink(b)
    write(b, 100, 105)  # another file under the name (maybe on the same inode)
    reload(f, [a, b])
    assert_exactly_once(f.seqs(), [*range(25), *range(100, 105)])
    assert f.tailer.losses == 0  # the old content went while not followed: no promise broken
    assert len(states_of(f, "b.log")) == 1  # the old checkpoint is forgotten


def test_checkpoint_out_of_scope_too_long_is_forgotten(tmp_path):
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    write(a, 0, 10)
    write(b, 10, 20)
    f = Follower([a, b], tmp_path, read_from="end")
    f.settle()
    write(a, 20, 25)
    write(b, 25, 30)
    f.settle()
    reload(f, [a])
    (st,) = states_of(f, "b.log")
    st["unmatched"] -= scan_rules.OUT_OF_SCOPE_SECONDS + 1  # out of scope that long (across a restart)
    reload(f, [a])
    assert states_of(f, "b.log") == [] and f"seen:{b}" not in f.state
    assert f"seen:{a}" in f.state
    write(b, 30, 35)
    reload(f, [a, b])  # a new family now: read_from end skips what is there
    write(b, 35, 40)
    f.settle()
    assert_exactly_once(f.seqs(), [*range(20, 30), *range(35, 40)])
    assert f.tailer.losses == 0
