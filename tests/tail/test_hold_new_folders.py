"""Issues 21/13 (attack 16): a folder the globs reach that appears while the reader is held back is held.

The holder watched the folders of the followed files and the globs' fixed folders, told by the tailer's scan;
a scan does not come while the reader is held back (an output down) or the agent frozen. A new folder under a
wildcard glob, the log folder renamed and made again, a symlinked release folder swapped: the rotated files its
log made and deleted meanwhile were neither held nor counted. The holder now watches where such a folder can
appear (discovery.FolderGlobs.appear_folders) and, when one appears, watches it and then lists it. Here the
holder alone, with no follow() after the first: what it holds it found by itself. (The agent end to end:
tests/tail/test_attack16_new_folder_not_held.py.)
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from shipper.tail import discovery
from shipper.tail.holder import Holder
from tests.tail.test_live import WAIT


def _holder(globs: list[str], families: set[str]) -> Holder:
    h = Holder(max_files=100)
    h.settle = 0
    assert h.start()
    fg = discovery.FolderGlobs(globs, "/")
    h.folder_globs = fg
    h.follow(families, set(), fg.appear_folders({os.path.dirname(f) for f in families}),
             lambda p: discovery.glob_matches(p, globs, [], "/"))
    return h


def _wait_held(h: Holder, path: Path) -> int:
    """The inode of the file now at `path`, once the holder holds it (its thread is asynchronous)."""
    st = os.stat(path)
    deadline = time.monotonic() + WAIT
    while h.holding((st.st_dev, st.st_ino)) is None:
        assert time.monotonic() < deadline, f"{path} not held: {sorted(h.held)}"
        time.sleep(0.02)
    return st.st_ino


def _rotations_held(h: Holder, folder: Path) -> None:
    """Three Log4j rotations with MaxBackupIndex=1, each file waited for held: the two deleted are readable."""
    inodes = []
    for i in range(3):
        (folder / "app.log").write_text(f"file {i}\n")
        inodes.append(_wait_held(h, folder / "app.log"))
        os.rename(folder / "app.log", folder / "app.log.1")  # (the one before deleted)
    held = {x.ino: x for x in h.take()[0]}
    for i, ino in enumerate(inodes):
        assert os.pread(held[ino].fd, 100, 0) == f"file {i}\n".encode()


def test_a_new_folder_under_a_wildcard_folder_is_watched_as_it_appears(tmp_path):
    (tmp_path / "logs" / "n1").mkdir(parents=True)
    (tmp_path / "logs" / "n1" / "app.log").write_text("old\n")
    h = _holder([str(tmp_path / "logs" / "*" / "app.log")], {str(tmp_path / "logs" / "n1" / "app.log")})
    try:
        (tmp_path / "logs" / "n2").mkdir()
        _rotations_held(h, tmp_path / "logs" / "n2")
        assert h.take_escaped() == {}
    finally:
        h.stop()


def test_a_folder_deeper_below_a_wildcard_folder_is_watched_as_it_appears(tmp_path):
    """`logs/*/app/app.log`: `logs/n2` leads there, `logs/n2/app` holds the files (made with its parent)."""
    (tmp_path / "logs").mkdir()
    h = _holder([str(tmp_path / "logs" / "*" / "app" / "app.log")], set())
    try:
        (tmp_path / "logs" / "n2" / "app").mkdir(parents=True)
        _rotations_held(h, tmp_path / "logs" / "n2" / "app")
    finally:
        h.stop()


def test_the_log_folder_renamed_and_made_again_is_watched_again(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "app.log").write_text("old\n")
    h = _holder([str(logs / "app.log")], {str(logs / "app.log")})
    try:
        os.rename(logs, tmp_path / "logs.old")
        logs.mkdir()
        _rotations_held(h, logs)
        # (what the old folder's watch reports now is no file of logs/: nothing of logs.old is held)
        assert all(x.path.startswith(str(logs) + "/") for x in h.take()[0])
    finally:
        h.stop()


def test_a_swapped_release_symlink_is_followed_to_the_new_folder(tmp_path):
    """A deployment's `current -> rel1` swapped to rel2 (ln -sfn: a new link renamed over the old)."""
    (tmp_path / "rel1" / "logs").mkdir(parents=True)
    (tmp_path / "rel1" / "logs" / "app.log").write_text("old\n")
    os.symlink("rel1", tmp_path / "current")
    glob = tmp_path / "current" / "logs" / "app.log"
    h = _holder([str(glob)], {str(glob)})
    try:
        (tmp_path / "rel2" / "logs").mkdir(parents=True)
        (tmp_path / "rel2" / "logs" / "app.log").write_text("new release\n")
        os.symlink("rel2", tmp_path / "current.tmp")
        os.rename(tmp_path / "current.tmp", tmp_path / "current")
        _wait_held(h, glob)  # the file there before the swap: found by the listing
        _rotations_held(h, tmp_path / "current" / "logs")
    finally:
        h.stop()


