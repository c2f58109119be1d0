"""The checkpoint store's writer process killed (kill -9, the OOM killer), with the real process: it is
replaced and the request it died in is sent again to its successor, named once; one that keeps dying
soon after its start is given up on, named, not restarted in a loop."""
from __future__ import annotations

import logging
import os
import signal

import pytest

from shipper import checkpoint
from shipper.checkpoint import CheckpointStore, WriterEnded
from tests.support import wait_until


def writer_pid(state_dir: str) -> int | None:
    """This process's live checkpoint writer for `state_dir`, None if there is none."""
    with open(f"/proc/{os.getpid()}/task/{os.getpid()}/children") as f:
        children = [int(p) for p in f.read().split()]
    for pid in children:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if any(a.endswith(b"checkpoint_db.py") for a in args) and state_dir.encode() in args and state != "Z":
            return pid
    return None


def kill_writer(state_dir: str) -> None:
    pid = writer_pid(state_dir)
    assert pid is not None, "no checkpoint writer running"
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: writer_pid(state_dir) != pid, 30, "the killed writer to be gone")


def test_a_killed_writer_is_replaced_and_the_request_it_died_in_is_sent_again(tmp_path, caplog):
    state = str(tmp_path)
    store = CheckpointStore(state)
    try:
        store.update("src", {"a": 1})
        first = writer_pid(state)
        kill_writer(state)
        with caplog.at_level(logging.WARNING, logger="shipper.checkpoint"):
            store.update("src", {"b": 2})  # no error: sent again to a new writer
        assert store.load("src") == {"a": 1, "b": 2}
        assert writer_pid(state) not in (None, first)
        assert store.stuck_for() is None
        said = [r.getMessage() for r in caplog.records]
        assert len(said) == 1 and "ended (killed by SIGKILL): a new one is started" in said[0], said
    finally:
        store.close()
    assert writer_pid(state) is None
    reopened = CheckpointStore(state)  # the lock was let go, the rows kept
    try:
        assert reopened.load("src") == {"a": 1, "b": 2}
    finally:
        reopened.close()


def test_a_writer_that_keeps_dying_is_given_up_on_and_named(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(checkpoint, "RESTART_BACKOFF_FIRST", 0.05)
    monkeypatch.setattr(checkpoint, "SHORT_LIFE", 600.0)  # every death below counts as soon after its start
    state = str(tmp_path)
    store = CheckpointStore(state)
    caplog.set_level(logging.WARNING, logger="shipper.checkpoint")
    try:
        for _ in range(checkpoint.MAX_SHORT_LIVES - 1):
            kill_writer(state)
            saved = []

            def update() -> bool:
                try:
                    store.update("src", {"n": len(saved)})
                except WriterEnded as e:  # its death, then the backoff: no new writer yet
                    assert "ended (killed by SIGKILL)" in str(e) or "a new one is started in" in str(e), e
                    return False
                saved.append(True)
                return True

            wait_until(update, 30, "a new writer after the backoff")
        kill_writer(state)
        with pytest.raises(WriterEnded, match="ended 5 times in a row .* no new one is started"):
            store.update("src", {"n": -1})
        with pytest.raises(WriterEnded, match="no new one is started"):  # at once, for good
            store.update("src", {"n": -2})
        assert writer_pid(state) is None
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(errors) == 1 and "killed by SIGKILL" in errors[0], errors
        assert len(warnings) == checkpoint.MAX_SHORT_LIVES - 1, warnings
    finally:
        store.close()
