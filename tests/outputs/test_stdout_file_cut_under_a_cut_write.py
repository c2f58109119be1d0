"""stdout's file cut under the agent (copytruncate) while a write a full disk cut short waits for its retry, in the
output and its worker, on a real small tmpfs (tests/e2e/test_stdout_copytruncated_under_a_cut_write.py runs the agent):
resumed, the rest of the batch goes to the file's end from the start of the cut line; abandoned before the retry (a
stop, a reload: close()), the lines written before the cut are told stored (OutputContext.stored), so that the re-read
writes only the rest; an agent stop saves that note (tests/core: save_delivered_to)."""
from __future__ import annotations

import io
import logging
import shutil
import sys
import threading
from pathlib import Path

import orjson
import pytest

from shipper.acks import AckTracker
from shipper.output_worker import OutputWorker
from shipper.plugin import Batch, OutputContext
from shipper_plugins.outputs.stdout import StdoutOutput, StdoutOutputConfig
from tests.fs_faults import fill, small_tmpfs
from tests.support import wait_until

EVENTS = 1000


def batch() -> Batch:
    events = [{"n": i, "message": "x" * 200} for i in range(EVENTS)]
    return Batch("app", "app", events, [f"id{i}" for i in range(EVENTS)], sum(len(orjson.dumps(e)) for e in events))


@pytest.fixture()
def stdout_file(tmp_path, monkeypatch):
    """A file (`>>`) on a 1 MiB tmpfs with 64 KiB free, and a function that makes it sys.stdout (in the test's own
    body: pytest's capture puts its own back between a fixture and the test); yields (the file, its filler, it)."""
    with small_tmpfs(tmp_path / "out", 1024) as fs:
        filler = fill(fs, 64 * 1024)
        path = fs / "out.ndjson"
        with open(path, "ab", buffering=0) as f:
            yield path, filler, lambda: monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BufferedWriter(
                io.FileIO(f.fileno(), "w", closefd=False))))


def copytruncate(path: Path, copy: Path) -> None:
    shutil.copyfile(path, copy)
    with open(path, "r+b") as f:
        f.truncate(0)


def numbers(data: bytes) -> list[int]:
    return [orjson.loads(line)["n"] for line in data.splitlines()]


def test_resumed_after_the_cut_each_event_is_once_in_the_copy_or_the_file(stdout_file, tmp_path, caplog):
    path, filler, as_stdout = stdout_file
    as_stdout()
    out = StdoutOutput(StdoutOutputConfig(type="stdout"), OutputContext("stdout", threading.Event(), str(tmp_path)))
    b = batch()
    with pytest.raises(OSError):
        out.send(b)
    copytruncate(path, tmp_path / "copy")
    filler.unlink()
    with caplog.at_level(logging.WARNING):
        out.send(b)
    head, tail = (tmp_path / "copy").read_bytes(), path.read_bytes()
    assert not head.endswith(b"\n")  # the copy ends in the cut line's head
    assert numbers(b"".join(head.splitlines(keepends=True)[:-1]) + tail) == list(range(EVENTS))
    assert "shrank under the agent to 0 bytes" in caplog.text and "is written again whole here" in caplog.text


@pytest.mark.parametrize("cut", [True, False])
def test_abandoned_before_the_retry_what_is_in_the_copy_is_told_stored(stdout_file, tmp_path, caplog, cut):
    """Cut: the lines in the copy are told stored, the rest is written when read again. Not cut: the partial write is
    cut back (as before) and nothing is told stored: the batch is written whole when read again."""
    path, filler, as_stdout = stdout_file
    as_stdout()
    stop = threading.Event()
    out = StdoutOutput(StdoutOutputConfig(type="stdout"), OutputContext("stdout", stop, str(tmp_path)))
    worker = OutputWorker("stdout", out, 8, 1 << 26, stop)
    tracker = AckTracker(lambda fragment: True)
    b = batch()
    seq = tracker.register(1, {"pos": 1}, b.ids)
    worker.start()
    assert worker.put(b, tracker, seq, threading.Event())
    wait_until(lambda: out.trouble is not None, 30, "the write cut short by the full disk")
    if cut:
        copytruncate(path, tmp_path / "copy")
    with caplog.at_level(logging.WARNING):
        stop.set()  # (before the retry: the worker waits a second after a failure)
        worker.close(timeout=10)
    assert path.read_bytes() == b""
    if not cut:
        assert tracker.delivered_to() == {} and "shrank" not in caplog.text
        return
    written = (tmp_path / "copy").read_bytes().count(b"\n")
    assert 0 < written < EVENTS
    assert tracker.delivered_to() == {"stdout": b.ids[:written]}, "the lines in the copy are not written again"
    assert "shrank under the agent" in caplog.text and "written whole with the rest of the batch" in caplog.text


def test_a_file_not_opened_for_appending_and_cut_between_batches_is_written_from_its_end(tmp_path, monkeypatch, caplog):
    """`>` (systemd's StandardOutput=file:) and a copytruncate between two batches: the next batch goes at the file's
    end, not at the descriptor's old offset behind a hole of zeros (logrotate's own caveat for copytruncate)."""
    path = tmp_path / "out.ndjson"
    with open(path, "wb", buffering=0) as f:
        monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BufferedWriter(io.FileIO(f.fileno(), "w",
                                                                                          closefd=False))))
        out = StdoutOutput(StdoutOutputConfig(type="stdout"), OutputContext("stdout", threading.Event(), str(tmp_path)))
        out.send(batch())
        copytruncate(path, tmp_path / "copy")
        with caplog.at_level(logging.WARNING):
            out.send(batch())
    data = path.read_bytes()
    assert b"\0" not in data and numbers(data) == list(range(EVENTS))
    assert "cut under the agent" in caplog.text and "not opened for appending" in caplog.text
