"""A second agent on a state_dir another one holds is refused in one line naming the holder's pid
(exit 2): the refusal is made in the checkpoint writer process and reaches the agent pickled."""
from __future__ import annotations

import pickle
import signal
import subprocess

from shipper.checkpoint import StateDirLocked
from tests.core.test_checkpoint_faults import SHIPPER, _one_error_line, append, config
from tests.support import wait_until


def test_the_lock_refusal_survives_the_way_from_the_writer_process():
    e = pickle.loads(pickle.dumps(StateDirLocked("/s: in use by another shipper (pid 7)", "7", False)))
    assert isinstance(e, StateDirLocked) and (str(e), e.holder, e.ended) == ("/s: in use by another shipper (pid 7)",
                                                                             "7", False)


def test_a_second_agent_on_a_held_state_dir_is_refused_naming_the_first(tmp_path):
    state = tmp_path / "state"
    cfg = config(tmp_path, state)
    append(tmp_path / "useraction.log", 0, 5)
    first = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: (state / "shipper.lock").exists()
                   and (state / "shipper.lock").read_text().strip() == str(first.pid), 120, "the first agent's lock")
        second = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
        err = _one_error_line(second)
        assert f"{state}: in use by another shipper (pid {first.pid})" in err, err
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=120)
    assert first.returncode == 0
