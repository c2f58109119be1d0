"""The holder's budget and new files (attack 12: a glob gaining 1,000 files at once). A file the budget leaves
unheld under its live name is not lost while it is there: the tailer's scan that has it pays its creation, and one
deleted before any scan is still an escape. A quarter of the budget is kept for rotated names: a backup can be
deleted at any moment, a new file under its name is found by the next scan. The holder's thread is stopped, as
SIGSTOP stops it, while the kernel queues the events (`paused`); thawed, it handles them at once."""
from __future__ import annotations

import os

from shipper.tail.holder import Holder, generation


def started_holder(folder, families: set[str], max_files: int) -> Holder:
    h = Holder(max_files=max_files)
    h.settle = 0  # what is owed is an escape once it outlasts one take (not 3 s)
    assert h.start()
    h.follow(families, {}, {str(folder)}, lambda p: p.endswith(".log"))
    return h


def taken(h: Holder) -> tuple[list, dict]:
    held, escaped = h.take()
    _, later = h.take()  # what is owed is reported once it outlasts one take
    return held, {k: escaped.get(k, 0) + later.get(k, 0) for k in escaped.keys() | later.keys()}


def opened(paths) -> dict:
    """The tailer's view: the files it has open now, by inode (its family, its generation)."""
    fds = {p: os.open(p, os.O_RDONLY) for p in paths}
    known, generations = {}, {}
    for p, fd in fds.items():
        st = os.fstat(fd)
        known[(st.st_dev, st.st_ino)] = str(p)
        generations[(st.st_dev, st.st_ino)] = generation(fd)
        os.close(fd)
    return {"known": known, "generations": generations}


def test_new_files_beyond_the_budget_found_by_the_tailer_are_no_escape_one_deleted_is(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    h = started_holder(logs, set(), max_files=4)
    try:
        with h.paused():
            for k in range(10):
                (logs / f"f{k}.log").write_text(f"{k}\n")
        assert len(h.held) == 3  # (a quarter kept for rotated names)
        os.unlink(logs / "f9.log")  # unheld, and gone before the tailer's scan had it: an escape
        kept = sorted(str(p) for p in logs.iterdir())
        h.follow(set(kept), opened(kept)["known"], {str(logs)}, lambda p: p.endswith(".log"),
                 opened(kept)["generations"])
        _, escaped = taken(h)
        assert escaped == {str(logs / "f9.log"): 1}, escaped
        assert not h.owing()
    finally:
        h.stop()


def test_a_new_file_the_tailer_met_before_the_holder_read_its_creation_is_no_escape(tmp_path):
    """The holder lags: the tailer's scan finds the new files first (a family's first sight), then the holder
    reads their IN_CREATE (with room or not): each creation is paid by the file found under its name."""
    logs = tmp_path / "logs"
    logs.mkdir()
    h = started_holder(logs, set(), max_files=4)
    try:
        with h.paused():
            for k in range(10):
                (logs / f"f{k}.log").write_text(f"{k}\n")
            kept = sorted(str(p) for p in logs.iterdir())
            seen = opened(kept)
            h.follow(set(kept), seen["known"], {str(logs)}, lambda p: p.endswith(".log"), seen["generations"])
        _, escaped = taken(h)
        assert escaped == {} and not h.owing(), escaped
    finally:
        h.stop()


def test_with_the_budget_full_of_new_files_a_rotated_backup_is_still_held(tmp_path):
    """1,000 new files filled the budget, and a rotating log's backup, deleted before it was read, was lost
    (named). Files under their live name may take three quarters of the budget; the rest is for rotated names."""
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    live.write_text("before\n")
    h = started_holder(logs, {str(live)}, max_files=8)
    try:
        with h.paused():
            for k in range(20):
                (logs / f"f{k:02d}.log").write_text(f"{k}\n")
            os.rename(live, logs / "app.log.1")  # the rotation (logrotate create)
            live.write_text("after\n")
        held = {os.path.basename(x.path): x for x in h.held.values()}
        assert "app.log.1" in held, sorted(held)
        assert len(held) == 7  # 6 new files (the budget less its quarter), and the backup
        os.unlink(logs / "app.log.1")  # deleted before the tailer read it: still readable held
        assert os.pread(held["app.log.1"].fd, 100, 0) == b"before\n"
    finally:
        h.stop()
