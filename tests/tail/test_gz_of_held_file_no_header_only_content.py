"""The compressed copy of a file the holder caught at the live name is not the content of which only a shared header
was read (torture seed 192068, `--overtaken`, with the holder). A backup holding only the header the family's files
share (an empty log rotated with its header), read to its end and closed, was deleted by the next rotation; at the
same scan the writer's next file, caught by the holder as it was rotated away and compressed before any scan saw it,
was found twice: held, as a new file read from 0, and as its `.gz`, under a rotated name. The `.gz` was the one
candidate for the header-only content (a `.gz` of the family holding its head), so it was read on from after the
header: every line of that file shipped twice, silently. A copy of a file at the live name is no candidate
(Matcher.head_only_candidate): the file the holder caught there was at the live name too. The holder stepped by the
test, its thread held off."""
from __future__ import annotations

import contextlib
import gzip
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from tests.tail.stepped_holder import SteppedHolder, stepped_holder
from tests.tail.test_files import write

HEADER = "# time level logger message (a header every file shares)"


def rotate_compressed(log: str, new_live: bool = True) -> None:
    """logrotate `rotate 1` `compress`: the old `.gz` deleted, the live file renamed and compressed, a new live file
    with the header (or none yet: the writer makes it at its next line)."""
    if os.path.exists(f"{log}.1.gz"):
        os.unlink(f"{log}.1.gz")
    os.rename(log, f"{log}.1")
    with open(f"{log}.1", "rb") as src, gzip.open(f"{log}.1.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(f"{log}.1")
    if new_live:
        write(log, HEADER)


@contextlib.contextmanager
def header_only_backup(d: Path) -> Iterator[SteppedHolder]:
    """Folder `d` made, its app.log followed with a stepped holder: the family's first file, holding only the
    header, read, closed and rotated (its `.gz` holds the header only, no live file yet), and scanned."""
    d.mkdir()
    log = str(d / "app.log")
    write(log, HEADER)
    with stepped_holder(log, d) as h:
        h.scan_and_read()
        h.close_followed()
        rotate_compressed(log, new_live=False)
        h.scan_and_read()
        yield h


def test_the_gz_of_a_held_file_is_not_taken_by_a_header_only_content(tmp_path):
    with header_only_backup(tmp_path / "logs") as h:
        f, log = h.f, h.log
        (backup,) = f.tailer.files.values()
        assert backup.gz and backup.state is not None and backup.state.offset == backup.state.head_len
        h.close_followed()
        write(log, HEADER, "seq 1", "seq 2", "seq 3")  # the writer's next file, never scanned
        h.turn()
        rotate_compressed(log)  # the header-only .gz deleted; the next file held, and compressed
        h.turn()
        for _ in range(3):
            h.scan_and_read()
        lines = [x for x in f.lines() if x != HEADER.encode()]
        assert sorted(lines) == [b"seq 1", b"seq 2", b"seq 3"], lines


def test_a_held_file_on_the_inode_of_a_closed_followed_file_is_not_named_after_it(ext4_tmp):
    """Torture seed 192045 (`--overtaken`, with the holder: 39 lines twice, warned as possible repeats): the same,
    but the writer's next file was made on the inode of a followed file, closed and deleted since (ext4 gives a
    freed inode to the next file). The held file was named after that followed file, not as one caught at the live
    name, so its `.gz` was still a candidate for the header-only content. Held under a name of its own now."""
    with header_only_backup(ext4_tmp / "logs") as h:
        f, log = h.f, h.log
        write(log, HEADER, "seq 0")
        h.scan_and_read()  # the next live file, read
        h.close_followed()
        followed = os.stat(log).st_ino
        rotate_compressed(log)  # the header-only .gz and the file read deleted; the next live file made
        assert os.stat(log).st_ino == followed  # (on the freed inode of the file read)
        write(log, "seq 1", "seq 2", "seq 3")
        h.turn()
        rotate_compressed(log)  # held, and compressed
        h.turn()
        for _ in range(3):
            h.scan_and_read()
        lines = [x for x in f.lines() if x != HEADER.encode()]
        assert sorted(lines) == [b"seq 0", b"seq 1", b"seq 2", b"seq 3"], lines
