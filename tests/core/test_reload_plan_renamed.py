"""Which outputs a reload takes for renamed (ReloadPlan.outputs_renamed): the same block under another name is
the same output, whose stored events are noted for its new name (shipper.reload_apply); anything else about where
it stores (another port, another type), or two outputs that cannot be told apart, makes the added one new. The
same at a start after a rename made while the agent was stopped (each note says where its output stores)."""
from __future__ import annotations

import logging

from shipper.config import load_config
from shipper.reload import plan_reload


def config(tmp_path, outputs: list[str], name: str = "c.yaml"):
    path = tmp_path / name
    path.write_text(f"state_dir: {tmp_path}/state\nsources:\n"
                    f"  - {{name: app, type: file, paths: ['{tmp_path}/app.log'], parser: json}}\n"
                    "outputs:\n" + "".join(f"  - {o}\n" for o in outputs))
    return load_config(str(path))


def plan(tmp_path, old: list[str], new: list[str]):
    return plan_reload(config(tmp_path, old, "old.yaml"), config(tmp_path, new, "new.yaml"))


FD = "{{type: fluentd, name: {name}, host: 127.0.0.1, port: {port}{more}}}"


def fd(name: str, port: int = 24224, more: str = "") -> str:
    return FD.format(name=name, port=port, more=more)


def test_an_output_renamed_with_its_block_unchanged_is_the_same_output(tmp_path):
    p = plan(tmp_path, [fd("dest")], [fd("dest_new")])
    assert p.outputs_renamed == {"dest": "dest_new"}
    assert (p.outputs_removed, p.outputs_added) == (["dest"], ["dest_new"])  # (closed and started as before)
    assert p.changes()["outputs_renamed"] == "dest->dest_new"


def test_its_match_in_flight_limits_and_delivery_settings_may_change_with_the_name(tmp_path):
    p = plan(tmp_path, [fd("dest")], [fd("dest_new", more=", match: 'audit.*', max_in_flight_batches: 2")])
    assert p.outputs_renamed == {"dest": "dest_new"}
    p = plan(tmp_path, [fd("dest")], [fd("dest_new", more=", batch_size: 10, flush_interval: 0.1, backoff_max: 2")])
    assert p.outputs_renamed == {"dest": "dest_new"}


def test_another_server_or_setting_makes_a_new_output(tmp_path):
    assert plan(tmp_path, [fd("dest")], [fd("dest_new", port=24225)]).outputs_renamed == {}
    assert plan(tmp_path, [fd("dest")], [fd("dest_new", more=", tag_prefix: other")]).outputs_renamed == {}
    assert plan(tmp_path, [fd("dest")], ["{type: stdout, name: dest_new}"]).outputs_renamed == {}


def test_outputs_that_cannot_be_told_apart_are_not_taken_for_renamed(tmp_path):
    # Two outputs to one server renamed at once: which new name continues which old one is not known.
    assert plan(tmp_path, [fd("a"), fd("b")], [fd("c"), fd("d")]).outputs_renamed == {}
    assert plan(tmp_path, [fd("a")], [fd("c"), fd("d")]).outputs_renamed == {}
    # An output kept, one renamed: told apart.
    assert plan(tmp_path, [fd("a"), fd("b", port=1)], [fd("a"), fd("d", port=1)]).outputs_renamed == {"b": "d"}


def test_a_rename_of_a_rename_during_one_wait_follows_it_to_the_last_name():
    from types import SimpleNamespace

    from shipper.source_runner import SourceRunner
    r = SimpleNamespace(outputs_renamed={})
    SourceRunner.rename_outputs(r, {"a": "b"})  # type: ignore[arg-type]
    SourceRunner.rename_outputs(r, {"b": "c", "x": "y"})  # type: ignore[arg-type]
    assert r.outputs_renamed == {"a": "c", "b": "c", "x": "y"}
    SourceRunner.rename_outputs(r, {"c": "a"})  # type: ignore[arg-type]  # back to its first name: a keeps its own note
    assert r.outputs_renamed == {"b": "a", "c": "a", "x": "y"}


class _Store:
    def __init__(self):
        self.updates: list = []

    def update(self, name, fragment):
        self.updates.append(fragment)


def _start_with_notes(tmp_path, notes: dict, wheres: dict, outputs: list[str]):
    """SourceRunner._carry_renamed_notes at a start: `notes` (output -> ids) and their `wheres` as saved, the
    config's `outputs`."""
    from collections import Counter
    from types import SimpleNamespace

    from shipper.source_runner import SourceRunner
    configured = {o.name: o for o in config(tmp_path, outputs, "now.yaml").outputs}
    r = SimpleNamespace(_delivered_before={o: Counter(ids) for o, ids in notes.items()}, cfg=SimpleNamespace(name="app"),
                        pipeline=SimpleNamespace(output_configs=configured, store=_Store()))
    SourceRunner._carry_renamed_notes(r, wheres)  # type: ignore[arg-type]
    return {o: sorted(c.elements()) for o, c in r._delivered_before.items()}, r.pipeline.store.updates


