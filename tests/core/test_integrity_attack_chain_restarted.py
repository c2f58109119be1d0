"""Attack on `shipper verify` (issue 18): a chain begun anew under the same name. With its state_dir
lost, the agent starts the chain again at sequence 1 under the same `<host>/<source>`; so does a
second agent with the same host and source names. Both chains are genuinely sealed, but nothing
links the second to the first (what happened between them is not attested): verify must say so,
not count the second chain as replays of the first."""
from __future__ import annotations

import shutil

from tests.core.test_integrity import append, record, run_once, setup, verify


def test_a_chain_started_again_under_the_same_name_is_named(tmp_path):
    log, cfg = setup(tmp_path)
    append(log, [record(i) for i in range(5)])
    first = tmp_path / "first.jsonl"
    first.write_bytes(run_once(cfg))
    shutil.rmtree(tmp_path / "state")  # the agent's state lost
    log.write_bytes(b"")
    append(log, [record(i) for i in range(100, 105)])
    second = tmp_path / "second.jsonl"
    second.write_bytes(run_once(cfg))
    r = verify(tmp_path, first, second)
    assert r.returncode == 1, r.stdout
    assert f"started again: a second start of the chain at {second}:1" in r.stdout, r.stdout
