"""A rotating log pulled by a sync tool (rsync -a: each changed file copied beside it and renamed over it). When
the remote log grew, then rotated since the last pull, one pull brings a new app.log (the remote's next file) and
a new app.log.1: what was read of the followed app.log and the lines the remote wrote before rotating, which are in
no other file. The followed file is deleted (replaced); app.log.1 holds all of it and more. It was taken for a
copy of the deleted file (its first bytes are that file's) and left alone: the lines past what was read never
read, without a word (attack 16, tests/tail/test_attack16_rsync_pulled_rotation.py: 20 of 140 lines, 4 of 4). It
is that content, read on from where the reading was."""
from __future__ import annotations

import json
import os
import shutil
from collections import Counter

from tests.tail.conftest import Follower


def test_a_rotation_pulled_whole_is_read_on_from_the_rotated_copy(tmp_path):
    remote, local = tmp_path / "remote", tmp_path / "logs"
    remote.mkdir()
    local.mkdir()
    seq = 0

    def write(n: int) -> None:
        nonlocal seq
        with open(remote / "app.log", "a") as fh:
            for _ in range(n):
                fh.write(json.dumps({"seq": seq, "msg": "x" * 60}) + "\n")
                seq += 1

    def pull() -> None:  # the names in order, as rsync does: app.log before app.log.1
        for name in sorted(os.listdir(remote)):
            tmp = local / f".{name}.Xy12Ab"
            shutil.copyfile(remote / name, tmp)
            os.rename(tmp, local / name)

    write(100)
    pull()
    f = Follower([local / "app.log"], local)
    try:
        f.poll()
        assert len(f.records) == 100
        write(20)  # the remote's last lines before it rotates
        os.rename(remote / "app.log", remote / "app.log.1")
        write(20)  # its next file
        pull()
        f.poll(3)
        got = Counter(json.loads(r)["seq"] for _, r, _ in f.records)
        assert sorted(got) == list(range(seq)), f"never read: {sorted(set(range(seq)) - set(got))}"
        assert sum(got.values()) == seq, "lines read twice"
    finally:
        f.tailer.close()
