"""Issue 13/23: a reload restarts a file source while its output is down; the holder and the files the
stopped tailer had open go to its successor (Source.restarting/hand_over/take_over). They are held
within the successor's budget (`hold_max_files`/`hold_max_bytes`), not beyond it; what is not held
is found again or named lost, never read twice."""
from __future__ import annotations

import json
import logging
import threading
import time

from shipper.plugin import SourceContext
from shipper_plugins.sources.file import FileSource, FileSourceConfig
from tests.tail.test_hold import write_rotating
from tests.tail.test_live import WAIT


class Run:
    """A FileSource run as the daemon runs it; its output is down while `up` is clear (emit blocks,
    and gives up at the stop: the batch is not delivered, its checkpoint does not move)."""

    def __init__(self, tmp_path, log: str, store: dict, got: list, up: threading.Event, **cfg):
        self.store, self.got, self.up = store, got, up
        self.stop = threading.Event()
        config = FileSourceConfig(name="app", type="file", paths=[log], parser="json", poll_interval=0.2,
                                  gather_interval=0.02, **cfg)
        ctx = SourceContext(name="app", emit=self._emit, stop=self.stop, once=False, state=dict(store),
                            state_dir=str(tmp_path), base_dir=str(tmp_path))
        self.source = FileSource(config, ctx)
        self.thread = threading.Thread(target=self.source.run, daemon=True)

    def _emit(self, batch) -> None:
        while not self.up.wait(0.05):
            if self.stop.is_set():
                return  # given up (a reload's abandon): not delivered
        self.got.extend(json.loads(r)["seq"] for r in batch.records)
        for k, v in batch.checkpoint.items():
            if v is None:
                self.store.pop(k, None)
            else:
                self.store[k] = v


def test_what_a_restarted_source_holds_stays_within_the_successors_budget(tmp_path, caplog):
    d = tmp_path / "logs"
    d.mkdir()
    log = str(d / "app.log")
    open(log, "w").close()
    store: dict = {}
    got: list[int] = []
    up = threading.Event()
    up.set()
    old = Run(tmp_path, log, store, got, up, hold_max_files=6)
    old.thread.start()
    new = handed = None
    try:
        write_rotating(log, 0, 20, 1000, 2)
        deadline = time.monotonic() + WAIT
        while len(got) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(got) == 20
        up.clear()  # the output goes down; the log rotates on (MaxBackupIndex=2, ~650 bytes a file)
        with caplog.at_level(logging.WARNING):
            write_rotating(log, 20, 400, 50, 2, pause=0.02)
            seq, deadline = 420, time.monotonic() + WAIT
            while len(old.source.holder.held) < 6 and time.monotonic() < deadline:
                write_rotating(log, seq, 10, 10, 2, pause=0.1)  # (a holder starved by a loaded machine catches up)
                seq += 10
            old_held = len(old.source.holder.held)
            # The reload: the source is told it restarts, stopped, hands over, is closed.
            old.source.restarting()
            old.stop.set()
            old.thread.join(WAIT)
            assert not old.thread.is_alive()
            open_before = sum(f.fh is not None for f in old.source.tailer.files.values())
            assert open_before >= 1  # the live file at least
            old_holder = old.source.holder
            handed = old.source.hand_over()
            old.source.close()
            # The successor gets this holder itself and a copy of every descriptor the tailer had open.
            assert handed is not None and handed.holder is old_holder, handed
            assert len(handed.files) == open_before, (handed.files, open_before)
            new = Run(tmp_path, log, store, got, up, hold_max_files=3, hold_max_bytes=1500)
            new.source.take_over(handed)
            holder = handed.holder
            assert old_held == 6
            assert len(holder.held) <= 3 and holder.held_bytes() <= 1500, (len(holder.held), holder.held_bytes())
            up.set()
            new.thread.start()
            write_rotating(log, seq, 20, 1000, 2)  # the last lines, after the reload
            deadline = time.monotonic() + WAIT * 2
            seen, quiet_since = -1, time.monotonic()
            while time.monotonic() < deadline and time.monotonic() - quiet_since < 5:
                if len(got) != seen:
                    seen, quiet_since = len(got), time.monotonic()
                time.sleep(0.1)
    finally:
        if handed is not None and new is None:
            handed.close()  # (taken over, the new source's close() lets it go)
        for r in (old, new):
            if r is not None:
                r.stop.set()
                if r.thread.ident is not None:
                    r.thread.join(WAIT)
                r.source.close()
    assert len(got) == len(set(got)), "a line was delivered twice"
    assert set(range(seq, seq + 20)) <= set(got)  # written after the reload
    lost = old.source.tailer.losses + new.source.tailer.losses
    missing = set(range(seq + 20)) - set(got)
    msgs = [r.getMessage() for r in caplog.records]
    assert missing, "the budget of 6 files held them all: the test did not make any escape"
    assert lost >= 1 and any(m.startswith("data lost") and log in m for m in msgs), msgs
