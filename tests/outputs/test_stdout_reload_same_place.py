"""A reload that changes a stdout output's `id_field` replaces the output, not the place it writes to: every stdout
output writes into the agent's standard output. Taken for an output storing elsewhere, it was owed every batch in
flight at the reload while the old output wrote them into the same file (exam25d, 7,000-11,000 events twice:
tests/e2e/test_attack25_stdout_full_disk_reload_repeats.py over a real agent on a full disk)."""
from __future__ import annotations

from tests.core.test_reload_owed_outputs import config, plan


def test_a_stdout_output_whose_id_field_changed_is_owed_nothing(tmp_path):
    for old, new in [("{type: stdout, id_field: _sid}", "{type: stdout, id_field: _sid2}"),
                     ("{type: stdout}", "{type: stdout, id_field: _sid}"),
                     ("{type: stdout, id_field: _sid}", "{type: stdout}")]:
        p = plan(tmp_path, [old], [new])
        assert (p.outputs_replaced, p.sources_restarted, p.owed_outputs) == (["stdout"], ["app"], {}), (old, new)


def test_a_stdout_output_renamed_with_another_id_field_is_the_same_output(tmp_path):
    p = plan(tmp_path, ["{type: stdout, name: out}"], ["{type: stdout, name: out2, id_field: _sid}"])
    assert (p.outputs_renamed, p.owed_outputs) == ({"out": "out2"}, {})


def test_the_place_of_a_stdout_output_without_id_field_is_what_it_was(tmp_path):
    """Notes of what an output stored are saved with where() (a digest): one without id_field keeps its digest, so
    notes saved by an earlier version still match."""
    out = config(tmp_path, ["{type: stdout, fsync: true}"], "a.yaml").outputs[0]
    with_id = config(tmp_path, ["{type: stdout, id_field: _sid}"], "b.yaml").outputs[0]
    assert out.where() == with_id.where() == type(out).__mro__[1].where(out)
