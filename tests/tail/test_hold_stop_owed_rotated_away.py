"""A file the holder never caught (its thread behind: the rotations outran it) is owed, and named an
escape once it has stayed owed SETTLE_SECONDS. When the agent stopped before that, Holder.take_at_stop
named only owed creations whose file it had found gone when it came to open its name (ENOENT). A file
created under the live name, rotated on and deleted while the holder was behind, left no such trace:
the holder opened its names late and found the newer files there. Every file now under the family's
names is held, so the owed one is certainly gone: the stop names it (before, neither it nor the next
start did)."""
from __future__ import annotations

import logging
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
        assert not escaped[log].budget  # its cause: the holder behind (the budget refused nothing)
        assert h.take_at_stop() == {}  # named once
    finally:
        h.stop()


def test_an_owed_creation_gone_is_named_while_another_is_still_there_unheld(tmp_path):
    """The same rotations with a budget of one file: app.log.1 is there, unheld (the budget full): one of the
    two owed creations, which the next start finds. The other is gone: named, certain. (Before, the stop left
    both to the next start while any file under the names was unheld, and the next start knew nothing of the
    gone one: a storm with `hold_max_files: 20` lost ~500 files and named 99-222 of them,
    tests/tail/test_attack14_storm_undercount.py.)"""
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
        assert len(h.held) == 1 and h.owing(), (h.held, h.owing())  # (app.log.1 still owed: on disk)
        assert escaped == {log: 1}, escaped
        assert escaped[log].least == 1  # certain: counted, not "possibly"
        assert escaped[log].budget  # its cause: the budget refused a file of the family meanwhile
        assert h.take_at_stop() == {}  # named once
    finally:
        h.stop()


def test_owed_creations_are_named_at_most_while_a_file_of_unknown_origin_is_there(tmp_path):
    """The same, and a backup that was there before the watch (app.log.3, nobody's creation, not followed): it may
    be an owed file too, as far as the holder knows. The gone one is named, as possibly lost ("at most 1 (at
    least 0)"), not left unnamed."""
    d = tmp_path / "logs"
    d.mkdir()
    log = str(d / "app.log")
    with open(log, "w") as fh:
        fh.write("read before\n")
    with open(log + ".3", "w") as fh:
        fh.write("an old backup\n")
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
        assert escaped == {log: 1}, escaped
        assert escaped[log].least == 0  # (app.log.3 may be it)
    finally:
        h.stop()


def test_the_warning_names_the_cause_the_holder_knows(tmp_path, caplog):
    """The escape warning said "(the agent frozen or stopped, the hold budget full, or rotations faster than it)"
    whatever happened; it names the budget where the budget refused a file of the family, else the holder behind."""
    from shipper.tail.holder import Escapes
    from tests.tail.test_live import Live

    log = str(tmp_path / "app.log")
    t = Live(tmp_path, [log]).source.tailer
    t.prospector.families.add(log)
    caplog.set_level(logging.WARNING)
    t.ledger.escapes({log: Escapes(3, 3, budget=True)}, t.prospector.families)
    t.ledger.escapes({log: Escapes(2, 2)}, t.prospector.families)
    budget, behind = [r.getMessage() for r in caplog.records]
    assert "were in 3 rotated file(s)" in budget and "the hold budget was full" in budget, budget
    assert "hold_max_files" in budget and "faster" not in budget, budget
    assert "were in 2 rotated file(s)" in behind and "rotations faster than the agent" in behind, behind
    assert "budget" not in behind, behind
