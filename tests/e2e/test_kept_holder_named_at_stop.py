"""A file source's holder kept for a successor that never takes it over (issue 13; session 11 made a stop read
the holder's inotify queue, tests/tail/test_hold_stop_queued.py, but only in the source's own run()). A reload
restarts a source whose batch an output is still sending (a Fluentd that reads nothing): the restart waits for
that batch, and the source's holder is kept for the successor, watching on. Files of its glob created and deleted
meanwhile are owed by that holder. A second reload drops the source, and a stop follows: the kept holder was let
go without reading its queue or settling what it owed, and those files were named nowhere, at the stop or after.
Real agent, real files, a strict Fluentd peer."""
from __future__ import annotations

import re
import signal
import subprocess
import sys

import pytest

from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait_until
from tests.tail.attack_agent import free_port

pytestmark = pytest.mark.slow

JOBS = 5


def test_files_that_came_and_went_while_a_kept_holder_waited_are_named_at_the_stop(tmp_path):
    peer = ForwardServer(port=free_port()).start()
    peer.frozen.set()  # accepts, reads nothing: the source's batch stays in flight, its restart waits
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "first.log").write_text('{"job": 0}\n')
    (tmp_path / "other.log").write_text("")
    cfg = tmp_path / "shipper.yaml"

    def write_config(tags: str | None) -> None:
        jobs_source = (f'  - {{name: jobs, type: file, paths: ["{jobs}/*.log"], parser: json, poll_interval: 0.2, '
                       f'tags: [{tags}]}}\n') if tags else ""
        cfg.write_text(f"""
state_dir: {tmp_path}/state
shutdown_timeout: 2
sources:
{jobs_source}  - {{name: other, type: file, paths: ["{tmp_path}/other.log"], parser: json}}
outputs:
  - {{type: fluentd, host: 127.0.0.1, port: {peer.port}, flush_interval: 0.2, ack_timeout: 1000, timeout: 1000}}
""")

    write_config("first")
    journal = tmp_path / "agent.err"
    with open(journal, "wb") as err:
        agent = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)],
                                 stdout=subprocess.DEVNULL, stderr=err)
    code = None
    try:
        wait_until(lambda: peer.connections >= 1, 60, "the output connected (the source's batch in flight)")
        write_config("second")  # the jobs source restarts, once its batch in flight completes: never
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: b"the source restarts once the batches" in journal.read_bytes(), 60,
                   "the restart waiting for the batch in flight")
        for i in range(JOBS):  # the restarting source's holder, kept for its successor, is the one watching
            (jobs / f"job_{i}.log").write_text(f'{{"job": {i + 1}}}\n')
            (jobs / f"job_{i}.log").unlink()
        write_config(None)  # the jobs source is dropped: its successor never comes
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: journal.read_bytes().count(b"reloaded") >= 2, 60, "the second reload")
        agent.send_signal(signal.SIGTERM)
        code = agent.wait(60)
    finally:
        if code is None:
            stop_process(agent)
        peer.stop()
    text = journal.read_text(errors="replace")
    for i in range(JOBS):
        named = re.findall(rf"data lost[^\n]*{re.escape(str(jobs / f'job_{i}.log'))}", text)
        assert len(named) == 1, f"job_{i}.log, created and deleted while the kept holder waited, named " \
                                f"{len(named)} time(s) (exit {code}): {text[-1500:]}"
    assert "Traceback" not in text