def test_a_folder_that_appeared_and_rotated_while_frozen_is_a_loss_naming_its_folder(tmp_path):
    """Frozen (the holder's thread held off: the kernel queues events) while a folder appears and its log rotates
    3 times past its one backup: 2 files deleted unseen, no event of theirs ever queued (no watch). What is left is
    held, and the loss is counted for the family, naming the folder (how many files: not knowable)."""
    (tmp_path / "logs" / "n1").mkdir(parents=True)
    h = _holder([str(tmp_path / "logs" / "*" / "app.log")], set())
    n2 = tmp_path / "logs" / "n2"
    try:
        with h.paused():
            n2.mkdir()
            for i in range(4):
                (n2 / "app.log").write_text(f"file {i}\n")
                if i < 3:
                    os.rename(n2 / "app.log", n2 / "app.log.1")
        held, escaped = h.take()
        assert sorted(x.path for x in held) == [str(n2 / "app.log"), str(n2 / "app.log.1")]
        assert escaped == {str(n2 / "app.log"): 1}
        esc = escaped[str(n2 / "app.log")]
        assert esc.least == 1 and esc.folder == str(n2)  # type: ignore[attr-defined]
    finally:
        h.stop()


def test_a_new_folder_with_no_rotation_before_its_watch_is_no_loss(tmp_path):
    """Made with its log while frozen, not rotated: nothing can have been deleted, nothing is named."""
    (tmp_path / "logs").mkdir()
    h = _holder([str(tmp_path / "logs" / "*" / "app.log")], set())
    try:
        with h.paused():
            (tmp_path / "logs" / "n2").mkdir()
            (tmp_path / "logs" / "n2" / "app.log").write_text("one\n")
        held, escaped = h.take()
        assert [x.path for x in held] == [str(tmp_path / "logs" / "n2" / "app.log")]
        assert escaped == {} and h.take_escaped() == {}
    finally:
        h.stop()


def test_a_folder_moved_in_with_its_old_backups_is_no_loss(tmp_path):
    """A folder filled elsewhere and renamed in (its backups older than its arrival): nothing rotated unwatched."""
    (tmp_path / "logs").mkdir()
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "app.log").write_text("one\n")
    (tmp_path / "archive" / "app.log.1").write_text("zero\n")
    h = _holder([str(tmp_path / "logs" / "*" / "app.log")], set())
    try:
        time.sleep(0.05)  # (the move's time past the files' own: the kernel's timestamps are coarse)
        with h.paused():
            os.rename(tmp_path / "archive", tmp_path / "logs" / "n2")
        held, escaped = h.take()
        assert len(held) == 2 and escaped == {}
    finally:
        h.stop()


def test_a_double_star_glob_adds_no_watch_per_folder_of_the_tree(tmp_path):
    """`root/**/app.log`: the folders where a folder can appear are the root (and its parent) and those on the
    way to the followed files' folders, not every folder of the tree (the watch budget)."""
    root = tmp_path / "root"
    for i in range(20):
        (root / f"other{i}" / "deep").mkdir(parents=True)
    (root / "x" / "y").mkdir(parents=True)
    fg = discovery.FolderGlobs([str(root / "**" / "app.log")], "/")
    assert fg.appear_folders({str(root / "x" / "y")}) == {str(tmp_path), str(root), str(root / "x")}
    assert fg.leads(str(root / "other3" / "deep" / "new")) == (True, True)  # (a new folder below one watched is)
    assert fg.leads(str(tmp_path / "elsewhere")) == (False, False)


def test_a_symlink_loop_in_a_new_folder_under_a_double_star_is_walked_once(tmp_path):
    """`root/**/app.log`: a folder made with `up -> ..` in it is watched once, not down the loop for ever."""
    root = tmp_path / "root"
    root.mkdir()
    h = _holder([str(root / "**" / "app.log")], set())
    try:
        with h.paused():
            (root / "new" / "sub").mkdir(parents=True)
            os.symlink("..", root / "new" / "sub" / "up")
            (root / "new" / "sub" / "app.log").write_text("one\n")
        assert [x.path for x in h.take()[0]] == [str(root / "new" / "sub" / "app.log")]
        assert not [f for f in h._watched if "/up" in f]
    finally:
        h.stop()


def test_a_watched_folder_renamed_to_another_matching_name_is_watched_under_its_new_name(tmp_path):
    """`logs/*/app.log`: logs/n1 renamed logs/n2: its files are held under logs/n2 from then on."""
    (tmp_path / "logs" / "n1").mkdir(parents=True)
    (tmp_path / "logs" / "n1" / "app.log").write_text("old\n")
    h = _holder([str(tmp_path / "logs" / "*" / "app.log")], {str(tmp_path / "logs" / "n1" / "app.log")})
    try:
        os.rename(tmp_path / "logs" / "n1", tmp_path / "logs" / "n2")
        _rotations_held(h, tmp_path / "logs" / "n2")
        assert all(x.path.startswith(str(tmp_path / "logs" / "n2") + "/") for x in h.take()[0])
        assert str(tmp_path / "logs" / "n1") not in h._watched
    finally:
        h.stop()
