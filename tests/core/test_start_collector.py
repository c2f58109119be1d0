"""`shipper run`'s start makes tens of thousands of objects that live as long as the agent and next to no garbage: the
cyclic collector went over them ~80 times before the sources started (~3 % of a start's instructions, bench/README.md
session 27). It is held until the daemon runs, and back (with what the start made frozen) when the sources start."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

# The agent as `shipper run` starts it, in a process that counts the collections and looks at the collector when the
# daemon starts its sources.
SCRIPT = textwrap.dedent("""
    import gc, json, sys
    collections = []
    # Counted from the CLI's first imports on (click is among them): not while Python compiles shipper/cli.py itself,
    # when its bytecode is not written (PYTHONDONTWRITEBYTECODE) and the CLI's code has not run yet.
    gc.callbacks.append(lambda phase, info: phase == "start" and "click" in sys.modules
                        and collections.append(info["generation"]))
    sys.argv = ["shipper", "run", "--once", "-c", sys.argv[1]]
    import shipper.cli
    from shipper import runner
    seen = {}
    start = runner.Daemon._start
    def _start(self):
        seen.update(collections=len(collections), enabled=gc.isenabled(), frozen=gc.get_freeze_count())
        start(self)
    runner.Daemon._start = _start
    try:
        shipper.cli.main()
    except SystemExit as e:
        seen["exit"] = e.code
    print(json.dumps(seen))
""")


def test_no_collection_during_the_start_and_the_collector_back_for_the_run(tmp_path: Path):
    (tmp_path / "a.log").write_bytes(b'{"timestamp": "2026-01-01 00:00:00", "actionType": "AUTHENTICATION"}\n')
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\nsources:\n  - name: a\n    type: file\n"
                   f"    paths: [{tmp_path / 'a.log'}]\n    parser: datameer\noutputs:\n  - type: stdout\n")
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(cfg)], capture_output=True, text=True, timeout=120)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["exit"] == 0, out.stderr
    assert seen["collections"] == 0
    assert seen["enabled"] is True and seen["frozen"] > 10_000  # (the start's objects, out of its reach)