def test_a_start_gives_the_note_of_an_output_renamed_while_stopped_to_its_new_name(tmp_path):
    where = config(tmp_path, [fd("dest")]).outputs[0].where()
    notes, saved = _start_with_notes(tmp_path, {"dest": ["e1", "e2"]}, {"dest": where}, [fd("dest_new")])
    assert notes == {"dest_new": ["e1", "e2"]}
    assert saved == [{"_delivered_to:dest": None, "_delivered_where:dest": None,
                      "_delivered_to:dest_new": ["e1", "e2"], "_delivered_where:dest_new": where}]


def test_a_start_does_not_guess(tmp_path):
    where = config(tmp_path, [fd("dest")]).outputs[0].where()
    # two outputs store there; the output of that name has a note of its own; another server; no where saved
    for outputs, notes, wheres in [([fd("c"), fd("d")], {"dest": ["e1"]}, {"dest": where}),
                                   ([fd("c")], {"dest": ["e1"], "c": ["e2"]}, {"dest": where}),
                                   ([fd("c", port=1)], {"dest": ["e1"]}, {"dest": where}),
                                   ([fd("c")], {"dest": ["e1"]}, {})]:
        got, saved = _start_with_notes(tmp_path, notes, wheres, outputs)
        # (given to no output: the note of `dest`, gone, is said and dropped: test_delivered_note_of_gone_output.py)
        names = {o.name for o in config(tmp_path, outputs, "now.yaml").outputs}
        assert got == {o: sorted(ids) for o, ids in notes.items() if o in names}, (outputs, notes, wheres)
        assert saved == [{"_delivered_to:dest": None, "_delivered_where:dest": None}], (outputs, notes, wheres)


def test_a_start_gives_swapped_names_their_notes_by_where_they_store(tmp_path):
    """Attack 14 (two outputs swapped names while the agent was stopped, one down): each note says where its output
    stores; the name now names the other server. Before, each note stayed with its name: the down server never got
    what the up one had stored, and the up one got it twice."""
    a, b = config(tmp_path, [fd("a", port=1), fd("b", port=2)], "ab.yaml").outputs
    notes, saved = _start_with_notes(tmp_path, {"a": ["e1"], "b": ["e2"]}, {"a": a.where(), "b": b.where()},
                                     [fd("b", port=1), fd("a", port=2)])
    assert notes == {"b": ["e1"], "a": ["e2"]}
    assert saved == [{"_delivered_to:a": ["e2"], "_delivered_where:a": b.where(),
                      "_delivered_to:b": ["e1"], "_delivered_where:b": a.where()}]


def test_a_start_gives_no_note_to_a_new_server_under_an_old_name(tmp_path, caplog):
    """Attack 14 (an output renamed and its old name given to a new server, while stopped): the note goes with the
    renamed output; the new server under the old name is sent everything. With no output storing there any more,
    the note is dropped, and said so."""
    up = config(tmp_path, [fd("up", port=1)], "up.yaml").outputs[0]
    notes, saved = _start_with_notes(tmp_path, {"up": ["e1"]}, {"up": up.where()}, [fd("up2", port=1), fd("up", port=3)])
    assert notes == {"up2": ["e1"]}
    assert saved == [{"_delivered_to:up": None, "_delivered_where:up": None,
                      "_delivered_to:up2": ["e1"], "_delivered_where:up2": up.where()}]
    with caplog.at_level(logging.WARNING):
        notes, saved = _start_with_notes(tmp_path, {"up": ["e1"]}, {"up": up.where()}, [fd("up", port=3)])
    assert notes == {} and saved == [{"_delivered_to:up": None, "_delivered_where:up": None}]
    assert "the output now named up stores elsewhere" in caplog.text


def test_a_start_keeps_the_note_of_an_output_whose_delivery_settings_changed(tmp_path, caplog):
    """pgholes13 (after f7ea6c0): where() covered batch_size, so a reload or restart that changed only how an output
    delivers (batch_size, timeouts, backoff) took it for one storing elsewhere: its note was dropped ("the output
    now named fd stores elsewhere") and the events it had stored were sent to it again."""
    dest = config(tmp_path, [fd("dest")]).outputs[0]
    tuned = fd("dest", more=", batch_size: 10, batch_bytes: 2048, flush_interval: 0.1, timeout: 3, backoff_base: 0.1, "
               "backoff_max: 2, ack_timeout: 5, compress: true")
    with caplog.at_level(logging.WARNING):
        notes, saved = _start_with_notes(tmp_path, {"dest": ["e1", "e2"]}, {"dest": dest.where()}, [tuned])
    assert notes == {"dest": ["e1", "e2"]} and saved == []
    assert "note is dropped" not in caplog.text


