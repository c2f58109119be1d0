"""Attack 27 (exam27b): the state_dir removed under a running agent (`rm -rf`) and a symlink put at its path before the
agent notices — to another agent's state_dir on the host (a second shipper for another platform, stopped now: an
operator "pointing the state at the shared disk", a copy-paste of the wrong path). docs/operations.md ("The state_dir
is removed under the running agent"): it "makes the state_dir again, takes the lock again first and copies the
checkpoints it still holds … into a new checkpoints.sqlite". It does so through the symlink: the other agent's
`checkpoints.sqlite` is replaced by this one's rows, its own positions gone, and the journal says only `the state_dir
was removed under the running agent …: made again`, naming its own path. The other agent's next start finds no
checkpoint of its source and ships its whole log again (30 of 30 events twice), without a word — not even the start's
`starts without a checkpoint, and the state_dir holds source app's …`. Found by hand 1 of 1, 2 of 2 with this test.
What should hold: the state_dir made again is the agent's own new folder (made with mkdir, not found through a link),
and a database it did not make is never replaced; a path that is now a symlink is refused and named."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import stop_process, wait

pytestmark = pytest.mark.slow  # (tens of seconds: `make test` hands it out with the slow files, early)

SHIPPER = str(Path(sys.executable).with_name("shipper"))


def _numbered(lo: int, hi: int) -> str:
    return "".join(json.dumps({"n": i}) + "\n" for i in range(lo, hi))


def _config(folder: Path, source: str) -> Path:
    logs = folder / "logs"
    logs.mkdir(parents=True)
    cfg = folder / "cfg.yaml"
    # shutdown_timeout 3: the stop of the agent whose state_dir went finds its batches uncommitted and would wait the
    # default 30 s for them (the test asks nothing of that stop)
    cfg.write_text(json.dumps({"state_dir": str(folder / "state"), "shutdown_timeout": 3,
                               "sources": [{"name": source, "type": "file", "paths": [str(logs / "*.log")],
                                            "parser": "json", "poll_interval": 0.2}],
                               "outputs": [{"type": "stdout"}]}))
    return cfg


def test_a_state_dir_made_again_never_replaces_another_agents_checkpoints(tmp_path: Path) -> None:
    other_cfg = _config(tmp_path / "other", "other")
    (tmp_path / "other" / "logs" / "b.log").write_text(_numbered(0, 30))
    first = subprocess.run([SHIPPER, "run", "--once", "-c", str(other_cfg)], capture_output=True, timeout=120)
    assert first.returncode == 0 and first.stdout.count(b"\n") == 30, first.stderr.decode()[-400:]
    cfg = _config(tmp_path / "this", "app")
    log = tmp_path / "this" / "logs" / "a.log"
    log.write_text(_numbered(0, 20))
    out = tmp_path / "this.jsonl"
    err = tmp_path / "this.err"
    with open(out, "wb") as out_file, open(err, "wb") as err_file:
        agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=out_file, stderr=err_file)
    try:
        assert wait(lambda: out.read_bytes().count(b"\n") >= 20, 60), "the first lines were not shipped"
        state = tmp_path / "this" / "state"
        shutil.rmtree(state)
        os.symlink(tmp_path / "other" / "state", state)  # before the agent notices
        with open(log, "a") as f:
            f.write(_numbered(20, 30))  # events flow: it notices within a second
        wait(lambda: "state_dir was removed" in err.read_text() or "symbolic link" in err.read_text(), 30)
        wait(lambda: out.read_bytes().count(b"\n") >= 30, 30)
    finally:
        stop_process(agent, 30)
    again = subprocess.run([SHIPPER, "run", "--once", "-c", str(other_cfg)], capture_output=True, timeout=120)
    shipped_again = again.stdout.count(b"\n")
    assert shipped_again == 0, (
        f"the other agent shipped {shipped_again} events again after this one made its state_dir again "
        f"through the symlink; it said: {again.stderr.decode()[-400:]!r}; this one said: "
        + "\n".join(ln[:200] for ln in err.read_text().splitlines() if "level=info" not in ln))
    # Fixed (checkpoint_db.CheckpointDb._remake): not made again where the path now leads, and said so.
    assert "a symbolic link put in its place?): not made again there" in err.read_text(), err.read_text()[-1500:]
