"""Attack 8 (issue 23's held-out check "idle cost measured from /proc with 2,000 quiet files"): the wake-ups of
the agent's own process tree, as the examiners measure them.

Issue 23's goal: "≤ 0.2 % of a core and ≤ 2 wake-ups/s with 2,000 quiet files", and "timers merged so an idle
agent wakes a few times a second at most" (bench/README.md's last figures: 1.17/s). Found (attack13, by hand,
/tmp idle runs of 60-120 s, 3 of 3): a `shipper run` (stdout output) that has read 2,000 one-line files and
has nothing more to do wakes 3.7-3.95 times a second (200 files: 3.3/s): its main thread ~1.95/s (twice the
once-a-second check bench/README.md describes) and the checkpoint writer process (`checkpoint_db.py`, a
child the bench does not count) ~1.0/s, the rest ~0.8/s. Wake-ups are voluntary context switches (sleeps
that ended) summed over every thread of the agent and of its children, from /proc; load on the host
preempts threads (involuntary switches, not counted) but does not wake them, so the count holds on a busy
machine."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import wait_until

pytestmark = pytest.mark.slow

FILES = 2000
WINDOW = 30.0  # seconds measured; the goal's 2/s leaves room for one safety rescan (rescan_interval 60 s)


def _tree(pid: int) -> list[int]:
    pids, i = [pid], 0
    while i < len(pids):
        for task in os.listdir(f"/proc/{pids[i]}/task"):
            try:
                pids += [int(x) for x in Path(f"/proc/{pids[i]}/task/{task}/children").read_text().split()]
            except OSError:
                pass
        i += 1
    return pids


def _wakeups(pid: int) -> dict[str, int]:
    """Voluntary context switches per thread (pid/tid/name) of the process tree under `pid`."""
    out = {}
    for p in _tree(pid):
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                status = Path(f"/proc/{p}/task/{t}/status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            out[f"{p}/{t}/{fields['Name'].strip()}"] = int(fields["voluntary_ctxt_switches"])
    return out


def test_an_idle_agent_with_2000_quiet_files_wakes_at_most_twice_a_second(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    for i in range(FILES):
        (logs / f"f{i}.log").write_text(json.dumps({"seq": i}) + "\n")
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"state_dir: {tmp_path}/state\nsources:\n  - name: app\n    type: file\n"
                   f"    paths: [{logs}/*.log]\n    parser: json\noutputs:\n  - type: stdout\n")
    out = tmp_path / "out.jsonl"
    with open(out, "wb") as o, open(tmp_path / "err", "wb") as e:
        agent = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)], stdout=o, stderr=e)
    try:
        wait_until(lambda: out.read_bytes().count(b"\n") >= FILES, 300, f"the {FILES} lines to be shipped")
        time.sleep(5)  # the last checkpoint commit and snapshot
        assert agent.poll() is None
        before, t0 = _wakeups(agent.pid), time.monotonic()
        time.sleep(WINDOW)
        after, seconds = _wakeups(agent.pid), time.monotonic() - t0
        assert agent.poll() is None
    finally:
        agent.terminate()
        agent.wait(60)
    per_thread = sorted(((after[k] - before.get(k, 0)) / seconds, k) for k in after)
    total = sum(rate for rate, _ in per_thread)
    busiest = ", ".join(f"{k} {rate:.2f}/s" for rate, k in per_thread[-4:])
    assert out.read_bytes().count(b"\n") == FILES, "nothing was written: the files were quiet"
    assert total <= 2.0, f"{total:.2f} wake-ups/s over {seconds:.0f} s (busiest: {busiest})"
