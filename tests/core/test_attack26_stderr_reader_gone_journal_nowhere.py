"""Attack 26 (exam26d): the journal's reader goes away while the agent runs — `shipper run 2> >(logger -t shipper)` or
`2>&1 | tee -a …` and that process killed, a log collector reading the agent's stderr pipe restarted. Session 25 made a
start with stderr closed send the journal to syslog, or refuse to run "with nowhere to say what it loses"
(docs/operations.md, "Standard error closed"). Found by hand (1 of 1, and 1 of 1 in this test): with stderr a pipe
whose reader then closed, every later journal line met EPIPE and went nowhere — a FIFO matched by the paths, named
once, was named to no one; so would be any `data lost` — while the agent ran on, shipping, /health `ok`, exit 0 at
the stop. Nothing reached the syslog socket it would have used. What should hold: once stderr breaks, the journal
goes where it goes when stderr is closed (syslog), saying so, or the agent says it has nowhere to say what it
loses. Fixed: shipper.log.JournalHandler moves the journal to syslog at the first EPIPE
(journal_syslog.take_broken_stderr)."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.journal_sinks import SHIPPER, bound_syslog, folder_config, numbered, received
from tests.support import stop_process, wait


def test_the_journal_outlives_its_stderr_reader(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "a.log"
    log.write_text(numbered(0, 10))
    cfg = folder_config(tmp_path, logs)
    out = tmp_path / "out.jsonl"
    path = tmp_path / "syslog.sock"
    with bound_syslog(path) as syslog, open(out, "wb") as out_file:
        read_end, write_end = os.pipe()
        agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=out_file, stderr=write_end,
                                 env={**os.environ, "SHIPPER_SYSLOG_SOCKET": str(path)})
        os.close(write_end)
        try:
            assert wait(lambda: out.read_bytes().count(b"\n") >= 10, 60), "the first lines were not shipped"
            assert b"msg=started" in os.read(read_end, 65536)
            os.close(read_end)  # the journal's reader goes away
            time.sleep(0.5)
            os.mkfifo(logs / "pipe.log")  # a warning: named once
            with open(log, "a") as f:
                f.write(numbered(10, 20))
            assert wait(lambda: out.read_bytes().count(b"\n") >= 20, 60), "the lines after were not shipped"
            time.sleep(2)
            running = agent.poll() is None
        finally:
            stop_process(agent, 30)
        got = received(syslog)
    said = [m for m in got if "pipe.log" in m]
    assert said or not running, f"the agent ran on with its journal going nowhere; syslog received {got}"
    assert any("the reader of standard error went away (EPIPE): the journal goes to syslog" in m for m in got), got
    assert all(m.startswith("<") and "shipper[" in m for m in got), f"a line without its priority and identifier: {got}"
