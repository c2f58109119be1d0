"""Issue 13 item 1: while the agent runs, no rotated file escapes it. Files appearing in a followed
family are held open at once by the holder's own thread, even while reading is blocked by
backpressure; what escapes anyway (budget full, agent frozen) is a counted loss naming the family."""
from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import textwrap
import threading
import time

from shipper.tail.holder import Escapes, Holder
from tests.support import wait
from tests.tail.conftest import assert_exactly_once
from tests.tail.test_live import WAIT, Live


def rotate(log: str, backups: int) -> None:
    """Log4j 1.2 RollingFileAppender's rollover: delete .N, shift the others, rename the live file."""
    if os.path.exists(f"{log}.{backups}"):
        os.unlink(f"{log}.{backups}")
    for i in range(backups - 1, 0, -1):
        if os.path.exists(f"{log}.{i}"):
            os.rename(f"{log}.{i}", f"{log}.{i + 1}")
    os.rename(log, f"{log}.1")


def write_rotating(log: str, start: int, n: int, per_file: int, backups: int, pause: float = 0.0) -> None:
    fh = open(log, "a")
    for i in range(start, start + n):
        fh.write(json.dumps({"seq": i}) + "\n")
        if (i + 1) % per_file == 0:
            fh.close()
            rotate(log, backups)
            fh = open(log, "a")
            if pause:
                time.sleep(pause)
    fh.close()


