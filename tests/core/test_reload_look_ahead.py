"""Reloads._look_ahead: the first look a waiting restart takes at what the reload adds is saved for the successor
before `reloaded` (the file source's shapes: tests/tail/test_reload_added_path_look_ahead.py); a look that fails or
does not end within FIRST_LOOK_WAIT is said (a rotation before the restart is then taken for history) and
nothing of it is saved: a late look saved after the successor loaded its state would move it back."""
from __future__ import annotations

import logging
import threading
from types import SimpleNamespace

import shipper.pipeline
from shipper.reload_apply import Reloads


class Store:
    def __init__(self):
        self.saved: dict = {"seen:/old.log": 1}
        self.updates: list = []

    def load(self, name):
        return dict(self.saved)

    def update(self, name, fragment):
        self.updates.append((name, fragment))


def reloads_with(look):
    store = Store()
    r = SimpleNamespace(source=SimpleNamespace(look_ahead=look))
    return Reloads(SimpleNamespace(store=store)), r, store  # type: ignore[arg-type]


CFG = SimpleNamespace(name="app")


def test_what_the_look_found_is_saved_for_the_successor():
    seen = []
    reloads, r, store = reloads_with(lambda cfg, load_saved: seen.append(load_saved()) or {"seen:/new.log": 1})
    reloads._look_ahead(r, CFG, lambda s: False)  # type: ignore[arg-type]
    assert seen == [{"seen:/old.log": 1}], "the look is not given the saved state"
    assert store.updates == [("app", {"seen:/new.log": 1})]


def test_a_look_that_fails_is_said_and_saves_nothing(caplog):
    def look(cfg, load_saved):
        raise OSError("EIO")
    reloads, r, store = reloads_with(look)
    with caplog.at_level(logging.WARNING):
        reloads._look_ahead(r, CFG, lambda s: False)  # type: ignore[arg-type]
    assert store.updates == []
    said = [x for x in caplog.records if "could not be taken before `reloaded`" in x.getMessage()]
    assert len(said) == 1 and "EIO" in said[0].error, caplog.text  # type: ignore[attr-defined]


def test_a_look_past_its_deadline_is_not_waited_for_and_its_late_result_not_saved(caplog, monkeypatch):
    monkeypatch.setattr(shipper.pipeline, "FIRST_LOOK_WAIT", 0.3)
    go_on = threading.Event()
    done = threading.Event()

    def look(cfg, load_saved):  # a hung NFS folder
        go_on.wait(30)
        done.set()
        return {"seen:/new.log": 1}
    reloads, r, store = reloads_with(look)
    with caplog.at_level(logging.WARNING):
        reloads._look_ahead(r, CFG, lambda s: False)  # type: ignore[arg-type]
    said = [x for x in caplog.records if "could not be taken before `reloaded`" in x.getMessage()]
    assert len(said) == 1 and said[0].error == "still looking after 0s", caplog.text  # type: ignore[attr-defined]
    go_on.set()
    assert done.wait(30)
    assert store.updates == [], "a look that came late was saved"


def test_a_stop_signal_ends_the_wait():
    go_on = threading.Event()
    reloads, r, store = reloads_with(lambda cfg, load_saved: go_on.wait(30) and {"seen:/new.log": 1})
    reloads._look_ahead(r, CFG, lambda s: True)  # type: ignore[arg-type]
    go_on.set()
    assert store.updates == []
