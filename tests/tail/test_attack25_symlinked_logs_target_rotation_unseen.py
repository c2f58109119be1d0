"""Attack 25 (issue 21, examiner exam25i): logs reached through symlinks into another folder (the Kubernetes layout)
rotate there unseen: the files rotated and deleted between two rescans are lost without a word.

Kubernetes: `paths: [/var/log/containers/*.log]`, each a symlink to `/var/log/pods/<ns>_<pod>_<uid>/<c>/0.log`;
the kubelet rotates 0.log to `0.log.<timestamp>`, the runtime reopens 0.log, and old backups are deleted
(containerLogMaxFiles). The agent watches the symlinks' folder, not the targets': an append to 0.log is read only at
the next safety rescan (`rescan_interval`, 60 s by default: 61.0 s and 59.9 s measured), and a rotation there is
not seen at all. Every file rotated and deleted between two rescans is never opened: here 100 lines (two files)
lost with 1 backup kept and 4 rotations 2 s apart (rescan_interval 10), 250 lines (five files) with 4 backups and
10 rotations 1 s apart; no warning, nothing counted. 2 of 2 by hand. A symlinked *folder* is handled (its target
folder is watched: docs/design.md, session 18); a symlinked file is not.

What should happen: the target's folder is watched like the file's own (appends read at once, its rotations held),
or what escaped is counted and named. Session 26: the folder of each followed link's target is watched for writes
(Tailer.folders); a write to a file there that is no longer the one the link's content is read from (rotated) makes
a scan (Tailer.read_changed).
"""
from __future__ import annotations

import os
import time

import pytest

from tests.tail.attack18_agent import Agent, append


@pytest.mark.slow
def test_rotations_behind_a_symlinked_log_lose_nothing_unnamed(tmp_path):
    containers = tmp_path / "logs" / "containers"
    pod = tmp_path / "logs" / "pods" / "ns_app_uid" / "app"
    containers.mkdir(parents=True)
    pod.mkdir(parents=True)
    target = pod / "0.log"
    append(target, 0, 50, header=False)
    os.symlink(target, containers / "app_ns_app-abc.log")
    agent = Agent(tmp_path, [str(containers / "*.log")], "    rescan_interval: 10\n")
    agent.start()
    agent.wait_seqs(range(50))
    seq = 50
    try:
        for rotation in range(4):  # the kubelet's rotation, one backup kept
            seq = append(target, seq, 50, header=False)[-1] + 1
            for old in pod.glob("0.log.*"):
                old.unlink()
            os.rename(target, pod / f"0.log.{rotation}")
            target.touch()  # the runtime reopens 0.log
            time.sleep(2)
        seq = append(target, seq, 50, header=False)[-1] + 1
        time.sleep(20)  # two rescans
    finally:
        agent.stop()
    missing = sorted(set(range(seq)) - set(agent.seqs()))
    named = [w for w in agent.warnings() if "lost" in w]
    assert not missing or named, f"{len(missing)} lines lost, nothing said ({missing[0]}..{missing[-1]})"
