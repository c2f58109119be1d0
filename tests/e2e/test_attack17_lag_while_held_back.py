"""Examiner attack13 (session 19, issue 13): while the reader is held back (the output down) and the log rotates, the
source's lag says 0. With the Fluentd output down and Debian's Log4j 1.2 rotating past MaxBackupIndex=1 (1.43 MB
written), /status said `lag_bytes` 0 while it held 14 deleted files unread (`held_bytes` 1,200,085), and its one
file line was `app.log`, `position 45879`, `size 41900`, `lag 0` (`shipper status`: "app.log: position 45879 of
41900 bytes, lag 0"): the read position of the rotated file the reader is in, set against the size of the new live
file (2 of 2 script runs; also "position 62370 of 57678 bytes, lag 0"). In this test (3 of 3) lag_bytes stays below
the held files' bytes alone (207,979 with 950,304 held; 426,987 with 750,240): the held files are not in the lag. An
operator watching lag during an outage sees a source nearly up to date.
Fixed (lead): the lag adds what the holder's files not taken by the tailer hold unread (Holder.unread_bytes), and a
followed file's size is at least its position and its size now (its size at its last read's end was shown while a
read held up by backpressure had moved the position on)."""
from __future__ import annotations

from tests.e2e.fluentd_agent import held_back_by_log4j, source_status
from tests.java.writers import compile_writers
from tests.support import read_steady


def test_lag_counts_what_the_held_back_reader_has_not_read(tmp_path, tmp_path_factory):
    classes = compile_writers(tmp_path_factory.getbasetemp() / "log4j-classes")
    with held_back_by_log4j(tmp_path, classes) as http:
        status = read_steady(lambda: source_status(http)["status"], lambda status: status["held_bytes"] > 0)
        assert status["held_bytes"] > 200_000, f"the holder should hold the deleted backups: {status}"
        files = [f"{f['path']}: position {f['position']} of {f['size']}" for f in status["files"] if f["position"] > f["size"]]
        assert not files, f"a read position beyond its file's size: {files}"
        assert status["lag_bytes"] >= status["held_bytes"], \
            f"lag_bytes {status['lag_bytes']} while {status['held_bytes']} bytes of deleted files are held unread"
