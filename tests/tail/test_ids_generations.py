"""Record keys ("<file id>:<offset>", hashed into the stable event ids) of files that share a header
line: a content replaced on its inode (truncated in place and written again, or the inode given to a
new file) never gets the keys of the content it replaced, however long ago that one was forgotten; and
the same bytes read again (a replay from an older checkpoint) get the keys they had.

Each line written is unique, so a key that names two different lines is an id that a tier deduplicating
by id (stdout's id_field, Fluentd's _shipper_id, Elasticsearch) takes for a repeat and drops."""
from __future__ import annotations

import copy
import os
from collections import defaultdict

import pytest

from shipper.tail import scan_rules
from tests.tail.conftest import Follower
from tests.tail.test_files import write
from tests.tail.test_identity import reuse_inode

HEADER = "# time level logger message"


@pytest.fixture
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)


def lines(lo: int, hi: int) -> list[str]:
    return [f"line {i}" for i in range(lo, hi)]


def keys_naming_two_lines(*followers: Follower) -> dict[str, set[bytes]]:
    named = defaultdict(set)
    for f in followers:
        for key, line, _flags in f.records:
            named[key].add(line)
    return {k: v for k, v in named.items() if len(v) > 1}


def key_of(f: Follower) -> dict[bytes, str]:
    return {line: key for key, line, _flags in f.records}


def truncate_and_write(log, lo: int, hi: int) -> None:
    with open(log, "r+") as fh:
        fh.truncate(0)
    write(log, HEADER, *lines(lo, hi))


def test_a_truncated_file_seen_empty_and_forgotten_across_a_restart_gets_keys_of_its_own(tmp_path, fast_missing):
    """Truncated while followed and seen empty: the old content is called lost and forgotten, the agent
    restarts while the file is still empty (its placeholder is all that names the inode), and then the
    writer starts again, header first. The new lines get new keys: the placeholder kept the old content's
    id to name the new one after."""
    log = tmp_path / "app.log"
    write(log, HEADER, *lines(0, 50))
    f = Follower([log], tmp_path)
    f.poll()
    old = f.state.copy()
    with open(log, "r+") as fh:
        fh.truncate(0)
    f.settle()  # the old content is looked for, called lost and forgotten
    assert not set(old) & set(f.state) - {k for k in old if not k.startswith("f:")}, f.state
    f.restart()
    f.poll()
    write(log, HEADER, *lines(100, 150))
    f.settle()
    assert [r for r in f.lines() if not r.startswith(b"#")] == [x.encode() for x in lines(0, 50) + lines(100, 150)]
    assert not keys_naming_two_lines(f)


@pytest.mark.parametrize("new_lines", [30, 50, 80], ids=["shorter", "as-long", "longer"])
def test_a_file_truncated_while_stopped_after_an_earlier_truncation_gets_keys_of_its_own(tmp_path, fast_missing,
                                                                                         new_lines):
    """Two generations after the first: truncated while followed (its first content forgotten), then
    truncated and written again while the agent is stopped. The third content is named after the second,
    not given the first one's keys back (as a fresh identity of the same inode and header would be)."""
    log = tmp_path / "app.log"
    write(log, HEADER, *lines(0, 50))
    f = Follower([log], tmp_path)
    f.poll()
    truncate_and_write(log, 100, 150)
    f.settle()
    f.tailer.close()
    truncate_and_write(log, 200, 200 + new_lines)
    f.restart()
    f.settle()
    got = [r for r in f.lines() if not r.startswith(b"#")]
    assert got == [x.encode() for x in lines(0, 50) + lines(100, 150) + lines(200, 200 + new_lines)]
    assert not keys_naming_two_lines(f)


@pytest.mark.parametrize("seen_empty", [True, False], ids=["seen-empty", "seen-rewritten"])
def test_the_same_bytes_keep_their_keys_whether_the_truncation_was_seen_live_or_after_a_restart(tmp_path, fast_missing,
                                                                                                seen_empty):
    """Exactly-once by id rests on this: a replay (a kill -9 before the checkpoint of what was delivered was
    committed; here the checkpoint of before the truncation restored) reads the same bytes again, and they
    must get the keys they were delivered with. The truncation is seen live the first time (the file seen
    empty, or already written again) and only after the restart the second time."""
    log = tmp_path / "app.log"
    write(log, HEADER, *lines(0, 50))
    first = Follower([log], tmp_path)
    first.poll()
    before = copy.deepcopy(first.state)
    with open(log, "r+") as fh:
        fh.truncate(0)
    if seen_empty:
        first.poll()
    write(log, HEADER, *lines(100, 160))
    first.poll(2)
    first.tailer.close()
    delivered = key_of(first)
    assert all(x.encode() in delivered for x in lines(100, 160)), first.lines()

    replay = Follower([log], tmp_path)  # from the checkpoint of before the truncation
    replay.tailer.close()
    replay.state = before
    replay.restart()
    replay.poll(2)
    again = key_of(replay)
    assert {x: again.get(x.encode()) for x in lines(100, 160)} == {x: delivered[x.encode()] for x in lines(100, 160)}
    assert not keys_naming_two_lines(first, replay)


def test_an_inode_given_to_a_new_file_with_the_same_header_gets_keys_of_its_own(ext4_tmp, monkeypatch):
    """ext4 gives a deleted file's inode to the next file made: a family that shares a header line (a CSV
    header, a Log4j layout header) then has a new file with the old one's inode and head. Once the old
    one's tombstone is gone (an hour after it was read to its end and deleted), nothing remembered its
    name: the new file got it again, and with it the old lines' keys. The inode's generation tells them."""
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    monkeypatch.setattr(scan_rules, "TOMBSTONE_SECONDS", 0.0)
    monkeypatch.setattr(scan_rules, "DELETED_GRACE", 0.0)
    d = ext4_tmp
    log = d / "a.log"
    write(log, HEADER, *lines(0, 50))
    f = Follower([d / "*.log"], d)
    f.poll()
    ino = os.stat(log).st_ino
    os.unlink(log)
    f.settle()  # read to its end, let go, its tombstone gone
    assert not [k for k in f.state if k.startswith("f:")], f.state
    new = reuse_inode(d, ino)
    assert new is not None, "ext4 did not give the freed inode to the next file"
    os.rename(new, d / "b.log")
    write(d / "b.log", HEADER, *lines(100, 150))
    f.settle()
    assert [r for r in f.lines() if not r.startswith(b"#")] == [x.encode() for x in lines(0, 50) + lines(100, 150)]
    assert not keys_naming_two_lines(f)
