"""Attack 29 (exam29a), on 5376a22: the journal on a regular file whose filesystem is frozen — `shipper run …
2>>/var/log/shipper.err` (systemd's `StandardError=append:`), and /var/log frozen by a snapshot's backup (fsfreeze, an
LVM or VM snapshot; a hung NFS server or disk does the same). A write to a frozen filesystem sleeps in the kernel until
the thaw, and O_NONBLOCK means nothing to a regular file: a2ed140/914b0a6 keep the journal from blocking on a pipe, a
socket or a terminal, and the checkpoint database has a writer process of its own for this very case
(docs/operations.md: "a write to a frozen filesystem or a hung disk sleeps in the kernel where no signal reaches it,
and only that process waits then"), but the journal's file is written by the thread that logs. Three warnings (three
FIFOs matched, each named once) after the freeze: the 50 lines then appended to the followed log are not shipped in 5 s
(50 of 100), and a SIGTERM does not end the agent in 30 s (shutdown_timeout 5; the main thread waits on a futex, the
logging lock). At the thaw everything goes on: all shipped, the stop ends. 2 of 2 by hand, 1 of 1 in the test (the
same steps without the freeze ship all and stop at once). What should hold: the journal never stops the agent,
whatever its stderr; a stop ends on time. Fixed (session 30): the journal's file is written by a process of its own
(shipper/journal_file.py); the stop names in the kernel's log (here a file of the test's own) what it left unwritten."""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.fs_faults import ext4_image
from tests.journal_sinks import SHIPPER, followed_log, numbered, own_kmsg
from tests.support import wait

pytestmark = pytest.mark.slow  # (a loop-mounted ext4, waits of 20-30 s)


def test_a_journal_file_on_a_frozen_filesystem_neither_stops_shipping_nor_the_stop(tmp_path: Path) -> None:
    cfg, log = followed_log(tmp_path, 50, shutdown_timeout=5)
    logs = log.parent
    out = tmp_path / "out.jsonl"
    var_log = tmp_path / "var-log"
    var_log.mkdir()
    with ext4_image(var_log, tmp_path / "var-log.ext4"):
        frozen = False
        with open(out, "wb") as o, open(var_log / "shipper.err", "ab") as journal:
            agent = subprocess.Popen(own_kmsg(tmp_path / "kmsg", [SHIPPER, "run", "-c", str(cfg)]), stdout=o,
                                     stderr=journal)
        try:
            assert wait(lambda: out.read_bytes().count(b"\n") == 50, 60), "the first lines were not shipped"
            subprocess.run(["fsfreeze", "-f", str(var_log)], check=True)
            frozen = True
            for i in range(3):
                os.mkfifo(logs / f"fifo{i}.log")  # each named once in the journal: a warning
            with open(log, "a") as f:
                f.write(numbered(50, 100))
            shipped = wait(lambda: out.read_bytes().count(b"\n") == 100, 20)
            agent.send_signal(signal.SIGTERM)
            ended = wait(lambda: agent.poll() is not None, 30)
            lines = out.read_bytes().count(b"\n")
            assert shipped and ended, (
                f"with the journal's filesystem frozen: {lines} of 100 lines shipped in 20 s; "
                f"a SIGTERM {'ended' if ended else 'did not end'} the agent in 30 s (shutdown_timeout 5)")
        finally:
            if frozen:
                subprocess.run(["fsfreeze", "-u", str(var_log)], check=False)
            if agent.poll() is None:
                agent.kill()
            agent.wait()
