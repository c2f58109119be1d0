"""Examiner exam23b (session 21, docs only; a test by reload23, session 22): a reload's overdue restart blamed no output
when the state_dir was full.

docs/operations.md: a changed source restarts only once its in-flight batches complete; a wait that moves no further
for another `shutdown_timeout` is a wedge, named `reload: a pending source restart is overdue`, in the journal and
in /health (`stalled`), with what holds it. With the state_dir full (a 3 MB tmpfs filled by another program), the
output healthy and every line delivered, a SIGHUP that changes the source's tags said, 2 of 2 runs:

    reload: the source restarts once the batches its outputs are sending complete  batches=1
    reload: a pending source restart is overdue: the source reads nothing meanwhile
        reason="source s: restart after a reload pending, 1 batches not completed for 5s (none for the last 5s,
        shutdown_timeout 5s), held by no output"

No output holds that batch: Fluentd acknowledged it, and its checkpoint cannot be committed (`database or disk is
full`, said once before). The wedge an operator is paged for named no cause where it should name the full
state_dir. exam23b's runs saw it only now and then (0 of 5 with one fill: the reload's own compaction truncates the
WAL and the commit fits again); here the other program keeps the filesystem full until the test frees it
(reload23, session 22: 3 of 3 runs named "held by no output" before the fix, Reloads._held_by; under load the
filler can still be late once, and the test then reloads again). Nothing is lost or
repeated: once the space is freed the source goes on, every line once.
"""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import orjson

from tests.fs_faults import kept_full, small_tmpfs
from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait


def _line(n: int) -> bytes:
    return orjson.dumps({"timestamp": "2026-01-02 03:04:05", "action-type": "FILESYSTEM", "action": "EDIT",
                         "performing-user": f"u{n}", "file-path": f"/f/{n}"}) + b"\n"


def _config(d: Path, log: Path, port: int, gen: int) -> str:
    return (f"state_dir: {d}/state\nshutdown_timeout: 3\nsources:\n  - name: s\n    type: file\n"
            f"    paths: ['{log}']\n    parser: datameer\n    batch_size: 100\n    parse_workers: 0\n    tags: [g{gen}]\n"
            f"outputs:\n  - name: out\n    type: fluentd\n    host: 127.0.0.1\n    port: {port}\n"
            f"    flush_interval: 0.1\n    batch_size: 100\n")


def test_overdue_restart_on_a_full_state_dir_names_the_state_dir(tmp_path):
    peer = ForwardServer().start()
    log = tmp_path / "app.log"
    log.write_bytes(b"".join(_line(i) for i in range(1000)))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(_config(tmp_path, log, peer.port, 0))
    err = tmp_path / "agent.log"

    def journal() -> str:
        return err.read_text(errors="replace")

    def names() -> Counter:
        return Counter(r.get("user", {}).get("name") for _, _, r in list(peer.records))

    def wait_until(cond, timeout: float, what: str) -> None:
        assert wait(cond, timeout), f"timed out after {timeout:.0f}s waiting for {what}; journal: {journal()[-3000:]}"

    written = [1000]
    stop_writing = threading.Event()

    def writer() -> None:  # a busy log: 1,000 lines a second
        while not stop_writing.is_set():
            with open(log, "ab") as f:
                f.write(b"".join(_line(i) for i in range(written[0], written[0] + 100)))
            written[0] += 100
            time.sleep(0.1)

    w = threading.Thread(target=writer, daemon=True)
    with small_tmpfs(tmp_path / "state", 3072) as state:
        with open(err, "wb") as se:
            agent = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)],
                                     stdout=subprocess.DEVNULL, stderr=se)
        try:
            wait_until(lambda: len(names()) >= 1000, 60, "the first 1,000 lines delivered")
            w.start()
            with kept_full(state):
                wait_until(lambda: "checkpoint commit failed" in journal(), 60, "the full state_dir met")
                for gen in (1, 2, 3):
                    mark = len(journal())
                    cfg.write_text(_config(tmp_path, log, peer.port, gen))
                    agent.send_signal(signal.SIGHUP)
                    wait_until(lambda: re.search("is overdue|saved again", journal()[mark:]), 90, "an overdue restart named")
                    if "is overdue" in journal()[mark:]:
                        break
                    # The commit fit after all: the reload's compaction truncated the WAL, and under load that room was
                    # the commit's before the filler took it back. Full again, the next reload meets it.
                    wait_until(lambda: "commit failed" in journal()[journal().rindex("saved again"):], 60, "full again")
                assert "is overdue" in journal(), journal()[-3000:]
            stop_writing.set()
            w.join()
            wait_until(lambda: len(names()) >= written[0], 90, "every line delivered once the space was freed")
        finally:
            stop_writing.set()
            stop_process(agent, 60)
            peer.stop()
    counts = names()
    assert {f"u{i}" for i in range(written[0])} <= set(counts), "a line was lost"
    assert max(counts.values()) == 1, "a line was delivered twice"
    text = journal()
    overdue = [ln for ln in text.splitlines() if "pending source restart is overdue" in ln]
    assert len(overdue) == 1, overdue  # named once
    reason = re.search(r'reason="([^"]*)"', overdue[0])
    assert reason is not None, overdue[0]
    assert "held by no output" not in reason.group(1), overdue[0]
    assert re.search(r"state_dir|checkpoint|disk is full|no space", reason.group(1), re.I), overdue[0]
    # (reload23: what holds it, where, and the cause an operator can act on; and the wait's first word does not send
    # them to the outputs either)
    assert "held by its checkpoint commit" in reason.group(1), overdue[0]
    assert f"{state}/checkpoints.sqlite" in reason.group(1) and "filesystem is full (ENOSPC" in reason.group(1), overdue[0]
    assert "batches its outputs are sending" not in text and "not delivered in time" not in text, text
