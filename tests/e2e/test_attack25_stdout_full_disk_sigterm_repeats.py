"""Attack 25 (exam25d, issue 13's "stdout on a briefly full disk (0 duplicates, 0 torn lines)"): the stdout output's
file fills its disk mid-batch (`289414 bytes of the batch written, the retry resumes after them`), and the agent is
stopped with SIGTERM (`systemctl stop`, a `--once` run's operator giving up) while the disk is still full. The stop
says `stopped with batches undelivered; they are read again next start` and leaves the 289,414 bytes in the file: the
665 whole lines of the batch that reached it and a cut line. Space freed, the next run (appending to the same file, as
`StandardOutput=append:` does) writes the whole batch again: 666 events twice (665 repeated whole, the cut one once
more after its piece), named nowhere — the next start only names the cut line ("an earlier run ended while writing it
(a full disk, then a kill?)").

docs/operations.md ("stdout as an output"): `run --once` that gives up "exits 1 … after cutting the file back to where
the unfinished batch began, so the next run writes it whole, once"; README: "A SIGTERM stop delivers what is in flight
(up to `shutdown_timeout`) and repeats nothing" (the exception named there is a state_dir that cannot save checkpoints,
not a full output disk). A SIGTERM stop is not a kill -9: it can cut the file back too, or name the repeat. Found by
hand 2 of 2 (daemon) and 2 of 2 (`--once`), 30,000 events, a 32 MiB tmpfs filled to 4 MiB free.
"""
from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fs_faults import fill, small_tmpfs
from tests.support import stop_process, wait_until

pytestmark = pytest.mark.slow  # (an agent on a full disk for 5 s, a stop of up to shutdown_timeout: handed out first)

SHIPPER = str(Path(sys.executable).with_name("shipper"))
EVENTS = 30_000


@pytest.mark.parametrize("once", [False, True], ids=["daemon", "once"])
def test_a_sigterm_stop_on_a_full_stdout_disk_repeats_nothing_unnamed(tmp_path: Path, once: bool) -> None:
    log = tmp_path / "app.log"
    log.write_text("".join(json.dumps({"n": i, "message": "x" * 50}) + "\n" for i in range(EVENTS)))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state"), "shutdown_timeout": 5,
                               "sources": [{"name": "app", "type": "file", "paths": [str(log)], "parser": "json"}],
                               "outputs": [{"type": "stdout"}]}))  # JSON is YAML
    journal = tmp_path / "agent.err"
    with small_tmpfs(tmp_path / "out", 32768) as fs:
        filler = fill(fs, 4 * 1024 * 1024)
        out = fs / "out.ndjson"
        with open(out, "ab") as of, open(journal, "ab") as ef:
            agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg), *(["--once"] if once else [])],
                                     stdout=of, stderr=ef)
        try:
            wait_until(lambda: "No space left" in journal.read_text(), 120, "the disk to fill mid-batch")
            agent.send_signal(signal.SIGTERM)  # the disk still full
            agent.wait(60)
        finally:
            stop_process(agent, 30)
        stopped_said = journal.read_text()
        os.unlink(filler)
        with open(out, "ab") as of, open(journal, "ab") as ef:
            subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], stdout=of, stderr=ef, timeout=300, check=True)
        counts: collections.Counter = collections.Counter()
        unparseable = 0
        for line in out.read_bytes().splitlines():
            try:
                counts[json.loads(line)["generic"]["n"]] += 1
            except ValueError:
                unparseable += 1
    assert set(counts) == set(range(EVENTS)), "events missing: not the attack's concern, but wrong"
    repeated = sum(v - 1 for v in counts.values() if v > 1)
    named = [ln for ln in stopped_said.splitlines()  # in the message, not a path (a test folder's name)
             if "msg=" in ln and any(w in ln.split("msg=")[1].split('" ')[0] for w in ("repeat", "written again"))]
    assert (not repeated and not unparseable) or named, (
        f"{repeated} events written twice and {unparseable} cut line(s) after a SIGTERM stop; the stop said: "
        f"{[ln[:160] for ln in stopped_said.splitlines() if 'level=error' in ln or 'level=warning' in ln]}")
