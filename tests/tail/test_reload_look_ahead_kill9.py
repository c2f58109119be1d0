"""Issue 23 (task: kill -9 during the look-ahead): a reload adds b.log to a source's `paths` while its only output,
Fluentd, is down, so the source's restart waits and its first look at b.log is taken before `reloaded`
(Source.look_ahead, saved for the successor). The agent is killed (SIGKILL) once `reloaded` is said; b.log rotates
while it is dead (once: its backlog is in b.log.1; twice with one backup: that backlog is deleted); the agent starts
again with Fluentd back. Every line of b.log is then shipped once, or, deleted unread, named lost with its bytes:
the look saved b.log's position, so the next start knows the rotated file (not history to skip)."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.peers.forward_server import ForwardServer
from tests.support import stop_process
from tests.tail.attack_agent import append_numbered, free_port, numbered

pytestmark = pytest.mark.slow

BACKLOG = 2000
B = 1_000_000  # b.log's numbers


def b_lines(lo: int, hi: int) -> str:
    return "".join(numbered(B + i) for i in range(lo, hi))


def _config(tmp: Path, paths: list, port: int) -> str:
    # shutdown_timeout 2: the reload waits that long (30 s by default) for the batch Fluentd, down, never takes; the
    # same path after 2 s as after 30 (the batch left in flight, the source's restart waiting, its look-ahead)
    return f"""
state_dir: {tmp}/state
shutdown_timeout: 2
sources:
  - {{name: app, type: file, paths: [{", ".join(map(str, paths))}], parser: json, poll_interval: 0.2}}
outputs:
  - {{type: fluentd, name: fd, host: 127.0.0.1, port: {port}, flush_interval: 0.2, backoff_max: 1}}