def test_where_leaves_out_each_built_in_outputs_delivery_settings_and_nothing_else(tmp_path):
    """Each delivery setting a built-in output declares is a key of its block; changing any other key of the block
    (where it stores, how it names or authenticates what it stores) changes where()."""
    for block in [fd("o"), "{type: elasticsearch, name: o}", "{type: opensearch, name: o}", "{type: stdout, name: o}"]:
        out = config(tmp_path, [block]).outputs[0]
        assert out.delivery_settings and out.delivery_settings <= set(type(out).model_fields), block
    es = "{{type: elasticsearch, name: o{more}}}"
    assert (config(tmp_path, [es.format(more="")]).outputs[0].where()
            == config(tmp_path, [es.format(more=", batch_size: 5, request_timeout: 9, compress: false")]).outputs[0].where())
    assert (config(tmp_path, [es.format(more="")]).outputs[0].where()
            != config(tmp_path, [es.format(more=", namespace: other")]).outputs[0].where())


def test_names_swapped_at_a_reload_are_a_permutation_of_renames(tmp_path):
    """Issue 23, attack 14 at a reload: two outputs swap names, each block unchanged. Each is replaced (its name
    now names another server); for the notes of what was stored, each is renamed to the other's name. Before, the
    plan paired only removed with added outputs: each note stayed with its name (events lost for one server,
    repeated at the other, unnamed)."""
    p = plan(tmp_path, [fd("up", port=1), fd("down", port=2)], [fd("down", port=1), fd("up", port=2)])
    assert p.outputs_renamed == {"up": "down", "down": "up"}
    assert sorted(p.outputs_replaced) == ["down", "up"] and p.outputs_removed == p.outputs_added == []
    # A name kept for a block that changed but stores where it did (only its match): no rename.
    assert plan(tmp_path, [fd("up", port=1)], [fd("up", port=1, more=", match: 'a.*'")]).outputs_renamed == {}


def test_an_old_name_given_to_a_new_server_is_not_the_renamed_output(tmp_path):
    """Issue 23: an output renamed and its old name given to a new server at one reload: the old name's note goes
    with the renamed output; the new server under the old name is new (sent everything)."""
    p = plan(tmp_path, [fd("up", port=1), fd("down", port=2)], [fd("up2", port=1), fd("down", port=2), fd("up", port=3)])
    assert p.outputs_renamed == {"up": "up2"}
    # A name moved to a server another output stored at, that output still there: not told apart, no rename.
    assert plan(tmp_path, [fd("a", port=1), fd("b", port=2)], [fd("a", port=2), fd("b", port=2)]).outputs_renamed == {}


def _saved_notes(tmp_path, delivered: dict, renamed: dict, outputs: list[str], running: list[str] | None = None) -> dict:
    """SourceRunner.save_delivered_to after a reload renamed outputs (`renamed`, old -> new) of a runner whose
    outputs stored `delivered` (output -> ids, by the names it sent under); the config's `outputs`, the outputs
    still running `running` (the old config's, while the reload takes batches back; by default `outputs`)."""
    from types import SimpleNamespace

    from shipper.source_runner import SourceRunner
    now = config(tmp_path, outputs, "now.yaml")
    configured = {o.name: o for o in config(tmp_path, running or outputs, "running.yaml").outputs}
    r = SimpleNamespace(_delivered_noted={}, _delivered_before={}, _replay_stored={}, _saved={}, outputs_renamed={},
                        _stored_where={},
                        cfg=SimpleNamespace(name="app"),
                        pipeline=SimpleNamespace(output_configs=configured, config=now, store=_Store()))
    SourceRunner.rename_outputs(r, renamed)  # type: ignore[arg-type]
    SourceRunner.save_delivered_to(r, delivered=delivered)  # type: ignore[arg-type]
    assert len(r.pipeline.store.updates) == 1
    return r.pipeline.store.updates[0]


def test_notes_of_swapped_names_are_swapped_not_merged(tmp_path):
    """A rename map applied one rename after another let up -> down then down -> up put both notes under one
    name and drop the other's."""
    outputs = [fd("down", port=1), fd("up", port=2)]
    at_1, at_2 = (o.where() for o in config(tmp_path, outputs, "now.yaml").outputs)
    saved = _saved_notes(tmp_path, {"up": ["e1"], "down": ["e2"]}, {"up": "down", "down": "up"}, outputs)
    assert saved == {"_delivered_to:down": ["e1"], "_delivered_where:down": at_1,
                     "_delivered_to:up": ["e2"], "_delivered_where:up": at_2}
    # Only the up one stored anything: its note goes to the name "down"; the name "up" has none.
    saved = _saved_notes(tmp_path, {"up": ["e1"]}, {"up": "down", "down": "up"}, outputs)
    assert saved == {"_delivered_to:down": ["e1"], "_delivered_where:down": at_1,
                     "_delivered_to:up": None, "_delivered_where:up": None}
    # Saved while the reload takes batches back, the old outputs still running: each note says where its output
    # stores, not where the old config's output of that name did (the next start would give it back to the other).
    saved = _saved_notes(tmp_path, {"up": ["e1"], "down": ["e2"]}, {"up": "down", "down": "up"}, outputs,
                         running=[fd("up", port=1), fd("down", port=2)])
    assert saved == {"_delivered_to:down": ["e1"], "_delivered_where:down": at_1,
                     "_delivered_to:up": ["e2"], "_delivered_where:up": at_2}
