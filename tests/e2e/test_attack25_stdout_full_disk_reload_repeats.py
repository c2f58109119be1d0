"""Attack 25 (exam25d, issue 13's "stdout on a briefly full disk (0 duplicates, 0 torn lines)", with a reload): the
stdout output's file fills its disk mid-batch; while the output retries, a SIGHUP replaces it (its `id_field` changed);
space comes back 3 s later, within the reload's wait (`reload: the sources it stops deliver their in-flight batches
first`, `timeout=5.0`). The old output writes the batches queued for it, then the reload says `reload: batches not
completed when a reload gave the source an output are read again for the outputs that did not store them, that output
among them` (info, `batches=7`), and the new stdout output writes them again — into the same file: 7,000-11,000
events twice, no line torn, no warning, nothing said a repeat. The changed `id_field` had the new output taken for one
storing elsewhere, owed every batch in flight; every stdout output writes to the agent's standard output (out13b,
StdoutOutputConfig.where).

docs/operations.md (reload): "Nothing is repeated and nothing lost, also when an output is down: … every batch no
output was handed yet is taken back … A stdout output the reload replaces or removes is among them: its write in
progress cannot be cut, so it is waited for and counts as delivered." Found by hand 3 of 3 (7,000, 7,000 and 11,000
events twice; stdout opened with `>` and with `>>`), 30,000 events, a 32 MiB tmpfs filled to 4 MiB free.
"""
from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fs_faults import fill, small_tmpfs
from tests.support import stop_process, wait_until

pytestmark = pytest.mark.slow  # (an agent on a full disk, a reload's wait: handed out first)

SHIPPER = str(Path(sys.executable).with_name("shipper"))
EVENTS = 30_000


def _config(cfg: Path, tmp_path: Path, log: Path, id_field: str) -> None:
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state"), "shutdown_timeout": 5,
                               "sources": [{"name": "app", "type": "file", "paths": [str(log)], "parser": "json"}],
                               "outputs": [{"type": "stdout", "id_field": id_field}]}))  # JSON is YAML


def test_a_reload_replacing_stdout_on_a_full_disk_repeats_nothing(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("".join(json.dumps({"n": i, "message": "x" * 50}) + "\n" for i in range(EVENTS)))
    cfg = tmp_path / "cfg.yaml"
    _config(cfg, tmp_path, log, "_sid")
    journal = tmp_path / "agent.err"
    with small_tmpfs(tmp_path / "out", 32768) as fs:
        filler = fill(fs, 4 * 1024 * 1024)
        out = fs / "out.ndjson"
        with open(out, "ab") as of, open(journal, "ab") as ef:
            agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=of, stderr=ef)
        try:
            wait_until(lambda: "No space left" in journal.read_text(), 120, "the disk to fill mid-batch")
            _config(cfg, tmp_path, log, "_sid2")  # the stdout output is replaced
            agent.send_signal(signal.SIGHUP)
            wait_until(lambda: "msg=reloading" in journal.read_text(), 60, "the reload to begin")
            time.sleep(3.0)  # within the reload's wait (shutdown_timeout 5)
            os.unlink(filler)
            wait_until(lambda: out.read_bytes().count(b"\n") >= EVENTS, 120, "every event written")
            time.sleep(3.0)  # a late repeat, if any
        finally:
            stop_process(agent, 60)
        counts: collections.Counter = collections.Counter()
        torn = 0
        for line in out.read_bytes().splitlines():
            try:
                counts[json.loads(line)["generic"]["n"]] += 1
            except ValueError:
                torn += 1
    said = journal.read_text()
    repeated = sum(v - 1 for v in counts.values() if v > 1)
    named = [ln for ln in said.splitlines()  # in the message, not a path (a test folder's name)
             if "msg=" in ln and any(w in ln.split("msg=")[1].split('" ')[0] for w in ("repeat", "written again"))]
    assert set(counts) == set(range(EVENTS)) and not torn, (len(counts), torn)
    assert not repeated or named, (
        f"{repeated} events written twice, named nowhere; the reload said: "
        f"{[ln.split('msg=')[1][:150] for ln in said.splitlines() if 'reload' in ln]}")
