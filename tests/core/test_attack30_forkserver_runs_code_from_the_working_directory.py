"""Black-box attack 30 (exam30a, the parse workers): the parse workers' forkserver imports modules from the
agent's working directory. docs/operations.md: a backlog is parsed in worker processes, "children of a
multiprocessing forkserver, itself a child of shipper". multiprocessing starts that forkserver as `python -c …`,
whose sys.path begins with the working directory ('').

Found (by hand, by accident, 2 of 2 again on purpose): a file named `bisect.py` left in the folder `shipper run
--once` was started from ran inside the forkserver (`argv=['-c']`) at its start, before the agent's code; the
run shipped everything and said nothing. An operator who runs `shipper run --once`, `reset` or a debugging run
as root from a folder another user can write (/tmp, the product's own log folder, which its service user owns)
runs that user's code as root; a module that fails there ends the forkserver (`cannot start parse workers`).
The console script's own process is not affected (its sys.path starts at its bin folder); under systemd the
working directory is / unless WorkingDirectory= says otherwise."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SHIPPER = os.path.join(os.path.dirname(sys.executable), "shipper")

# A module of the standard library the forkserver imports at its start (multiprocessing -> random -> bisect). It
# notes that it ran, then hands over to the real one, so that the run itself goes on unharmed, as a hostile one would.
PLANTED = """
import importlib, os, sys
with open({marker!r}, "a") as f:
    f.write(f"ran in pid {{os.getpid()}} argv={{sys.argv!r}}\\n")
del sys.modules[__name__]
sys.path = [p for p in sys.path if p not in ("", os.getcwd())]
sys.modules[__name__] = importlib.import_module(__name__)
"""


def test_a_module_in_the_working_directory_is_not_run_by_the_parse_workers(tmp_path):
    cwd = tmp_path / "someone_elses_folder"
    cwd.mkdir()
    marker = tmp_path / "planted_module_ran"
    (cwd / "bisect.py").write_text(PLANTED.format(marker=str(marker)))
    log = tmp_path / "app.log"
    with open(log, "w") as f:  # a backlog: parsed in the workers (parse_workers: 2 besides, whatever `auto` decides)
        f.write("".join(json.dumps({"seq": i, "msg": "x" * 50}) + "\n" for i in range(20_000)))
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
sources:
  - name: app
    type: file
    paths: [{log}]
    parser: json
    parse_workers: 2
outputs:
  - type: stdout
""")
    try:
        r = subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], cwd=cwd, capture_output=True, timeout=180)
    except subprocess.TimeoutExpired:
        pytest.fail("run --once did not end within 180 s")
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-1500:]
    assert r.stdout.count(b"\n") == 20_000
    assert not marker.exists(), f"code planted in the working directory ran: {marker.read_text()}"
