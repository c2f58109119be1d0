"""Black-box attack 4: a `**` glob over a log tree that holds symlinks back up the tree (`ln -s .. sub/up`,
a `latest` link to the folder itself: a mistake any operator can make). A loop must not make the agent
walk for ever: each folder is one folder, whatever number of paths lead to it, and the files are read."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.tail.attack_agent import numbered

pytestmark = pytest.mark.slow


def test_symlink_loops_under_a_recursive_glob_neither_hang_nor_repeat(tmp_path):
    logs = tmp_path / "logs"
    (logs / "sub").mkdir(parents=True)
    (logs / "a.log").write_text("".join(numbered(i) for i in range(5)))
    (logs / "sub" / "b.log").write_text("".join(numbered(i) for i in range(5, 10)))
    os.symlink("..", logs / "sub" / "up")
    os.symlink(logs, logs / "latest")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path}/state
sources:
  - name: app
    type: file
    paths: ["{logs}/**/*.log"]
    parser: json
outputs:
  - type: stdout
""")
    proc = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "--once", "-c", str(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError("run --once still walking the symlink loops after 60 s") from None
    assert proc.returncode == 0, err.decode()[-2000:]
    seqs = sorted(json.loads(line)["generic"]["seq"] for line in out.splitlines())
    assert seqs == list(range(10)), seqs
    loops = [line for line in err.decode().splitlines() if "symlink loop" in line]
    assert len(loops) == 2 and any("sub/up" in x for x in loops) and any("latest" in x for x in loops), loops
