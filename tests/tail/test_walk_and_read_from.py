"""The `**` walk (discovery._recursive_glob) against glob's own answer where glob ends, and where
`read_from: end` applies across restarts and reloads (the first look through a glob only)."""
from __future__ import annotations

import glob
import json
import os

from shipper.tail import discovery
from tests.tail.conftest import Follower, assert_exactly_once


def test_recursive_walk_matches_what_glob_matches_without_loops(tmp_path):
    for d in ["a/b/c", ".h/x", "a/.hid", "z/b"]:
        (tmp_path / d).mkdir(parents=True, exist_ok=True)
    for f in ["x.log", "a/y.log", "a/b/z.log", "a/b/c/w.log", ".h/x/q.log", "a/.hid/r.log", "a/.dot.log",
              "z/b/k.txt", "a/b/c/b.log"]:
        (tmp_path / f).write_text("")
    os.symlink(tmp_path / "z", tmp_path / "a" / "lz")  # a symlinked folder elsewhere: walked, as glob does
    for p in ["**/*.log", "a/**/*.log", "**", "a/**", "**/b/*.log", "**/b/**/*.log", "a/**/.*.log", "*/**/*",
              "**/.h/**/*.log", "a/**/c/*", "**/lz/**/*.txt"]:
        full = str(tmp_path / p)
        want = sorted(x for x in glob.glob(full, recursive=True) if os.path.isfile(x))
        assert want, p
        assert discovery.expand([full], [], str(tmp_path)) == want, p


def write(path, lo: int, hi: int) -> None:
    with open(path, "a") as f:
        f.write("".join(json.dumps({"seq": i}) + "\n" for i in range(lo, hi)))


def test_read_from_end_skips_only_the_first_look_through_each_glob(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write(tmp_path / "a" / "old.log", 0, 10)  # history: skipped
    write(tmp_path / "b" / "old.log", 100, 110)
    f = Follower([tmp_path / "a" / "*.log"], tmp_path, read_from="end")
    f.settle()
    # A state written before the globs were recorded: its families say the glob was looked through.
    for k in [k for k in f.state if k.startswith("seen:glob:")]:
        del f.state[k]
    write(tmp_path / "a" / "old.log", 10, 20)
    write(tmp_path / "a" / "new.log", 20, 30)  # made while the agent was stopped: no history
    f.restart()
    f.settle()
    assert_exactly_once(f.seqs(), range(10, 30))
    # A glob a reload adds looks for the first time: what is there is history.
    f.patterns.append(str(tmp_path / "b" / "*.log"))
    f.restart()
    f.settle()
    write(tmp_path / "b" / "old.log", 110, 115)
    f.settle()
    assert_exactly_once(f.seqs(), [*range(10, 30), *range(110, 115)])
    assert f.tailer.losses == 0
