"""Live following by the file source (not --once): writes reach the pipeline through the watcher,
gathered into few batches; what the watcher does not report is still found by the periodic pass;
the gather window never delays --once."""
from __future__ import annotations

import dataclasses
import os
import threading
import time

from hypothesis import given, strategies as st

from shipper.plugin import SourceContext
from shipper.tail import discovery
from shipper.tail.keys import LineKeys
from shipper.tail.state import STATE_VERSION, FileState
from shipper_plugins.sources.file import FileSource, FileSourceConfig

WAIT = 30.0  # generous: other suites share the 2 cores; the bounds that matter are in bench/


class Live:
    """A FileSource run as the daemon runs it, in a thread; batches acknowledged at once."""

    def __init__(self, tmp_path, paths, once=False, **cfg):
        self.batches: list = []
        self.arrived: list[float] = []
        self.state: dict = {}
        self.cond = threading.Condition()
        self.stop = threading.Event()
        config = FileSourceConfig(name="live", type="file", paths=[str(p) for p in paths], parser="json", **cfg)
        ctx = SourceContext(name="live", emit=self._emit, stop=self.stop, once=once, state={},
                            state_dir=str(tmp_path), base_dir=str(tmp_path))
        self.source = FileSource(config, ctx)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            self.source.run()
        finally:
            self.source.close()

    def _emit(self, batch):
        with self.cond:
            for k, v in batch.checkpoint.items():
                if v is None:
                    self.state.pop(k, None)
                else:
                    self.state[k] = v
            if batch.records:
                self.batches.append(batch)
                self.arrived.append(time.monotonic())
            self.cond.notify_all()

    def lines(self) -> list[bytes]:
        with self.cond:
            return [r for b in self.batches for r in b.records]

    def wait_for(self, n: int, timeout: float = WAIT) -> list[bytes]:
        with self.cond:
            self.cond.wait_for(lambda: sum(len(b.records) for b in self.batches) >= n, timeout)
        return self.lines()

    def start(self) -> "Live":
        self.thread.start()
        return self

    def close(self):
        self.stop.set()
        self.thread.join(WAIT)
        assert not self.thread.is_alive()


def append(path, *lines: bytes):
    with open(path, "ab", buffering=0) as f:
        for line in lines:
            f.write(line + b"\n")


def test_writes_arrive_by_notification_gathered_into_few_batches(tmp_path):
    log = tmp_path / "app.log"
    append(log, b"first")
    # poll_interval far beyond the wait: only the watcher can deliver what follows.
    live = Live(tmp_path, [log], poll_interval=600, gather_interval=0.3).start()
    try:
        assert live.wait_for(1) == [b"first"]
        before = len(live.batches)
        with open(log, "ab", buffering=0) as f:
            for i in range(40):
                f.write(b"line %d\n" % i)  # one write (and one inotify event) per line, like Log4j
        got = live.wait_for(41)
        assert got == [b"first"] + [b"line %d" % i for i in range(40)]
        # 40 writes inside one gather window: read together, not as 40 one-line batches.
        assert len(live.batches) - before <= 3
    finally:
        live.close()


def test_rotation_while_following_is_seen_without_waiting_for_the_poll(tmp_path):
    log = tmp_path / "app.log"
    append(log, b"a1")
    live = Live(tmp_path, [log], poll_interval=600, gather_interval=0.02).start()
    try:
        assert live.wait_for(1) == [b"a1"]
        for round_ in range(3):
            append(log, b"r%d-old" % round_)
            os.rename(log, tmp_path / "app.log.1")  # Log4j 1.2 MaxBackupIndex=1: .1 replaced
            append(log, b"r%d-new" % round_)
            time.sleep(0.05)
            append(log, b"r%d-more" % round_)
        got = live.wait_for(10)
        assert sorted(got) == sorted([b"a1"] + [b"r%d-%s" % (r, w) for r in range(3) for w in (b"old", b"new", b"more")])
        assert len(got) == 10
    finally:
        live.close()


