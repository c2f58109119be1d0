"""The compressed copy of a file read past its shared header is no candidate for a content of which only that header
was read: what was read of the file proves the copy its own, whatever the file holds now — deleted and closed over
the descriptor budget during a scan (torture seed 170007, an examiner's, `--overtaken`: 32 lines twice, silently),
or truncated and written again, its cut not seen until it is read (seed 182212: 33 lines twice, silently).
(Compared only with the file's bytes now, the copy was taken for the header-only content and read from after the
header.)"""
from __future__ import annotations

import dataclasses
import gzip
import os
import shutil

from tests.tail.conftest import Follower
from tests.tail.test_files import write

HEADER = "# time level logger message"


def test_the_gz_of_a_deleted_file_closed_over_the_budget_is_its_copy(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER, *[f"line {i}" for i in range(5)])
    f = Follower([log], d, max_open=3)
    try:
        f.poll()  # read past the header, to its end
        os.rename(log, d / "app.log.1")  # logrotate `create` + `compress`: the .gz made, the plain file deleted
        with open(d / "app.log.1", "rb") as src, gzip.open(d / "app.log.1.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.unlink(d / "app.log.1")
        write(log, HEADER)  # the writer's next file: its header only
        f.poll()
        p = f.tailer.prospector
        deleted = next(x for x in p.files.values() if x.deleted)
        assert deleted.fh is not None and deleted.state is not None and deleted.state.offset > deleted.state.head_len
        header_only = next(x.state for x in p.files.values() if not x.deleted)
        assert header_only is not None and header_only.offset == header_only.head_len
        p.fds.max_open = 1
        p.fds._close_over_budget()  # as an open during a scan does: the deleted file, idle at its end, closed
        assert deleted.fh is None
        gz = next(o for o in p.observe().values() if o.path.endswith(".gz"))
        assert not p.matcher.head_only_candidate(header_only, gz)
    finally:
        f.tailer.close()


def test_the_gz_of_a_file_cut_and_written_again_is_its_copy(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER, *[f"line {i}" for i in range(5)])
    f = Follower([log], d)
    try:
        f.poll()  # read past the header, to its end
        shutil.copyfile(log, d / "app.log.1")  # copytruncate + compress; the writer gives its header again
        os.truncate(log, 0)
        write(log, HEADER, "line 5")
        with open(d / "app.log.1", "rb") as src, gzip.open(d / "app.log.1.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.unlink(d / "app.log.1")
        p = f.tailer.prospector
        live = next(iter(p.files.values()))
        assert live.state is not None and live.state.offset > live.state.head_len
        # another content with that header, of which only the header was read (a header-only file let loose)
        header_only = dataclasses.replace(live.state, fid="another", ino=live.state.ino + 1,
                                          offset=live.state.head_len, size=live.state.head_len)
        gz = next(o for o in p.observe().values() if o.path.endswith(".gz"))
        assert not p.matcher.head_only_candidate(header_only, gz)
    finally:
        f.tailer.close()
