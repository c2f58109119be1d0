"""A config read through symlinks the way Kubernetes mounts a ConfigMap: `shipper.yaml -> ..data/shipper.yaml`,
`..data -> ..2026_12_05_a`; an update writes a new timestamped folder, renames a new `..data` link over the old one
(atomic) and deletes the old folder; the operator then sends SIGHUP, or the agent restarts.

Relative paths in the config are taken from the folder of its path as given (docs/operations.md, "Relative paths"),
not from the link's target: before, `state_dir: state` and `paths: [logs/app.log]` meant
`..2026_12_05_a/state` and `..2026_12_05_a/logs/app.log`, so after a switch the reload was refused (state_dir
changed) and a restart used another, empty state_dir and shipped everything again without a word (issue 23; by
hand: 100 lines written, 200 shipped). Counted line by line on stdout, across runs.
"""
from __future__ import annotations

import json
import os
import shutil
import signal

import pytest

from tests.e2e.ops_attack import OpsAgent, append_numbered, counts
from tests.support import wait_until

pytestmark = pytest.mark.slow


class ConfigMap:
    """A ConfigMap volume at `root` holding shipper.yaml, updated the way the kubelet's atomic writer does it."""

    def __init__(self, root) -> None:
        self.root, self.version = root, None
        root.mkdir()

    def write(self, version: str, text: str) -> None:
        folder = self.root / f"..2026_12_05_{version}"
        folder.mkdir()
        (folder / "shipper.yaml").write_text(text)
        if self.version is None:
            os.symlink(folder.name, self.root / "..data")
            os.symlink("..data/shipper.yaml", self.root / "shipper.yaml")
        else:
            os.symlink(folder.name, self.root / "..data_tmp")
            os.rename(self.root / "..data_tmp", self.root / "..data")  # the switch: one rename over the link
            shutil.rmtree(self.root / f"..2026_12_05_{self.version}")  # the old folder goes at once
        self.version = version

    @property
    def config(self):
        return self.root / "shipper.yaml"


def config(tag: str, log: str = "logs/app.log") -> str:
    return f"""
state_dir: state
shutdown_timeout: 5
sources:
  - {{name: app, type: file, paths: ["{log}"], parser: json, batch_size: 20, tags: [{tag}]}}
outputs:
  - type: stdout
"""


def tagged(agent: OpsAgent, run: int) -> dict[int, list]:
    """The tags of each line a run shipped, by its sequence number."""
    with open(agent.tmp / f"out{run}.jsonl", "rb") as f:
        docs = [json.loads(line) for line in f if line.endswith(b"\n")]
    return {d["generic"]["seq"]: d.get("tags", []) for d in docs}


@pytest.fixture
def layout(tmp_path):
    cm = ConfigMap(tmp_path / "shipper")
    (cm.root / "logs").mkdir()
    log = cm.root / "logs" / "app.log"
    cm.write("a", config("v1"))
    return cm, log, OpsAgent(tmp_path)


def test_a_configmap_switched_then_sighup_keeps_the_state_dir_and_repeats_nothing(layout):
    cm, log, agent = layout
    append_numbered(log, 0, 50)
    agent.start(cm.config)
    try:
        wait_until(lambda: len(set(agent.seqs())) >= 50, 60, "the first 50 lines shipped")
        cm.write("b", config("v2"))
        agent.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "msg=reloaded" in agent.errors() or "reload refused" in agent.errors(), 60,
                   "the reload's answer")
        append_numbered(log, 50, 50)
        wait_until(lambda: len(set(agent.seqs())) >= 100 or "reload refused" in agent.errors(), 60,
                   "the next 50 lines shipped")
    finally:
        code = agent.stop()
    assert "reload refused" not in agent.errors(), agent.errors()
    missing, repeated = counts(agent.seqs(), range(100))
    assert not missing and not repeated, f"{len(missing)} missing, {len(repeated)} repeated: {agent.errors()}"
    tags = tagged(agent, 1)
    assert all("v2" in tags[s] for s in range(50, 100)), "the lines written after the reload carry the new tag"
    assert code == 0
    assert (cm.root / "state" / "checkpoints.sqlite").exists(), "the state_dir is the link's folder's `state`"


def test_a_configmap_switched_while_stopped_restarts_from_the_same_state_dir(layout):
    """The log named by its absolute path: only the relative state_dir is at stake (before: 50 lines twice)."""
    cm, log, agent = layout
    cm.write("b", config("v1", str(log)))
    append_numbered(log, 0, 50)
    agent.start(cm.config)
    try:
        wait_until(lambda: len(set(agent.seqs())) >= 50, 60, "the first 50 lines shipped")
    finally:
        assert agent.stop() == 0
    cm.write("c", config("v2", str(log)))
    append_numbered(log, 50, 50)
    agent.start(cm.config)
    try:
        # (A read from the file's start again ships lines 0-49 before lines 50-99, so they are in by then.)
        wait_until(lambda: len(set(agent.seqs())) >= 100 or agent.proc.poll() is not None, 60,
                   "the next 50 lines shipped")
    finally:
        assert agent.stop() == 0, agent.errors()
    missing, repeated = counts(agent.seqs(), range(100))
    assert not missing and not repeated, f"{len(missing)} missing, {len(repeated)} repeated: {agent.errors()}"
    assert sorted(tagged(agent, 2)) == list(range(50, 100)), "the restart read on from its checkpoint"
    assert all("v2" in t for t in tagged(agent, 2).values()), "the restart read the switched config"
