"""Issue 13 (exam23d noticed, session 23): seven file sources with `parse_workers: 2` under nofile=64. The workers
cannot all start: each source said `cannot start parse workers; parsing in the agent` with `[Errno 24] Too many open
files` (and everything was shipped), but nothing said which limit or what to do, and the parse workers' forkserver
died with a raw `Traceback … EOFError` on the agent's stderr: the agent, out of descriptors at a pipe, broke a
worker's start off after its connect, and the forkserver's recvfds met the closed connection (1 of 1 by hand, 1 of 1
here before the fix). Now each source says it once, naming the descriptor limit and what to do; no traceback, and
every line is still delivered.

Session 25: the parse workers are counted in the descriptor budget (shipper.fdlimit.grant_workers): under 64 the
limit leaves them no room, so none is started and each source says so in that same one line before any start could
meet EMFILE (the forkserver's guard is not reached here any more; it stays for a limit met otherwise)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.peers.forward_server import ForwardServer
from tests.support import free_port, run_under_nofile, stop_process, wait

# Slow (5-40 s), handed out first: once in a while a source meets EMFILE making its watcher (pipe2) and fails, its
# lines never come, the 120 s wait runs out and the test is run again; in session 27's last clean clone it did so last
# of all, alone (123 s, the run's one rerun). Open: not met in 12 runs, four side by side (session 28).
pytestmark = pytest.mark.slow

SOURCES = 7
LINES = 2000  # a source


def test_parse_workers_out_of_descriptors_say_one_line_and_no_traceback(tmp_path: Path) -> None:
    state, logs = tmp_path / "state", tmp_path / "logs"
    state.mkdir()
    for i in range(SOURCES):
        (logs / f"s{i}").mkdir(parents=True)
        (logs / f"s{i}" / "app.log").write_text("".join(f'{{"src": "s{i}", "n": {n}}}\n' for n in range(LINES)))
    peer = ForwardServer(port=free_port()).start()
    cfg = {"state_dir": str(state), "shutdown_timeout": 5,
           "sources": [{"name": f"s{i}", "type": "file", "paths": [str(logs / f"s{i}" / "app.log")], "parser": "json",
                        "parse_workers": 2} for i in range(SOURCES)],
           "outputs": [{"type": "fluentd", "host": "127.0.0.1", "port": peer.port, "flush_interval": 0.2}]}
    agent, err = run_under_nofile(cfg, tmp_path, 64)
    try:
        delivered = wait(lambda: len(peer.records) >= SOURCES * LINES, 120, every=0.5)
        # (The workers start in a thread of their own: their word may come after the lines.)
        wait(lambda: "cannot start parse workers" in err.read_text(errors="replace"), 30, every=0.5)
        time.sleep(3)
    finally:
        code = stop_process(agent, 60)
        peer.stop()
    journal = err.read_text(errors="replace")
    assert code == 0, journal[-3000:]
    assert "Traceback" not in journal, journal[-3000:]
    assert delivered, f"{len(peer.records)} of {SOURCES * LINES} delivered"
    said = [ln for ln in journal.splitlines() if "cannot start parse workers" in ln]
    assert said, "every worker started: the test proves nothing"
    assert all("out of file descriptors" in ln and "LimitNOFILE" in ln for ln in said), said
    assert len(said) <= SOURCES, said  # one line a source at most
    # What the forkserver says, if anything, is a line in the agent's format, not a traceback.
    assert all(ln.startswith("level=") for ln in journal.splitlines() if ln.strip()), journal[-3000:]
