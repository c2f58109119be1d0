"""Attack 24 (exam24d, issue 13's "`--once` into a closed pipe and /dev/full (ends)"): `shipper run --once` started
with its stdout closed (`>&-`: a cron job or a wrapper that closed descriptor 1; Python then has `sys.stdout` None).

Into a pipe whose reader went away it ends at once with 141, and into /dev/full with exit 1 after ~10 s naming ENOSPC
(both held, by hand). With stdout closed the stdout output fails every batch with `AttributeError: 'NoneType' object
has no attribute 'buffer'` (a traceback in `exc=`), retried every second ("still failing … failures=121"), and the run
goes on until `--timeout` (300 s by default; killed by `timeout 120` it drained for its shutdown_timeout and ended
after 148 s). The daemon retries the same for ever. Nothing says that stdout is closed. 2 of 2 by hand (`--once` and the
daemon). Expected: like EPIPE or EBADF on a write, a run that cannot write its output ends at once with a line naming
stdout (exit non-zero), no Python error. Fixed: plugins/outputs/stdout.py ends the run (EndRun, exit 1) naming it.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support import wait

SHIPPER = str(Path(sys.executable).with_name("shipper"))


def test_once_with_stdout_closed_ends_naming_stdout(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("".join(json.dumps({"n": i, "message": "m" * 80}) + "\n" for i in range(3000)))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state"), "shutdown_timeout": 5,
                               "sources": [{"name": "app", "type": "file", "paths": [str(log)], "parser": "json"}],
                               "outputs": [{"type": "stdout"}]}))  # JSON is YAML
    err = tmp_path / "agent.err"
    with open(err, "wb") as ef:
        run = subprocess.Popen(["bash", "-c", 'exec "$0" run --once --timeout 600 -c "$1" >&-', SHIPPER, str(cfg)],
                               stderr=ef)
    try:
        # It should end at once (a reader gone: ~1 s; 120 s is room for a loaded host); a Python error retried is
        # the failure already, not waited out.
        wait(lambda: run.poll() is not None or "AttributeError" in err.read_text(errors="replace"), 120, every=0.2)
        ended = run.poll()
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    journal = err.read_text(errors="replace")
    assert "AttributeError" not in journal, journal[-1500:]
    assert ended not in (None, 0), f"exit {ended}: {journal[-1500:]}"
    assert "stdout" in journal, journal[-1500:]
