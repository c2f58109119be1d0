"""A log holding only its layout header, read, then rotated away (renamed, then compressed or deleted) before a scan:
the new file at the live name, beginning with the same header, is a new file, read whole with no word. (It was warned
"may be shipped again … renamed over it: `sed -i`" and its header counted as read again:
tests/tail/test_attack27_header_only_log_rotated_false_repeat.py, exam27a.) A file renamed over the one-line log is
still told (the kernel keeps the name a deleted file had when its last link went: the live name then)."""
from __future__ import annotations

import gzip
import logging
import os
import shutil

import pytest

from tests.tail.conftest import Follower

HEADER = b"#HEADER app v1 layout=json\n"


def _repeats(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "shipped again" in r.getMessage()]


@pytest.mark.parametrize("rotated", ["compressed", "deleted"])
def test_a_header_only_log_rotated_away_is_followed_by_a_new_file_with_no_word(tmp_path, caplog, rotated):
    live = tmp_path / "app.log"
    live.write_bytes(HEADER)
    f = Follower([live], tmp_path)
    f.poll(2)
    caplog.set_level(logging.WARNING)
    os.rename(live, tmp_path / "app.log.1")
    live.write_bytes(HEADER + b"".join(b'{"seq": %d}\n' % i for i in range(20)))
    if rotated == "compressed":
        with open(tmp_path / "app.log.1", "rb") as src, gzip.open(tmp_path / "app.log.1.gz", "wb") as gz:
            shutil.copyfileobj(src, gz)
    os.unlink(tmp_path / "app.log.1")
    f.poll(3)
    assert f.lines().count(HEADER.rstrip(b"\n")) == 2
    assert len(f.lines()) == 22
    assert not _repeats(caplog)


def test_a_file_renamed_over_the_header_only_log_is_still_told(tmp_path, caplog):
    live = tmp_path / "app.log"
    live.write_bytes(HEADER)
    f = Follower([live], tmp_path)
    f.poll(2)
    caplog.set_level(logging.WARNING)
    new = tmp_path / ".app.log.tmp"
    new.write_bytes(HEADER + b'{"seq": 0}\n')
    os.rename(new, live)  # `sed -i`, an editor saving by rename
    f.poll(3)
    assert _repeats(caplog)
