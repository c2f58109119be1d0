"""attack23 (session 19): a log born and renamed to `.1` before the agent opened it, then born again, is
read whole, and yet the journal warns it certain loss: `data lost: an unknown number of bytes of s0.log
were in 1 rotated file(s) that appeared and were gone before they could be held`, though no file was
ever deleted and every line arrived once (docs/operations.md, "Rotation storms": a file still on disk
or read may be one of them, so it is `at most N (at least M …)`, never a certain loss).

The agent is SIGSTOPped while each log is born, renamed and born again, so the sequence does not
depend on how fast the host is; the agent then catches up from the queued notifications. At load 35:
this test failed 5 of 5 runs (4 of 5 files warned in each of the 3 counted), a one-file script 2 of 3; also
without SIGSTOP (a log born right after `started` and rotated at once: 2 of 3 runs of three files), and
shipper_losses_total counted 1 in one run.
Fixed (lead): the holder met the backup's rename while no family of that name was followed yet (the log was new,
its own family as a file the glob matches), so the backup was of no family and its creation stayed owed; a name
the new file's backup takes in its folder is now that new family's (Holder._first_rotation_of), held and credited.
"""
from __future__ import annotations

import os
import signal
from pathlib import Path

import orjson

from tests.e2e.fluentd_agent import run_agent
from tests.peers.forward_server import ForwardServer
from tests.support import wait

FILES = 5


def _line(src: str, n: int) -> bytes:
    return orjson.dumps({"timestamp": "2026-01-02 03:04:05", "action-type": "FILESYSTEM", "action": "EDIT",
                         "performing-user": f"u{n}", "file-path": f"/f/{src}/{n}"}) + b"\n"


def _append(path: Path, src: str, first: int, count: int) -> None:
    with open(path, "ab") as f:
        f.write(b"".join(_line(src, n) for n in range(first, first + count)))


def test_born_renamed_before_opened_is_no_certain_loss(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    peer = ForwardServer().start()
    names = [f"s{i}" for i in range(FILES)]
    sources = "".join(f"""  - name: {s}
    type: file
    paths: [{logs / f'{s}.log'}]
    parser: datameer
    read_from: beginning
""" for s in names)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"""state_dir: {tmp_path / 'state'}
shutdown_timeout: 5
sources:
{sources}outputs:
  - type: fluentd
    name: fwd
    host: 127.0.0.1
    port: {peer.port}
    flush_interval: 0.2
""")
    err = tmp_path / "agent.err"
    agent = run_agent(cfg, err, timeout=120)
    try:
        os.kill(agent.pid, signal.SIGSTOP)
        for s in names:
            live = logs / f"{s}.log"
            _append(live, s, 0, 300)
            os.rename(live, logs / f"{s}.log.1")  # Log4j's RollingFileAppender: rename, then a new file
            _append(live, s, 300, 100)
        os.kill(agent.pid, signal.SIGCONT)

        def delivered() -> dict[str, list[int]]:
            got: dict[str, list[int]] = {s: [] for s in names}
            for _, _, record in list(peer.records):
                src, n = record["datameer"]["file_path"].split("/")[2:4]
                got[src].append(int(n))
            return got

        assert wait(lambda: all(len(set(v)) == 400 for v in delivered().values()), 90), err.read_text()
        os.kill(agent.pid, signal.SIGTERM)
        assert agent.wait(60) == 0
    finally:
        if agent.poll() is None:
            os.kill(agent.pid, signal.SIGCONT)
            agent.kill()
            agent.wait()
        peer.stop()

    got = delivered()
    assert all(sorted(v) == list(range(400)) for v in got.values()), "every line once"
    journal = err.read_text()
    false_losses = [ln for ln in journal.splitlines() if "data lost" in ln]
    assert not false_losses, "\n".join(false_losses)
