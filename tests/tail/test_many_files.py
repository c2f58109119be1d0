"""500 files followed at once by `shipper run --once` under a descriptor limit of 256."""
from __future__ import annotations

import json
import resource
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_500_files_with_256_descriptors(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    for i in range(500):
        (logs / f"f{i:03d}.log").write_text("".join(json.dumps({"seq": i * 10 + j}) + "\n" for j in range(10)))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path}/state
sources:
  - name: many
    type: file
    paths: ["{logs}/*.log"]
    parser: json
outputs:
  - type: stdout
""")

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    res = subprocess.run([sys.executable, "-m", "shipper.cli", "run", "--once", "-c", str(cfg)],
                         capture_output=True, preexec_fn=limit, timeout=300)
    assert res.returncode == 0, res.stderr.decode()[-2000:]
    seqs = [json.loads(line)["generic"]["seq"] for line in res.stdout.splitlines()]
    assert sorted(seqs) == list(range(5000))
    assert b"Too many open files" not in res.stderr
