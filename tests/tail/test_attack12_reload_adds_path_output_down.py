"""Black-box attack 12 (operator): a path added by a reload (`systemctl reload shipper` after adding a log to the
source's `paths`) while the source's only output, Fluentd, is down; the added log is rotated right after the journal
says `reloaded` (logrotate's nightly run), then Fluentd comes back.

Found (by hand 3/3, 5,000 and 50,000 lines): the reload waits for the source's in-flight batch (~20 s), says
`reloaded sources_restarted=app`, and the source restarts only once that batch is delivered, after Fluentd is back:
its first look at b.log comes after the rotation, so b.log.1 (the whole backlog) is taken for history and never
shipped, without a word (no warning, no loss counted). Adding the log as a new *source* instead holds (looked at
before `reloaded`), and so does the same reload with Fluentd up.

Promised: docs/operations.md "Start": "The same holds for a path a reload adds: it is looked at before
`reloaded`", so "a rotation right after the start is read whole". README: nothing lost silently.
Now: a source whose restart waits for its batches takes the first look at the paths the reload adds before
`reloaded` (Source.look_ahead, shipper.reload_apply), saved for its successor, which knows the rotated file."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.peers.forward_server import ForwardServer
from tests.support import stop_process
from tests.tail.attack_agent import append_numbered, free_port

pytestmark = pytest.mark.slow

BACKLOG = 3000
B = 1_000_000  # b.log's numbers


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


def test_a_path_a_reload_adds_with_the_output_down_is_read_whole_when_rotated_after_reloaded(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    a_log, b_log = logs / "a.log", logs / "b.log"
    append_numbered(a_log, 0, 100)
    b_log.write_text("".join(f'{{"seq": {B + i}, "msg": "b"}}\n' for i in range(BACKLOG)))
    peer = ForwardServer(port=free_port())  # not started: Fluentd is down
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(_config(tmp_path, [a_log], peer.port))
    err_path = tmp_path / "agent.err"
    with open(err_path, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)],
                                stdout=subprocess.DEVNULL, stderr=err)

    def journal() -> str:
        return err_path.read_text(errors="replace")

    def wait_for(text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in journal() and time.monotonic() < deadline:
            assert proc.poll() is None, journal()
            time.sleep(0.05)
        assert text in journal(), journal()

    def seqs() -> list:
        return [r["generic"]["seq"] for _tag, _t, r in list(peer.records)]
    try:
        wait_for("msg=started", 60)
        wait_for("fluentd delivery failed", 60)  # a.log's batch is in flight, undelivered
        cfg.write_text(_config(tmp_path, [a_log, b_log], peer.port))
        proc.send_signal(signal.SIGHUP)
        wait_for("msg=reloaded", 90)
        b_log.rename(logs / "b.log.1")  # the rotation, right after the reload said it is done
        with open(b_log, "w") as f:
            f.write("".join(f'{{"seq": {B + i}, "msg": "b"}}\n' for i in range(BACKLOG, BACKLOG + 100)))
        peer.start()
        newest = {B + i for i in range(BACKLOG, BACKLOG + 100)}
        deadline = time.monotonic() + 90
        while not newest <= set(seqs()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert newest <= set(seqs()), f"b.log's new lines never came; {journal()[-1500:]}"
        time.sleep(2)  # the backup is read before the live file: a margin, not the condition
    finally:
        stop_process(proc)
        peer.stop()
    counts = Counter(seqs())
    expected = set(range(100)) | {B + i for i in range(BACKLOG + 100)}
    missing = sorted(expected - set(counts))
    assert not missing, (f"{len(missing)} of {len(expected)} lines never shipped (e.g. {missing[:3]}), "
                         f"'data lost' named: {'data lost' in journal()}; journal: {journal()[-1500:]}")
    assert [s for s, n in counts.items() if n > 1] == [], "lines shipped twice"
