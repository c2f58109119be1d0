"""The holder and new files (issue 13: a new glob-matched file created and deleted while the agent is
frozen was lost silently — the holder watched followed families only). The holder's thread is
stopped, as SIGSTOP stops it, while the kernel queues the events; thawed, it reads them at once."""
from __future__ import annotations

import os

from shipper.tail import discovery
from shipper.tail.holder import Holder


def started_holder(folder: str, families: set[str], match) -> Holder:
    h = Holder(max_files=100)
    h.settle = 0  # what is owed is an escape once it outlasts one take (not 3 s)
    assert h.start()
    h.follow(families, set(), {folder}, match)
    return h


def taken(h: Holder) -> tuple[list, dict]:
    held, escaped = h.take()
    _, later = h.take()  # what is owed is reported once it outlasts one take
    return held, {k: escaped.get(k, 0) + later.get(k, 0) for k in escaped.keys() | later.keys()}


def test_new_file_created_and_deleted_while_frozen_is_an_escape_a_kept_one_is_held(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    pattern = [f"{logs}/*.log"]
    h = started_holder(str(logs), set(), lambda p: discovery.glob_matches(p, pattern, ["skip*"], "/"))
    try:
        with h.paused():  # frozen: the kernel queues the events; handled at the end
            (logs / "gone.log").write_text("1\n2\n")
            os.unlink(logs / "gone.log")
            (logs / "kept.log").write_text("3\n")
            (logs / "moved.log").write_text("4\n")
            os.rename(logs / "moved.log", logs / "moved.txt")  # moved out of the globs unread: an escape too
            (logs / "skip.log").write_text("excluded\n")  # excluded: not the source's
            (logs / ".hidden.log").write_text("a glob's * does not match a leading dot\n")
            (logs / "other.txt").write_text("no glob matches it\n")
            os.unlink(logs / "skip.log")
            os.unlink(logs / ".hidden.log")
            os.unlink(logs / "other.txt")
        held, escaped = taken(h)
        assert [os.path.basename(x.path) for x in held] == ["kept.log"]
        assert escaped == {str(logs / "gone.log"): 1, str(logs / "moved.log"): 1}
        assert not h.owing()
    finally:
        h.stop()


def test_queue_overflow_names_the_folders_where_new_files_may_have_escaped(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = str(logs / "app.log")
    open(live, "w").close()
    h = started_holder(str(logs), {live}, lambda p: p.endswith(".log"))
    try:
        with open("/proc/sys/fs/inotify/max_queued_events") as f:
            limit = int(f.read())
        with h.paused():
            for i in range(limit + 10):  # one IN_CREATE each: more than the queue holds
                os.close(os.open(logs / f"n{i}", os.O_CREAT | os.O_WRONLY, 0o644))
        taken(h)
        assert h.overflows == 1
        assert h.take_overflowed() == {str(logs)}
        assert h.take_overflowed() == set()  # reported once
    finally:
        h.stop()
