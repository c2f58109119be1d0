"""Attack 30 (exam30c, issue 13's held-out check "state_dir filled mid-run: ends, recovers", varied: the full disk
fills again). The state_dir is a small tmpfs; a file source (default `parse_workers: auto`) ships numbered lines to
the strict Fluentd peer while a writer appends ~2,000 lines/s. The state_dir is filled; the agent is stopped (its
reserve given up, exit 0); the filesystem is filled again (another writer takes the space back); the agent is
started on it (behind: its backlog goes to the parse workers) and its commits fail; it is stopped (exit 1: "what was
not delivered is read again"); space is freed and it is started again. The lines the second run read and did not
deliver are never sent (4,000 and 5,000 of 40,000, one block, 3 of 3 by hand) and no loss is named (the
journal says "what was not delivered is read again"). With
`parse_workers: 0` nothing was lost (1 of 1). The same without a reserve (a 3 MiB state_dir): the agent stopped with
the state_dir not yet full (exit 0), the state_dir filled, the agent started on it behind, stopped 3 s later (exit
1), space freed, started: 4,000 lines never sent, unnamed (1 of 1 by hand; with `parse_workers: 0` it delivered its
whole backlog before the stop, nothing lost)."""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.fluentd_agent import run_agent
from tests.fs_faults import small_tmpfs
from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait

LINES = 40_000


def _fill(folder: Path, name: str) -> Path:
    """A file taking every byte left on folder's filesystem."""
    filler = folder / name
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for chunk in (1 << 20, 65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def _write(log: Path, done: threading.Event) -> None:
    with open(log, "a", buffering=1) as f:
        for i in range(1, LINES + 1):
            f.write('{"seq":%d,"pad":"x"}\n' % i)
            if i % 100 == 0:
                time.sleep(0.05)
    done.set()


LOSS = ("a run started behind on a full state_dir{}, stopped while its commits fail (exit 1, 'what was not delivered "
        "is read again'), leaves the lines it read and did not deliver unread at the next start: never sent, no loss "
        "named (exam30c: 4,000-5,000 of 40,000 lines in one block; its backlog parsed by the auto pool's workers)")


@pytest.mark.parametrize("reserve", [
    # Plain xfail, timing-dependent: the output acks slowly during the second run (0.5 s a chunk) so that it has read,
    # undelivered batches at its stop; lost 2 of 3 at load ~2 with them (without them, at load ~5, it delivered its
    # whole backlog first). With the output down during that run (no delivery, no failed commit of one) nothing was
    # lost.
    pytest.param(True, id="reserve-given-up-then-filled-again", marks=pytest.mark.xfail(reason=LOSS.format(
        " (after a stop that gave up its reserve, the space taken again): 7 of 9, timing-dependent"))),
    # Plain xfail, load-dependent: lost at load 10-14 (2 of 3), not at load ~2 even with the slow acks (0 of 2).
    pytest.param(False, id="no-reserve", marks=pytest.mark.xfail(reason=LOSS.format(
        " (3 MiB: no reserve made): 2 of 3, load-dependent"))),
])
def test_state_dir_full_again_backlog_lines_read_again(tmp_path: Path, reserve: bool) -> None:
    peer = ForwardServer().start()
    log = tmp_path / "app.log"
    log.write_text("")
    state = tmp_path / "state"
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({  # JSON is YAML
        "state_dir": str(state), "shutdown_timeout": 5,
        "sources": [{"name": "app", "type": "file", "paths": [str(log)], "parser": "json",
                     "read_from": "beginning"}],
        "outputs": [{"type": "fluentd", "host": "127.0.0.1", "port": peer.port, "ack_timeout": 5,
                     "backoff_max": 1.0}]}))
    journal = tmp_path / "agent.log"
    agents = []
    written = threading.Event()

    def delivered() -> set[int]:
        return {r["generic"]["seq"] for _, _, r in list(peer.records) if "seq" in r.get("generic", {})}

    def stop(agent) -> int:
        agent.send_signal(signal.SIGTERM)
        return agent.wait(90)

    try:
        with small_tmpfs(state, (16 if reserve else 3) * 1024):  # a reserve is made with 4 MiB free
            agents.append(run_agent(cfg, journal, timeout=120))
            threading.Thread(target=_write, args=(log, written), daemon=True).start()
            assert wait(lambda: len(delivered()) >= 2000, 60), "nothing delivered before the state_dir filled"
            if reserve:
                first = _fill(state, "filler1")
                time.sleep(4)  # the commits fail; reading pauses
                assert stop(agents[0]) == 0, journal.read_text()  # the reserve takes the last checkpoints
                second = _fill(state, "filler2")  # what the reserve gave back is taken again
            else:
                assert stop(agents[0]) == 0, journal.read_text()
                time.sleep(3)  # a backlog
                first = _fill(state, "filler1")
                second = _fill(state, "filler2")  # nothing: the first took it all
            peer.mode, peer.ack_delay = "delay_ack", 0.5  # a slow output: batches still in flight at the stop
            agents.append(run_agent(cfg, journal, timeout=120))
            time.sleep(3)  # it reads its backlog, delivers some, cannot save
            stop(agents[1])
            peer.mode, peer.ack_delay = "ack", 0.0
            first.unlink()
            second.unlink()
            agents.append(run_agent(cfg, journal, timeout=120))
            assert written.wait(120)
            every = set(range(1, LINES + 1))
            wait(lambda: LINES in delivered(), 90, 0.5)  # the last line: what came before it is in
            time.sleep(2)
            stop(agents[2])
        missing = sorted(every - delivered())
        text = journal.read_text(errors="replace")
        assert not missing, (f"{len(missing)} lines never sent ({missing[0]}..{missing[-1]}); "
                             f"'data lost' in the journal: {'data lost' in text}")
    finally:
        for agent in agents:
            stop_process(agent, 60)
        peer.stop()