"""


@pytest.mark.parametrize("rotations", [1, 2], ids=["rotated_once", "rotated_past_its_backup"])
def test_a_kill_after_the_look_ahead_saved_loses_no_line_of_the_added_path(tmp_path, rotations):
    logs = tmp_path / "logs"
    logs.mkdir()
    a_log, b_log = logs / "a.log", logs / "b.log"
    append_numbered(a_log, 0, 100)
    b_log.write_text(b_lines(0, BACKLOG))
    peer = ForwardServer(port=free_port())  # not started: Fluentd is down
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(_config(tmp_path, [a_log], peer.port))
    errs = [tmp_path / "agent1.err", tmp_path / "agent2.err"]

    def start(run: int) -> subprocess.Popen:
        with open(errs[run], "wb") as err:
            return subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)],
                                    stdout=subprocess.DEVNULL, stderr=err)

    def journal() -> str:
        return "".join(e.read_text(errors="replace") for e in errs if e.exists())

    def wait_for(text: str, timeout: float, proc: subprocess.Popen) -> None:
        deadline = time.monotonic() + timeout
        while text not in journal() and time.monotonic() < deadline:
            assert proc.poll() is None, journal()
            time.sleep(0.05)
        assert text in journal(), journal()

    def seqs() -> list:
        return [r["generic"]["seq"] for _tag, _t, r in list(peer.records)]
    written = BACKLOG
    proc = start(0)
    try:
        wait_for("msg=started", 60, proc)
        wait_for("fluentd delivery failed", 60, proc)  # a.log's batch is in flight, undelivered
        cfg.write_text(_config(tmp_path, [a_log, b_log], peer.port))
        proc.send_signal(signal.SIGHUP)
        wait_for("msg=reloaded", 90, proc)
        proc.kill()  # SIGKILL: nothing more is saved
        proc.wait(30)
        for _ in range(rotations):  # Log4j-style, one backup: the second rotation deletes the first backup
            if os.path.exists(f"{b_log}.1"):
                os.unlink(f"{b_log}.1")
            b_log.rename(f"{b_log}.1")
            b_log.write_text(b_lines(written, written + 100))
            written += 100
        peer.start()
        proc = start(1)
        wait_for("msg=started", 60, proc)
        newest = {B + i for i in range(written - 100, written)}
        deadline = time.monotonic() + 90
        while not newest <= set(seqs()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert newest <= set(seqs()), f"b.log's new lines never came; {journal()[-1500:]}"
        time.sleep(3)  # (a repeat still on its way)
    finally:
        stop_process(proc)
        peer.stop()
    counts = Counter(seqs())
    assert [s for s, n in counts.items() if n > 1] == [], "lines shipped twice"
    assert set(range(100)) <= set(counts), "a.log's lines in flight at the kill were not read again"
    missing = [i for i in range(written) if B + i not in counts]
    said = [x for x in journal().splitlines() if "data lost" in x]
    named = sum(int(n) for x in said for n in re.findall(r"data lost: (\d+) bytes", x))
    lost = sum(len(numbered(B + i)) for i in missing)
    assert missing or rotations == 1, "the backup deleted while the agent was dead lost nothing: the test proves nothing"
    assert named == lost, (f"{len(missing)} of b.log's {written} lines never shipped ({lost} bytes, e.g. "
                           f"{missing[:3]}), {named} bytes named lost: {said}")


FILES = 3000  # under the added glob: the look-ahead at them takes long enough to be killed in


def test_a_kill_during_the_look_ahead_leaves_the_added_path_to_the_next_start(tmp_path):
    """Killed while the look-ahead runs (before `reloaded`): nothing of it is saved, the reload never happened for
    the added glob, and the next start takes the first look at it as at any first start: every line of its files
    (still there) is shipped, once; the lines of the source's other path in flight at the kill are read again."""
    logs = tmp_path / "logs"
    (logs / "b").mkdir(parents=True)
    a_log = logs / "a.log"
    append_numbered(a_log, 0, 100)
    for k in range(FILES):
        (logs / "b" / f"f{k}.log").write_text(numbered(B + 2 * k) + numbered(B + 2 * k + 1))
    peer = ForwardServer(port=free_port())  # not started: Fluentd is down
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(_config(tmp_path, [a_log], peer.port))
    errs = [tmp_path / "agent1.err", tmp_path / "agent2.err"]

    def start(run: int) -> subprocess.Popen:
        with open(errs[run], "wb") as err:
            return subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)],
                                    stdout=subprocess.DEVNULL, stderr=err)

    def journal() -> str:
        return "".join(e.read_text(errors="replace") for e in errs if e.exists())

    def wait_for(text: str, timeout: float, proc: subprocess.Popen, step: float = 0.05) -> None:
        deadline = time.monotonic() + timeout
        while text not in journal() and time.monotonic() < deadline:
            assert proc.poll() is None, journal()
            time.sleep(step)
        assert text in journal(), journal()

    def seqs() -> list:
        return [r["generic"]["seq"] for _tag, _t, r in list(peer.records)]
    proc = start(0)
    try:
        wait_for("msg=started", 60, proc)
        wait_for("fluentd delivery failed", 60, proc)  # a.log's batch is in flight, undelivered
        cfg.write_text(_config(tmp_path, [a_log, f"{logs}/b/*.log"], peer.port))
        proc.send_signal(signal.SIGHUP)
        # Said right before the look-ahead begins (reload_apply.apply: the wait's end, then _look_ahead).
        wait_for("the source restarts once the batches its outputs are sending complete", 90, proc, step=0.005)
        proc.kill()
        proc.wait(30)
        assert "msg=reloaded" not in journal(), "the look-ahead ended before the kill: the test proves nothing"
        peer.start()
        proc = start(1)
        wait_for("msg=started", 120, proc)
        expected = set(range(100)) | {B + i for i in range(2 * FILES)}
        deadline = time.monotonic() + 120
        while not expected <= set(seqs()) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3)  # (a repeat still on its way)
    finally:
        stop_process(proc)
        peer.stop()
    counts = Counter(seqs())
    missing = sorted(expected - set(counts))
    assert not missing, f"{len(missing)} lines never shipped (e.g. {missing[:3]}); {journal()[-1500:]}"
    assert [s for s, n in counts.items() if n > 1] == [], "lines shipped twice"
    assert "data lost" not in journal()
