"""Issue 23: a file rotated away, deleted and read to its end is let go DELETED_GRACE after its last
read, reloads or not. A source restarted by a reload hands the files its tailer had open to its
successor (hand_over/take_over); the successor counted their idle time from the restart, so while
reloads came less than DELETED_GRACE apart every deleted file was handed on from source to source,
its descriptor and disk space kept (the examiner: 21 -> 131 descriptors over 400 reloads 0.3 s
apart, given back only once the reloads stopped)."""
from __future__ import annotations

import json
import os
import threading
import time

from shipper.tail.scan_rules import DELETED_GRACE
from tests.tail.test_hold import write_rotating
from tests.tail.test_hold_handover import Run
from tests.tail.test_live import WAIT


def deleted_open(folder: str) -> list[str]:
    """The files under `folder` this process holds open though they are deleted."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(folder + "/") and target.endswith(" (deleted)"):
            out.append(target)
    return out


def test_reloads_faster_than_the_grace_do_not_keep_deleted_files_open(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    log = str(d / "app.log")
    open(log, "w").close()
    store: dict = {}
    got: list[int] = []
    up = threading.Event()
    up.set()
    run = Run(tmp_path, log, store, got, up)
    run.thread.start()
    restarts = 0
    try:
        deadline = time.monotonic() + WAIT
        while not run.source.tailer.files and time.monotonic() < deadline:
            time.sleep(0.05)  # (the empty live file found: what is written from now on is read)
        # 12 files of 10 lines, 2 backups kept: 9 rotated files are deleted, read to their end.
        write_rotating(log, 0, 120, 10, 2, pause=0.05)
        deadline = time.monotonic() + WAIT
        while len(got) < 120 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(got) == list(range(120))
        every = DELETED_GRACE / 4
        deadline = time.monotonic() + WAIT * 2
        still: list[str] = deleted_open(str(d))
        assert still, "no deleted file was open when the reloads began: the test proves nothing"
        while time.monotonic() < deadline:
            # A reload restarting the source (as shipper.reload_apply does): told, stopped, handed over.
            run.source.restarting()
            run.stop.set()
            run.thread.join(WAIT)
            assert not run.thread.is_alive()
            handed = run.source.hand_over()
            run.source.close()
            run = Run(tmp_path, log, store, got, up)
            if handed is not None:
                run.source.take_over(handed)
            run.thread.start()
            restarts += 1
            time.sleep(every)
            still = deleted_open(str(d))
            if not still and restarts >= 3:
                break
    finally:
        run.stop.set()
        run.thread.join(WAIT)
        run.source.close()
    assert not still, f"after {restarts} reloads {every:g} s apart, deleted files read to their end still open: {still}"
    assert len(got) == len(set(got)) == 120, "a line was lost or delivered twice across the reloads"


def test_a_deleted_file_read_to_its_end_is_kept_until_what_was_read_of_it_is_saved(tmp_path, monkeypatch):
    """Attack 12 (20 reloads while an output was down lost hundreds of lines for it): a deleted file read to
    its end was let go DELETED_GRACE later though the batches holding its bytes were not delivered; a reload
    then took them back and its successor had no way to read them again. Now it is kept until the source's
    checkpoint as saved (SourceContext.saved) holds what was read of it, then let go."""
    from shipper.plugin import SourceContext
    from shipper_plugins.sources import file as file_source
    from shipper_plugins.sources.file import FileSource, FileSourceConfig

    monkeypatch.setattr(file_source, "HOUSEKEEPING", 0.2)  # the walk that lets idle files go, often
    d = tmp_path / "logs"
    d.mkdir()
    log = str(d / "app.log")
    open(log, "w").close()
    emitted: dict = {}  # delivered to one output, say, but not saved: another output is down
    saved: dict = {}
    got: list[int] = []
    stop = threading.Event()

    def emit(batch) -> None:
        got.extend(json.loads(r)["seq"] for r in batch.records)
        emitted.update(batch.checkpoint)

    config = FileSourceConfig(name="app", type="file", paths=[log], parser="json", gather_interval=0.02)
    ctx = SourceContext(name="app", emit=emit, stop=stop, once=False, state={}, state_dir=str(tmp_path),
                        base_dir=str(tmp_path), saved=saved.get)
    source = FileSource(config, ctx)
    thread = threading.Thread(target=source.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + WAIT
        while not source.tailer.files and time.monotonic() < deadline:
            time.sleep(0.05)
        write_rotating(log, 0, 60, 10, 1, pause=0.05)  # 6 files of 10 lines, 1 backup: 4 deleted after their read
        deadline = time.monotonic() + WAIT
        while len(got) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(got) == list(range(60))
        time.sleep(DELETED_GRACE + 1.0)  # past the grace, several walks
        assert len(deleted_open(str(d))) >= 3, "deleted files read but not saved were let go"
        saved.update({k: v for k, v in emitted.items() if v is not None})  # delivered everywhere: saved
        deadline = time.monotonic() + WAIT
        while deleted_open(str(d)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert deleted_open(str(d)) == [], "deleted files kept once what was read of them was saved"
    finally:
        stop.set()
        thread.join(WAIT)
        source.close()
