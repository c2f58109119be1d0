"""A second agent refused on a state_dir names the agent that holds it, also when the claim's holder is a checkpoint
writer that replaced one that ended: such a writer's command line carries the locks it inherited after the agent's pid
(`… checkpoint_db.py <fd> <state_dir> <agent's pid> <held locks>`), and the holder was read from the last word only,
so the refusal named the writer's pid (cpu19e's reading of the code, session 26). A real process with that command
line holds the claim here."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shipper.checkpoint_db import StateDirLocked, _claim_names, claim_state_dir
from tests.support import stop_process

HOLDER = '''
import os, socket, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(bytes.fromhex(os.environ["CLAIM"]))
s.listen(8)
print("bound", flush=True)
time.sleep(120)
'''


@pytest.mark.parametrize("held", [[], ["5,6,7"]], ids=["first-writer", "replacement-writer"])
def test_a_refusal_names_the_agent_behind_the_writer_holding_the_claim(tmp_path: Path, held: list[str]) -> None:
    state = tmp_path / "state"
    state.mkdir()
    script = tmp_path / "checkpoint_db.py"  # named as the writer's script is: the holder is read from its argv
    script.write_text(HOLDER)
    name = _claim_names(str(state))[0]
    agent_pid = "424242"
    proc = subprocess.Popen([sys.executable, str(script), "9", str(state), agent_pid, *held], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "CLAIM": name.hex()})
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "bound"
        with pytest.raises(StateDirLocked) as refused:
            claim_state_dir(str(state))
    finally:
        stop_process(proc, 10)
    assert refused.value.holder == agent_pid, str(refused.value)
