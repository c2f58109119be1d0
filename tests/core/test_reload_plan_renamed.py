"""Which outputs a reload takes for renamed (ReloadPlan.outputs_renamed): the same block under another name is
the same output, whose stored events are noted for its new name (shipper.reload_apply); anything else about where
it stores (another port, another type), or two outputs that cannot be told apart, makes the added one new."""
from __future__ import annotations

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


def test_its_match_and_in_flight_limits_may_change_with_the_name(tmp_path):
    p = plan(tmp_path, [fd("dest")], [fd("dest_new", more=", match: 'audit.*', max_in_flight_batches: 2")])
    assert p.outputs_renamed == {"dest": "dest_new"}


def test_another_server_or_setting_makes_a_new_output(tmp_path):
    assert plan(tmp_path, [fd("dest")], [fd("dest_new", port=24225)]).outputs_renamed == {}
    assert plan(tmp_path, [fd("dest")], [fd("dest_new", more=", batch_size: 10")]).outputs_renamed == {}
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
