"""Attack 26 (exam26d), after 0f25de2 (stderr's reader gone, EPIPE, moves the journal to syslog): the journal is a
file whose filesystem fills — `StandardError=append:/var/log/shipper.log` or `2>>/var/log/shipper.err`, and /var/log
full, as it is when the logs shipper follows fill it. Found by hand (2 of 2): of 40 warnings said after the
filesystem filled (a FIFO matched by the paths, named once each), 13 reached the file — the last cut mid-line, `…
pipe12.log is a FIFO or pipe, not a regul` — and 27 went nowhere: nothing to the syslog socket that EPIPE now moves
the journal to, no word anywhere; the agent ran on. A `data lost` said then would go the same way. What should hold:
ENOSPC (or EIO) on the journal's file is a break as EPIPE is (the journal goes to syslog, saying so), or its lost
lines are counted and said once there is room. The kernel's log is a file bind-mounted over /dev/kmsg in a mount
namespace of the agent's own, so a fallback to it does not write the host's."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.fs_faults import fill, small_tmpfs
from tests.journal_sinks import SHIPPER, bound_syslog, folder_config, numbered, own_kmsg, received
from tests.support import stop_process, wait

FIFOS = 40



def test_journal_lines_on_a_full_disk_go_somewhere_or_are_counted(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text(numbered(0, 10))
    cfg = folder_config(tmp_path, logs)
    out = tmp_path / "out.jsonl"
    kmsg = tmp_path / "kmsg"
    path = tmp_path / "syslog.sock"
    with small_tmpfs(tmp_path / "varlog", 1024) as varlog, bound_syslog(path) as syslog:
        journal = varlog / "shipper.err"
        with open(journal, "ab") as err, open(out, "wb") as out_file:
            agent = subprocess.Popen(own_kmsg(kmsg, [SHIPPER, "run", "-c", str(cfg)]), stdout=out_file, stderr=err,
                                     env={**os.environ, "SHIPPER_SYSLOG_SOCKET": str(path)})
        try:
            assert wait(lambda: out.read_bytes().count(b"\n") >= 10, 60), "the first lines were not shipped"
            fill(varlog, 0)  # the journal's filesystem is full
            for i in range(FIFOS):
                os.mkfifo(logs / f"pipe{i:02d}.log")  # each named once
            time.sleep(4)  # the warnings said
        finally:
            stop_process(agent, 30)
        in_file = journal.read_text(errors="replace")
        got = received(syslog)
    said = kmsg.read_text()
    named = {i for i in range(FIFOS) if f"pipe{i:02d}.log is a FIFO" in in_file + "".join(got)}
    counted = any("journal" in m and ("lost" in m or "dropped" in m or "full" in m) for m in got) or "journal" in said
    assert len(named) == FIFOS or counted, (
        f"{FIFOS - len(named)} of {FIFOS} journal lines went nowhere (file: {in_file.count('is a FIFO')}, syslog: "
        f"{len(got)}), unsaid; the file ends {in_file[-160:]!r}; the kernel's log: {said!r}")
    # Fixed (shipper/log.py, JournalHandler): ENOSPC moves the journal to syslog, saying so there.
    assert any("standard error cannot be written (No space left on device" in m and "goes to syslog" in m
               for m in got), got
