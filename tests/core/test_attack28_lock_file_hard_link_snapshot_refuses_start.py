"""Attack 28 (exam28): 18e7e23's refusal of a hard-linked lock file meets a hard-link snapshot. An operator takes a
cheap copy of the state_dir before an upgrade, `cp -al /var/lib/shipper /var/lib/shipper.pre-upgrade` (or a backup
tool links the files it keeps): every file there gains a second name, shipper.lock too. The running agent goes on (it
holds its lock), but the next start — the upgrade's restart, a reboot — refuses: `…/shipper.lock has another name (a
hard link), not the lock file shipper makes: refused, nothing written to it (someone who can write in the state_dir
put it there?); remove it`, exit 2, and systemd's Restart= fails the same way until someone removes it. The file is
the lock shipper made (its owner's, 0600, the last agent's pid in it); its other name is harmless to leave as it is.
2 of 2 by hand (`cp -al` while the agent ran, then a stop and a start; `ln` after a `run --once`). What should hold:
the agent starts; a lock file with another name elsewhere is left to that name and replaced (a new file made in
its place, nothing written through the old one), the refusal kept for what is not shipper's lock."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.journal_sinks import SHIPPER, numbered
from tests.other_user_locks import shipped_once


def test_a_start_after_a_hard_link_snapshot_of_the_state_dir_runs(tmp_path: Path) -> None:
    cfg, state, logs = shipped_once(tmp_path, lines=10)
    snapshot = tmp_path / "state.pre-upgrade"
    subprocess.run(["cp", "-al", str(state), str(snapshot)], check=True)  # the operator's cheap copy
    assert os.stat(state / "shipper.lock").st_nlink == 2
    kept = (snapshot / "shipper.lock").read_bytes()  # the last agent's pid
    with open(logs / "a.log", "a") as f:
        f.write(numbered(10, 15))
    second = subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    assert second.returncode == 0, f"the start after the snapshot was refused: {second.stderr.decode()[-800:]}"
    assert [json.loads(ln)["generic"]["n"] for ln in second.stdout.splitlines()] == list(range(10, 15))
    assert (snapshot / "shipper.lock").read_bytes() == kept, "the snapshot's lock was written through"