def test_a_write_the_watcher_does_not_report_is_found_by_the_periodic_pass(tmp_path):
    log = tmp_path / "app.log"
    writer = open(log, "ab", buffering=0)
    try:
        writer.write(b"before\n")
        live = Live(tmp_path, [log], poll_interval=0.3, gather_interval=0.02).start()
        try:
            assert live.wait_for(1) == [b"before"]
            os.unlink(log)
            time.sleep(0.2)  # let the deletion's own wake-up pass
            # Written to a deleted file: its folder's watch names nothing any more; only the
            # periodic pass, which reads every followed file, can see it.
            writer.write(b"after delete\n")
            assert live.wait_for(2) == [b"before", b"after delete"]
        finally:
            live.close()
    finally:
        writer.close()


def test_a_new_file_in_a_new_folder_is_found(tmp_path):
    (tmp_path / "logs").mkdir()
    live = Live(tmp_path, [tmp_path / "logs" / "**" / "*.log"], poll_interval=600, gather_interval=0.02).start()
    try:
        time.sleep(0.3)
        sub = tmp_path / "logs" / "a" / "b"
        sub.mkdir(parents=True)
        append(sub / "x.log", b"x1")
        assert live.wait_for(1) == [b"x1"]
        append(sub / "x.log", b"x2")  # a write in a folder watched since the last scan
        assert live.wait_for(2) == [b"x1", b"x2"]
    finally:
        live.close()


def test_once_is_never_delayed_by_the_gather_window(tmp_path):
    log = tmp_path / "app.log"
    append(log, *[b"%d" % i for i in range(100)])
    live = Live(tmp_path, [log], once=True, gather_interval=10.0)
    t0 = time.monotonic()
    live.start()
    live.thread.join(WAIT)
    assert not live.thread.is_alive()
    assert live.lines() == [b"%d" % i for i in range(100)]
    # --once settles for about a second; one gather window alone would be 10 s.
    assert time.monotonic() - t0 < 9.0


@given(st.text(alphabet="ab.-_12", max_size=10), st.integers(min_value=0, max_value=2 ** 40),
       st.lists(st.integers(min_value=0, max_value=2 ** 40), max_size=20))
def test_line_keys_are_the_key_strings(fid, _, offsets):
    keys = LineKeys(fid, offsets)
    expect = [f"{fid}:{o}" for o in offsets]
    assert len(keys) == len(expect)
    assert list(keys) == expect
    assert [keys[i] for i in range(len(offsets))] == expect
    assert keys[1:3] == expect[1:3]
    if offsets:
        assert keys[-1] == expect[-1]


def test_state_to_json_has_every_field():
    s = FileState(fid="f", dev=1, ino=2, head_len=3, head="h", offset=4, mark="m", path="/p", family="/p",
                  size=5, gz=True, cont=True)
    assert s.to_json() == {"v": STATE_VERSION, **dataclasses.asdict(s)}
    assert FileState.from_json(s.to_json()) == s


NAMES = st.text(alphabet="ag.-_019", min_size=1, max_size=12).filter(lambda n: n not in (".", ".."))


@given(st.lists(NAMES, max_size=30, unique=True))
def test_stem_index_finds_exactly_the_rotated_names(names):
    index = discovery.stem_index(names)
    for live in names:
        brute = sorted(n for n in names if discovery.is_rotated_name(live, n))
        fast = sorted(os.path.basename(p) for p in discovery.rotated_siblings("/d/" + live, index=index))
        assert fast == brute


def test_writes_arrive_through_watchdog_where_inotify_simple_is_missing(tmp_path, monkeypatch):
    import shipper.tail.watcher as watcher

    monkeypatch.setattr(watcher, "INotify", None)  # the import fallback: writes come through watchdog
    log = tmp_path / "app.log"
    append(log, b"first")
    live = Live(tmp_path, [log], poll_interval=600, gather_interval=0.3).start()
    try:
        assert live.wait_for(1) == [b"first"]
        before = len(live.batches)
        with open(log, "ab", buffering=0) as f:
            for i in range(20):
                f.write(b"line %d\n" % i)
        assert live.wait_for(21) == [b"first"] + [b"line %d" % i for i in range(20)]
        assert len(live.batches) - before <= 3
    finally:
        live.close()
