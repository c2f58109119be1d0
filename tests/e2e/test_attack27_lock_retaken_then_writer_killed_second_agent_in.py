"""Attack 27 (exam27b): the state_dir's lock after session 26's retake, then the checkpoint writer killed (the OOM
killer), and a second agent in another network namespace (a second pod or container sharing a hostPath state_dir,
where the abstract socket does not reach: docs/operations.md "two agents in different ones sharing a state_dir are
kept apart by the flock alone"). The lock file removed (a tmpfiles cleaner) is taken again — by the checkpoint writer
alone: the agent keeps its copies of the old, unlinked lock (session 26's closing note: "a writer killed after a
remake leaves a gap"). Here is that gap's cost. The writer killed, its replacement inherits the agent's old locks,
and the new lock file is nobody's until the agent's next look (within a second, 5 s when idle): a second agent started
then takes the lock file and the database. The first one's new writer cannot open it (`cannot open the checkpoint
database (database is locked)`): it delivers what it read, cannot save it, and its stop blames a frozen filesystem
(`its opening has not returned for 1s (is the state_dir's filesystem frozen, or its disk hung?)`); meanwhile the second
ships the same events again. 99 of 99 events appended after were shipped by both, named by neither (2 of 2 in this
test; by hand 2 of 2 with the second agent started at once, where the first "took again" a lock nobody had removed and
both went on shipping; started 10 s after the kill it was refused). What should hold: the agent holds the lock it
takes again, as it holds the first, so a writer's death never leaves the state_dir unlocked; a second agent is refused.
Fixed: the writer sends the agent the lock it took again (checkpoint_db.main, CheckpointStore._reply)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support import stop_process, wait, writer_pid

pytestmark = pytest.mark.slow  # (two agents, idle waits of seconds)

SHIPPER = str(Path(sys.executable).with_name("shipper"))


def _numbered(lo: int, hi: int) -> str:
    return "".join(json.dumps({"seq": i}) + "\n" for i in range(lo, hi))


def _seqs(path: Path) -> list[int]:
    return [json.loads(line)["generic"]["seq"] for line in path.read_bytes().splitlines()]


def test_a_killed_writer_after_the_lock_was_taken_again_lets_no_second_agent_in(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "a.log"
    log.write_text(_numbered(0, 100))
    state = tmp_path / "state"
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(state), "shutdown_timeout": 10,
                               "sources": [{"name": "app", "type": "file", "paths": [str(logs / "*.log")],
                                            "parser": "json", "poll_interval": 0.2}],
                               "outputs": [{"type": "stdout"}]}))
    out_a, out_b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    err_a, err_b = tmp_path / "a.err", tmp_path / "b.err"
    second = None
    with open(out_a, "wb") as out, open(err_a, "wb") as err:
        first = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=out, stderr=err)
    try:
        assert wait(lambda: out_a.read_bytes().count(b"\n") >= 100, 60), "the first lines were not shipped"
        os.unlink(state / "shipper.lock")  # a tmpfiles cleaner; the agent takes it again
        with open(log, "a") as f:
            f.write(_numbered(100, 101))  # an event: the agent looks within a second
        assert wait(lambda: "taken again" in err_a.read_text(), 30), err_a.read_text()
        time.sleep(12)  # idle: the agent looks every 5 s now
        os.kill(writer_pid(first.pid), signal.SIGKILL)  # the OOM killer
        with open(out_b, "wb") as out, open(err_b, "wb") as err:  # another pod, another network namespace
            second = subprocess.Popen(["unshare", "--net", SHIPPER, "run", "-c", str(cfg)], stdout=out, stderr=err)
        time.sleep(8)
        with open(log, "a") as f:
            f.write(_numbered(101, 200))
        wait(lambda: out_a.read_bytes().count(b"\n") + out_b.read_bytes().count(b"\n") >= 200, 30)
        time.sleep(2)
    finally:
        stop_process(first, 30)
        if second is not None:
            stop_process(second, 30)
    counts = Counter(_seqs(out_a) + _seqs(out_b))
    assert set(counts) == set(range(200)), "events missing"
    repeated = sum(n - 1 for n in counts.values())
    assert repeated == 0, (f"two agents ran on one state_dir: {repeated} events shipped twice; the second said "
                           f"{err_b.read_text()[-300:]!r}; the first: "
                           + "\n".join(ln[:200] for ln in err_a.read_text().splitlines() if "level=info" not in ln))
