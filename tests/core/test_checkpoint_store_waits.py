"""How long the agent waits on its checkpoint writer, with the real writer process made unresponsive by
SIGSTOP (what a frozen filesystem looks like from the agent): a stop's end (give_up_at) ends every wait
and names it once; a thread's cut (cut_by: the main loop at a stop signal) ends only that thread's
waits; a request sent past the stop's end to a writer that answers is still answered."""
from __future__ import annotations

import logging
import os
import signal
import threading
import time

import pytest

from shipper import checkpoint
from shipper.checkpoint import CheckpointStore, GivenUp, Interrupted
from tests.core.test_checkpoint_writer_restart import writer_pid
from tests.support import wait_until


@pytest.fixture
def store(tmp_path):
    s = CheckpointStore(str(tmp_path))
    s.update("src", {"a": 1})
    yield s
    pid = writer_pid(str(tmp_path))
    if pid is not None:
        os.kill(pid, signal.SIGCONT)
    s.close()


def stuck_update(store: CheckpointStore) -> tuple[threading.Thread, list]:
    """An update from another thread (an output's), into the stopped writer: it waits."""
    raised: list = []

    def update() -> None:
        try:
            store.update("src", {"b": 2})
        except Exception as e:  # what ended its wait
            raised.append(e)
    t = threading.Thread(target=update, daemon=True)
    t.start()
    wait_until(lambda: store.stuck_for() is not None, 30, "the update sent")
    return t, raised


def test_the_stops_end_ends_every_wait_and_names_it_once(store, tmp_path, caplog):
    os.kill(writer_pid(str(tmp_path)), signal.SIGSTOP)
    t, raised = stuck_update(store)
    caplog.set_level(logging.ERROR, logger="shipper.checkpoint")
    store.give_up_at(time.monotonic() + 1.0)
    t0 = time.monotonic()
    with pytest.raises(GivenUp):
        store.load("src")  # waits for the lock the stuck update holds, until the stop's end
    took = time.monotonic() - t0
    t.join(30)
    assert 0.8 <= took < 5, took
    assert len(raised) == 1 and isinstance(raised[0], GivenUp), raised
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "stopping without waiting any longer for the checkpoint database: its commit has " \
        "not returned for" in said[0] and "is read and sent again at the next start" in said[0], said
    t0 = time.monotonic()
    store.close()  # given up: it does not wait for the stopped writer
    assert time.monotonic() - t0 < 2


def test_a_request_sent_past_the_stops_end_is_answered(store):
    store.give_up_at(time.monotonic() - 1.0)  # the stop's end has passed; the writer answers at once
    store.update("src", {"c": 3})
    assert store.load("src") == {"a": 1, "c": 3}
    assert not store.given_up()


def test_a_threads_cut_ends_its_own_wait_only(store, tmp_path):
    pid = writer_pid(str(tmp_path))
    os.kill(pid, signal.SIGSTOP)
    t, raised = stuck_update(store)
    stopping = threading.Event()
    timer = threading.Timer(1.0, stopping.set)
    timer.start()
    t0 = time.monotonic()
    with store.cut_by(stopping.is_set), pytest.raises(Interrupted):
        store.load("src")  # the main loop's reload, cut by the stop signal
    assert time.monotonic() - t0 < 5
    assert t.is_alive() and not raised and not store.given_up()  # the output's commit still waits
    with pytest.raises(Interrupted):  # still cut while in the block: at once, not after a wait
        with store.cut_by(stopping.is_set):
            store.names()
    os.kill(pid, signal.SIGCONT)
    t.join(30)
    assert not raised
    assert store.load("src") == {"a": 1, "b": 2}  # outside the block, waits are whole again


def test_a_state_dir_remade_for_a_check_nobody_waited_for_is_still_named(store, tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(checkpoint, "MAIN_THREAD_WAIT", 0.3)
    pid = writer_pid(str(tmp_path))
    os.kill(pid, signal.SIGSTOP)
    os.unlink(tmp_path / "checkpoints.sqlite")  # rm under the agent, while its writer does not answer
    assert store.ensure_present() is False  # the main loop's check: no answer within its wait
    os.kill(pid, signal.SIGCONT)
    caplog.set_level(logging.ERROR, logger="shipper.checkpoint")
    assert store.load("src") == {"a": 1}  # reads the check's late answer first: it made the state_dir again
    said = [r.getMessage() for r in caplog.records]
    assert store.recreated == 1 and len(said) == 1 and "the state_dir was removed under the running agent" in said[0]
    assert (tmp_path / "checkpoints.sqlite").exists()