class Gate(Live):
    """The output is down while the gate is shut: emit blocks, as backpressure does."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.open = threading.Event()
        self.open.set()

    def _emit(self, batch):
        self.open.wait()
        super()._emit(batch)


def seqs(live) -> list[int]:
    return [json.loads(r)["seq"] for r in live.lines()]


def test_output_down_while_rotation_outruns_max_backup_index_loses_nothing(tmp_path, caplog):
    d = tmp_path / "logs"
    d.mkdir()
    log = str(d / "app.log")
    open(log, "w").close()
    live = Gate(tmp_path, [log], poll_interval=0.2, gather_interval=0.02).start()
    write_rotating(log, 0, 50, 1000, 2)
    live.wait_for(50)
    live.open.clear()  # the output goes down
    write_rotating(log, 50, 1, 1000, 2)  # the reader blocks on this line
    deadline = time.monotonic() + WAIT
    while live.source.holder is None and time.monotonic() < deadline:
        time.sleep(0.05)
    # 30 rotations with MaxBackupIndex=2 while reading is blocked: 28 files created and deleted unread
    with caplog.at_level(logging.WARNING):
        write_rotating(log, 51, 3000 - 51, 100, 2, pause=0.01)
        # (The holder's thread, behind under load, opens the last rotated files after the writer ends: waited for,
        # not a fixed 0.5 s, which under load sampled 19 or fewer once.)
        wait(lambda: live.source.status()["held_files"] >= 20, WAIT)
        held = live.source.status()["held_files"]
        live.open.set()
        live.wait_for(3000, timeout=WAIT * 2)
        time.sleep(1.0)
    live.close()
    assert held >= 20, held
    got = seqs(live)
    msgs = [r.getMessage() for r in caplog.records if "lost" in r.getMessage()]
    missing = set(range(3000)) - set(got)
    if missing:
        # Seen once in CI at load ~10 (session 6): a file lives three rotations (some 30 ms here), and a
        # holder thread starved of the CPU that long lets it escape. That loss is counted and warned
        # (as a random search of writer speeds under load showed, every escape counted exactly): what
        # must never be is a silent one, or a line that is not part of a whole escaped file.
        files = {s // 100 for s in missing}
        assert missing == {s for f in files for s in range(100 * f, 100 * f + 100)}, sorted(missing)[:10]
        warned = sum(int(m.group(1)) for m in (re.search(r"were in (?:at most )?(\d+) rotated file", x)
                                                for x in msgs) if m)
        assert warned >= len(files), (sorted(files), msgs)
    assert_exactly_once([s for s in got if s not in missing], set(range(3000)) - missing)
    if not missing:
        assert live.source.tailer.losses == 0, msgs


def test_budget_full_is_a_counted_loss_naming_the_family(tmp_path, caplog):
    d = tmp_path / "logs"
    d.mkdir()
    log = str(d / "app.log")
    open(log, "w").close()
    live = Gate(tmp_path, [log], poll_interval=0.2, gather_interval=0.02, hold_max_files=3).start()
    write_rotating(log, 0, 10, 1000, 2)
    live.wait_for(10)
    live.open.clear()
    write_rotating(log, 10, 1, 1000, 2)
    with caplog.at_level(logging.WARNING):
        write_rotating(log, 11, 1000 - 11, 50, 2, pause=0.01)
        time.sleep(0.5)
        live.open.set()
        deadline = time.monotonic() + WAIT
        while live.source.tailer.losses == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
    live.close()
    got = seqs(live)
    assert len(got) == len(set(got)), "a line was read twice"
    assert len(got) < 1000  # some files escaped the budget …
    assert live.source.tailer.losses >= 1  # … and that is said
    msgs = [r.getMessage() for r in caplog.records]
    assert any("budget for holding rotated files is full" in m for m in msgs)
    assert any(m.startswith(f"data lost: an unknown number of bytes of {log} ") and "held" in m for m in msgs), msgs


def test_holder_counts_files_created_while_frozen(tmp_path):
    """The holder's thread stopped (as SIGSTOP stops it) while the live name is created 5 times:
    the files it can still open are held, the others are counted as escaped for the family."""
    d = tmp_path / "logs"
    d.mkdir()
    log = str(d / "app.log")
    open(log, "w").close()
    h = Holder(max_files=100)
    h.settle = 0  # what is owed is an escape once it outlasts one take (not 3 s)
    assert h.start()
    h.follow({log}, set())
    with h.paused():  # frozen: the kernel queues events; thawed at the end, they are handled at once
        for i in range(5):
            rotate(log, 2)
            with open(log, "w") as fh:
                fh.write(f"file {i}\n")
    held, escaped = h.take()
    _, later = h.take()  # what is owed is reported once it outlasts one take (a catch may come late)
    # alive now: app.log, .1, .2 (3 files); created: 5 under the live name
    assert len(held) == 3
    assert {k: escaped.get(k, 0) + later.get(k, 0) for k in escaped.keys() | later.keys()} == {log: 2}
    h.stop()


def test_a_lagging_holder_meeting_files_before_their_creation_is_read_calls_nothing_escaped(tmp_path):
    """A holder that reads a batch and handles it late opens names that hold newer files by then:
    those files were caught before their own IN_CREATE was read (in the next batch). Every file was
    held, yet that next batch's creations found their files credited already, and one was called
    escaped ("1 rotated file(s) … gone before they could be held", every line delivered)."""
    d = tmp_path / "logs"
    d.mkdir()
    log = str(d / "app.log")
    h = Holder(max_files=100)
    h.settle = 0
    assert h.start()
    hub = h._hub
    try:
        h.follow({log}, set())

        def the_thread_holds_a_batch() -> bool:
            if hub._reading.acquire(blocking=False):
                hub._reading.release()
                return False
            return True

        with hub._reading:  # the first batch: file A made under the live name and rotated
            with open(log, "w") as fh:
                fh.write("A\n")
            rotate(log, 2)
        with h._lock:  # the thread reads that batch, and waits here to handle it
            deadline = time.monotonic() + WAIT
            while not the_thread_holds_a_batch() and time.monotonic() < deadline:
                time.sleep(0.01)
            assert the_thread_holds_a_batch()
            for name in "BC":  # meanwhile B and C are made and B rotated: the next batch
                with open(log, "w") as fh:
                    fh.write(f"{name}\n")
                if name == "B":
                    rotate(log, 2)
        deadline = time.monotonic() + WAIT
        while len(h.held) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        with h.paused():
            pass  # (whatever is still queued is handled now)
        held, escaped = h.take()
        _, later = h.take()
        assert sorted(os.pread(x.fd, 2, 0) for x in held) == [b"A\n", b"B\n", b"C\n"]
        assert escaped == {} and later == {}
    finally:
        h.stop()


def test_a_file_caught_after_its_rename_into_a_backup_family_pays_the_live_names_creation(tmp_path):
    """`paths: [app.log*]`: each backup is a family of its own. A lagging holder opens the live name
    late and finds the next file there; the file created under it is caught only after its rename,
    at app.log.1. It was credited to app.log.1 (which owes nothing), app.log's creation stayed owed
    and was warned as an escape, every file held (attack 8: a storm's false "data lost")."""
    d = tmp_path / "logs"
    d.mkdir()
    log = str(d / "app.log")
    h = Holder(max_files=100)
    h.settle = 0  # what is owed is an escape once it outlasts one take (not 3 s)
    assert h.start()
    try:
        h.follow({log, f"{log}.1", f"{log}.2"}, set(), [str(d)], lambda p: p.startswith(log))
        with h.paused():  # queued, handled at once: the open of `app.log` finds B, not A
            with open(log, "w") as fh:
                fh.write("A\n")
            rotate(log, 2)
            with open(log, "w") as fh:
                fh.write("B\n")
        held, escaped = h.take()
        _, later = h.take()
        assert sorted(os.pread(x.fd, 2, 0) for x in held) == [b"A\n", b"B\n"]
        assert escaped == {} and later == {}, (escaped, later)
    finally:
        h.stop()


def test_an_escape_the_tailer_may_have_read_is_at_most_not_certain(tmp_path, caplog):
    """The over-count at storm rates: a file the tailer read that the lagging holder never met stayed
    owed, counted as escaped. Now each such file makes one escape uncertain: the warning says "at most
    N (at least M)" and the count of losses takes only what is certain."""
    d = tmp_path / "logs"
    d.mkdir()
    log = str(d / "app.log")
    open(log, "w").close()
    pre = os.stat(log)
    h = Holder(max_files=100)
    h.settle = 0  # what is owed is an escape once it outlasts one take (not 3 s)
    assert h.start()
    try:
        h.follow({log}, {(pre.st_dev, pre.st_ino): log})  # the family's first sight: its file was there before
        with h.paused():  # the holder lags: two files made and gone before it looks
            rotate(log, 1)
            with open(log, "w") as fh:
                fh.write("read by the tailer\n")
            st = os.stat(log)
            h.follow({log}, {(st.st_dev, st.st_ino): log})  # the tailer's scan met this one …
            rotate(log, 1)
            with open(log, "w") as fh:
                fh.write("met by nobody\n")
            rotate(log, 1)
            os.unlink(log + ".1")  # (the first and the second are gone: MaxBackupIndex 1)
        held, first = h.take()
        _, later = h.take()
        assert held == [] and first == {}  # what is owed is reported once it outlasts one take
        assert later == {log: 2} and later[log].least == 1  # 2 created and never met; 1 of them read
    finally:
        h.stop()
    live = Live(tmp_path, [log])  # how the tailer words and counts it
    t = live.source.tailer
    t.prospector.families.add(log)
    caplog.set_level(logging.WARNING)
    t.ledger.escapes(later, t.prospector.families)
    t.ledger.escapes({log: Escapes(1, 0)}, t.prospector.families)
    msgs = [r.getMessage() for r in caplog.records]
    assert t.losses == 1
    assert any(m.startswith(f"data lost: an unknown number of bytes of {log} were in at most 2 (at least 1") for m in msgs), msgs
    assert any(m.startswith(f"data possibly lost: an unknown number of bytes of {log} were in at most 1 (at least 0")
               for m in msgs), msgs


def test_status_shows_the_disk_space_held(tmp_path):
    """`shipper status` prints what the running source reports: files held and deleted bytes kept."""
    from shipper.status import render
    src = {"name": "app", "type": "file", "parser": "json", "tag": "t", "follows": None, "files": [],
           "other_keys": [], "last_ack": None, "in_flight_batches": None, "running": True, "error": None,
           "held_files": 7, "held_bytes": 123456}
    doc = {"config": "c", "state_dir": "s", "daemon": {"endpoint": None, "reachable": False, "pid": None},
           "sources": [src], "outputs": []}
    assert "  holding 7 rotated files open until read, 123456 bytes of them already deleted" in render(doc)


def test_held_bytes_count_deleted_files_only(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    log = str(d / "app.log")
    open(log, "w").close()
    h = Holder(max_files=10)
    assert h.start()
    try:
        h.follow({log}, set())
        with open(log + ".1", "w") as fh:
            fh.write("x" * 1000)
        deadline = time.monotonic() + WAIT
        while not h.held and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(h.held) == 1 and h.held_bytes() == 0  # still named: it costs no extra space
        os.unlink(log + ".1")
        assert h.held_bytes() == 1000
    finally:
        h.stop()


def test_a_holder_that_cannot_have_inotify_closes_its_descriptors():
    """inotify out (here: no descriptor left for it, as when the user's instances are used up): start() says
    False and leaves no descriptor open; a source restarted at each reload leaked its wake-up pipe."""
    code = textwrap.dedent("""
        import os, resource
        from shipper.tail.holder import Escapes, Holder
        before = len(os.listdir('/proc/self/fd')) - 1  # listdir's own descriptor
        holder = Holder()
        limits = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, limits[1]))
        fillers = []
        try:
            while True:  # every descriptor taken, as a user's inotify instances are
                fillers.append(os.open('/dev/null', os.O_RDONLY))
        except OSError:
            pass
        started = holder.start()
        for fd in fillers:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, limits)
        print(started, before, len(os.listdir('/proc/self/fd')) - 1)  # listdir's own descriptor
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    started, before, after = out.stdout.split()
    assert started == "False"
    assert int(after) == int(before), out.stdout
