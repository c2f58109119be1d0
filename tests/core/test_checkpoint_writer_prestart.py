"""The first checkpoint writer is started before the config is read (checkpoint.prestart_writer, `shipper run`): its
interpreter and imports (~65 ms on one core) run beside the agent's, where the agent's start waited ~85 ms for them
(bench/README.md, session 26). It opens nothing until the store gives it the state_dir the config validated."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from shipper import checkpoint, checkpoint_db
from shipper.checkpoint import CheckpointStore, StateDirError
from tests.support import wait_until


def writers_of(agent_pid: int) -> list[tuple[int, list[bytes]]]:
    """Every live process running checkpoint_db.py whose command line ends with `agent_pid` (a writer of that agent's,
    also one left behind and re-parented)."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                args = f.read().split(b"\0")[:-1]
            with open(f"/proc/{d}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if len(args) >= 4 and args[-4].endswith(b"checkpoint_db.py") and args[-1] == str(agent_pid).encode() \
                and state != "Z":
            found.append((int(d), args))
    return found


def test_the_prestarted_writer_is_the_stores_and_holds_the_state_dir_for_this_agent(tmp_path):
    # (This process is a test runner's worker: writers of stores other tests left open are its own too.)
    others = {pid for pid, _ in writers_of(os.getpid())}
    checkpoint.prestart_writer()
    ahead = [w for w in writers_of(os.getpid()) if w[0] not in others]
    assert len(ahead) == 1 and ahead[0][1][-2] == checkpoint_db.PRESTARTED.encode(), ahead
    time.sleep(0.5)  # (it has imported what it needs meanwhile; it opens nothing yet)
    assert not os.listdir(tmp_path)
    store = CheckpointStore(str(tmp_path / "state"))
    try:
        assert store._proc is not None and store._proc.pid == ahead[0][0], "the store started a writer of its own"
        store.update("src", {"k": 1})
        assert store.load("src") == {"k": 1}
        # The state_dir is this agent's: a second store on it is refused naming this process (the claim's holder is
        # read from the writer's command line, which ends with the agent's pid).
        with pytest.raises(StateDirError, match=f"in use by another shipper \\(pid {os.getpid()}\\)"):
            CheckpointStore(str(tmp_path / "state"))
    finally:
        store.close()
    assert ahead[0][0] not in {pid for pid, _ in writers_of(os.getpid())}, "the writer outlived its store's close"


def test_a_refused_config_leaves_no_writer_behind(tmp_path):
    """The prestarted writer of an agent whose config is refused (exit 2) ends with it."""
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\nsources:\n  - name: a\n    type: file\n"
                   f"    paths: ['{tmp_path}/*.log']\n    parser: no-such-parser\noutputs:\n  - type: stdout\n")
    p = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 2 and b"no-such-parser" in err, err.decode()
    # (its command line ends with the agent's pid, whoever its parent is now)
    wait_until(lambda: not writers_of(p.pid), 30, "the prestarted writer to end")
    assert not (tmp_path / "state").exists(), "a refused config's state_dir was touched"
