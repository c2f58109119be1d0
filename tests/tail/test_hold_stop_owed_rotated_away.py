"""A file the holder never caught (its thread behind: the rotations outran it) is owed, and named an
escape once it has stayed owed SETTLE_SECONDS. When the agent stopped before that, Holder.take_at_stop
named only owed creations whose file it had found gone when it came to open its name (ENOENT). A file
created under the live name, rotated on and deleted while the holder was behind, left no such trace:
the holder opened its names late and found the newer files there. Every file now under the family's
names is held, so the owed one is certainly gone: the stop names it (before, neither it nor the next
start did)."""
from __future__ import annotations

import os

from shipper.tail.holder import Holder


def _rotate(log: str, text: str) -> None:
    """Log4j MaxBackupIndex=1: the backup deleted, the live file renamed to it, a new live file."""
    if os.path.exists(log + ".1"):
        os.unlink(log + ".1")
    os.rename(log, log + ".1")
    with open(log, "w") as fh:
        fh.write(text)


def test_a_file_rotated_away_unheld_just_before_a_stop_is_named(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    log = str(d / "app.log")
    with open(log, "w") as fh:
        fh.write("read before\n")
    h = Holder()
    assert h.start()
    hub = h._hub
    try:
        h.follow({log}, set())
        with hub._reading:  # the holder's thread reads nothing meanwhile: the events stay in the kernel
            _rotate(log, "lost: never held, deleted by the next rotation\n")
            _rotate(log, "held\n")
            _rotate(log, "held too\n")
            escaped = h.take_at_stop()  # the stop comes now (reentrant: it reads the queue in this thread)
        # (On disk: app.log and app.log.1, both held; the first new file is gone, read by nobody.)
        assert escaped == {log: 1}, f"owed at the stop ({h.owing()}), named: {escaped}"
        assert escaped[log].least == 1  # certain: counted, not "possibly"
        assert h.take_at_stop() == {}  # named once
    finally:
        h.stop()


def test_an_owed_creation_is_left_to_the_next_start_while_a_file_under_the_names_is_not_held(tmp_path):
    """The same rotations with a budget of one file: app.log.1 is there, unheld (the budget full). The owed
    creations may be that file, which the next start finds: the stop names none of them."""
    d = tmp_path / "logs"
    d.mkdir()
    log = str(d / "app.log")
    with open(log, "w") as fh:
        fh.write("read before\n")
    h = Holder(max_files=1)
    assert h.start()
    hub = h._hub
    try:
        h.follow({log}, set())
        with hub._reading:
            _rotate(log, "lost: never held, deleted by the next rotation\n")
            _rotate(log, "on disk, unheld\n")
            _rotate(log, "held\n")
            escaped = h.take_at_stop()
        assert len(h.held) == 1 and h.owing(), (h.held, h.owing())
        assert escaped.get(log, 0) == 0, escaped
    finally:
        h.stop()
