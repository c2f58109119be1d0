"""Issue 23: what the old server of a name a reload gave to another server stored during that reload's wait (a parked
note: SourceRunner.park_elsewhere) is saved with the source's state, taken up by a start that gives an output that
place again, and dropped by a stop that delivered everything. The agent over real servers, a stop between the two
configs: tests/e2e/test_flip_back_across_a_stop_repeats_nothing.py."""
from __future__ import annotations

from collections import Counter

from shipper.acks import DELIVERED_PREFIX, ELSEWHERE_PREFIX
from shipper.config import load_config
from shipper.pipeline import Pipeline
from tests.core.test_reload_owed_outputs import fd


def _config(tmp_path, output: str, name: str):
    (tmp_path / "app.log").touch()
    path = tmp_path / name
    path.write_text(f"state_dir: {tmp_path}/state\nsources:\n"
                    f"  - {{name: app, type: file, paths: ['{tmp_path}/app.log'], parser: json}}\n"
                    f"outputs:\n  - {output}\n")
    return load_config(str(path))


def _park(p: Pipeline, where: str, ids: list[str]) -> None:
    """As _take_back_unfinished parks what the old server at `where` acknowledged during a reload's wait."""
    r = p.runners["app"]
    r.tracker.delivered_elsewhere = lambda seqs: {where: ids}  # type: ignore[method-assign]
    r.park_elsewhere({0})


def test_a_parked_note_is_saved_and_a_clean_stop_drops_it(tmp_path):
    back = _config(tmp_path, fd("back", port=1), "back.yaml")
    p = Pipeline(_config(tmp_path, "{type: stdout, name: out}", "es.yaml"))
    p.start()
    stopped = False
    try:
        _park(p, back.outputs[0].where(), ["e1", "e2"])
        assert p.store.load("app").get(ELSEWHERE_PREFIX + back.outputs[0].where()) == ["e1", "e2"], (
            "the parked note was kept in memory only: a stop forgot it")
        assert p.stop(1.0), "nothing was in flight: the stop delivered everything"
        stopped = True
        assert not [k for k in p.store.load("app") if k.startswith(ELSEWHERE_PREFIX)], (
            "a stop that delivered everything kept the parked note (nothing is read again: it is past)")
    finally:
        if not stopped:
            p.stop(0.0)


def test_a_saved_parked_note_is_taken_up_by_a_start_giving_an_output_that_place(tmp_path):
    back = _config(tmp_path, fd("back", port=1), "back.yaml")
    where = back.outputs[0].where()
    p = Pipeline(_config(tmp_path, "{type: stdout, name: out}", "es.yaml"))  # (not started: its state only)
    p.store.update("app", {ELSEWHERE_PREFIX + where: ["e1", "e2"]})  # as a stop between the two configs left it
    p.store.close()
    started = Pipeline(back)
    try:
        r = started.runners["app"]
        assert r._delivered_before.get("back") == Counter(["e1", "e2"]), "the saved parked note was not taken up"
        state = started.store.load("app")
        assert state.get(DELIVERED_PREFIX + "back") == ["e1", "e2"]
        assert ELSEWHERE_PREFIX + where not in state, "taken up, the parked note stayed parked as well"
    finally:
        started.start()
        started.stop(0.0)
