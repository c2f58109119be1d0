"""Issue 23 item 3: with inotify working, quiet files cost no periodic full pass; a slow safety
rescan still runs (rescan_interval). Counted by the passes the tailer makes, not by time."""
from __future__ import annotations

import time

from tests.tail.test_live import WAIT, Live, append


def counting(live):
    t = live.source.tailer
    calls = {"scan": 0, "read_all": 0}
    scan, read_all = t.scan, t.read_all

    def counted_scan():
        calls["scan"] += 1
        return scan()

    def counted_read_all(*a):
        calls["read_all"] += 1
        return read_all(*a)

    t.scan, t.read_all = counted_scan, counted_read_all
    return calls


def test_quiet_files_get_no_full_pass_each_poll_interval(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    for i in range(200):
        (d / f"f{i:03d}.log").write_text(f'{{"n": {i}}}\n')
    live = Live(tmp_path, [d / "*.log"], poll_interval=0.1, rescan_interval=600, gather_interval=0.02)
    calls = counting(live)
    live.start()
    try:
        assert len(live.wait_for(200)) == 200
        deadline = time.monotonic() + WAIT
        while live.source.tailer.needs_rescan() and time.monotonic() < deadline:
            time.sleep(0.1)  # first-look decisions settle
        time.sleep(0.5)
        before = dict(calls)
        time.sleep(2.0)  # 20 poll intervals
        assert calls["scan"] - before["scan"] == 0 and calls["read_all"] - before["read_all"] == 0, calls
        append(d / "f007.log", b'{"n": "new"}')  # still delivered, through inotify
        assert live.wait_for(201)[-1] == b'{"n": "new"}'
    finally:
        live.close()


def test_the_safety_rescan_still_runs(tmp_path, monkeypatch):
    """The safety rescan runs every rescan_interval when one is set, whatever it costs (an unset one is stretched
    to RESCAN_BUDGET: the test below)."""
    from shipper_plugins.sources import file as file_source

    monkeypatch.setattr(file_source, "RESCAN_BUDGET", 1e-9)  # any pass is over this budget
    d = tmp_path / "logs"
    d.mkdir()
    (d / "a.log").write_text('{"n": 1}\n')
    live = Live(tmp_path, [d / "*.log"], poll_interval=0.1, rescan_interval=0.3, gather_interval=0.02)
    calls = counting(live)
    live.start()
    try:
        live.wait_for(1)
        before = calls["scan"]
        deadline = time.monotonic() + WAIT
        while calls["scan"] < before + 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert calls["scan"] >= before + 3
    finally:
        live.close()


def test_an_idle_source_sleeps_until_its_housekeeping_and_a_stop_wakes_it(tmp_path, monkeypatch):
    """With a stop that can wake it (the pipeline's WakingEvent), an idle source's thread does not
    wake every poll_interval nor to look at the stop flag: counted in waits, not timed."""
    from shipper.tail.watcher import ChangeWatcher
    from shipper.waking_event import WakingEvent

    waits = []
    real_wait = ChangeWatcher.wait

    def counted_wait(self, timeout, look=None, note=None):
        waits.append(timeout)
        return real_wait(self, timeout, look, note)

    monkeypatch.setattr(ChangeWatcher, "wait", counted_wait)
    d = tmp_path / "logs"
    d.mkdir()
    for i in range(20):
        (d / f"f{i:02d}.log").write_text(f'{{"n": {i}}}\n')
    live = Live(tmp_path, [d / "*.log"], poll_interval=0.1, rescan_interval=600, gather_interval=0.02)
    live.stop = live.source.ctx.stop = WakingEvent()
    live.start()
    try:
        assert len(live.wait_for(20)) == 20
        deadline = time.monotonic() + WAIT
        while live.source.tailer.needs_rescan() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        before = len(waits)
        time.sleep(2.0)  # 20 poll intervals; 4 of the old half-second stop checks
        assert len(waits) - before <= 1, waits[before:]
        append(d / "f07.log", b'{"n": "new"}')  # a write still wakes it
        assert live.wait_for(21)[-1] == b'{"n": "new"}'
        assert waits[-1] > 1.0  # asleep until the housekeeping, not a stop check
    finally:
        live.close()  # sets the stop: the thread ends although its wait was seconds long


def test_an_unset_rescan_interval_grows_to_keep_the_rescan_within_its_cpu_budget(tmp_path, monkeypatch):
    """Issue 23: the safety rescan's cost grows with the files followed (~0.1 s of CPU a pass over
    2,000 here); left unset, its interval is stretched to RESCAN_BUDGET, measured on quiet passes."""
    from shipper_plugins.sources import file as file_source

    monkeypatch.setattr(file_source, "RESCAN_BUDGET", 1e-9)  # any pass is over this budget
    d = tmp_path / "logs"
    d.mkdir()
    for i in range(50):
        (d / f"f{i:03d}.log").write_text(f'{{"n": {i}}}\n')
    live = Live(tmp_path, [d / "*.log"], gather_interval=0.02)
    intervals: list[float] = []
    real = live.source._rescan_every
    live.source._rescan_every = lambda cpu: intervals.append(real(cpu)) or intervals[-1]
    live.start()
    try:
        assert len(live.wait_for(50)) == 50
        assert intervals == []  # the first pass read lines: it tells nothing of a quiet pass's cost
        (d / "new.log").write_text("")  # a created file: a pass that reads nothing
        deadline = time.monotonic() + WAIT
        while not intervals and time.monotonic() < deadline:
            time.sleep(0.05)
        assert intervals and intervals[-1] == file_source.RESCAN_STRETCH_MAX
    finally:
        live.close()
