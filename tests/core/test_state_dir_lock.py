"""The refusal of a state_dir another agent holds (StateDirLocked) is made in the checkpoint writer
process and reaches the agent pickled: it must arrive whole (the agent's one line, exit 2, is
tests/core/test_checkpoint_faults.py::test_a_second_agent_on_the_same_state_dir_exits_2_naming_the_first)."""
from __future__ import annotations

import pickle

from shipper.checkpoint import StateDirLocked


def test_the_lock_refusal_survives_the_way_from_the_writer_process():
    e = pickle.loads(pickle.dumps(StateDirLocked("/s: in use by another shipper (pid 7)", "7", False)))
    assert isinstance(e, StateDirLocked) and (str(e), e.holder, e.ended) == ("/s: in use by another shipper (pid 7)",
                                                                             "7", False)

