"""Attack found with a real `shipper run` under logrotate: a warning "were in 1 rotated file(s)
that appeared and were gone before they could be held" while nothing was lost. The tailer's scan
can open a new live file before the holder's thread handles its creation event; the holder then
finds it known and must count it as seen, not as escaped."""
from __future__ import annotations

import os

from shipper.tail.holder import Holder


def test_a_file_the_tailer_opened_first_is_not_an_escape(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    log = str(d / "app.log")
    h = Holder(max_files=100)
    assert h.start()
    try:
        h.follow({log}, set())
        with h.paused():  # the holder's thread is late (as under load): events wait in the kernel
            with open(log, "w") as fh:  # the live file created …
                fh.write("line 1\n")
            st = os.stat(log)
            h.follow({log}, {(st.st_dev, st.st_ino)})  # … and followed by the tailer's scan first
        held, escaped = h.take()
        assert escaped == {}, escaped
        assert held == []  # the tailer has it: not held twice
    finally:
        h.stop()
