"""Black-box attack 5: a growing log kept in step by a sync tool (the README's Databricks PT1H.json blobs "synced
to disk" under a `**` glob; rsync, rclone and azcopy all do it this way): at each sync the changed file is
written whole to a hidden temporary file beside it, its mtime kept, and renamed over the old one. The new inode
holds exactly the old bytes and then the new lines. Found (deterministic, 3 runs of 3): after 5 syncs of 10 new
lines each, 120 lines were shipped for 60 — 50 of them twice — with no warning. The old inode was read to its
end and is gone; nothing is lost by reading only what the new one holds past it."""
from __future__ import annotations

import os
import shutil
import time

import pytest

from tests.tail.attack_agent import Agent, exactly_once, numbered

pytestmark = pytest.mark.slow


def sync(blob, dst) -> None:
    """What rsync -a does with a changed file: a new copy in a hidden temp file, mtime kept, renamed over."""
    tmp = dst.parent / f".{dst.name}.Xy12Ab"
    shutil.copyfile(blob, tmp)
    st = blob.stat()
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.rename(tmp, dst)


def test_file_replaced_by_a_longer_copy_of_itself_repeats_nothing(tmp_path):
    src = tmp_path / "storage"
    src.mkdir()
    dst = tmp_path / "synced" / "y=2026" / "m=12" / "h=01"
    dst.mkdir(parents=True)
    blob = src / "PT1H.json"
    blob.write_text("".join(numbered(i) for i in range(10)))
    sync(blob, dst / "PT1H.json")
    agent = Agent(tmp_path, [f"{tmp_path}/synced/**/PT1H.json"])
    agent.start()
    try:
        assert agent.wait_delivered(range(10))
        n = 10
        for _ in range(5):
            with open(blob, "a") as f:  # the blob grows, the next sync brings it over
                f.write("".join(numbered(i) for i in range(n, n + 10)))
            n += 10
            sync(blob, dst / "PT1H.json")
            assert agent.wait_delivered(range(n))
            time.sleep(1)
        time.sleep(2)
    finally:
        assert agent.stop() == 0
    assert exactly_once(agent.seqs(), range(n)) == ""
