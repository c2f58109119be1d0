"""The agent says `started` (READY=1 to systemd) only once each file source has taken its first look.

On its first look at a path a file source takes the backups already there as history and skips them.
That look came after `started`: the live file renamed in between was found as a backup, and its whole
backlog skipped without a word (issue 13, examiner's find: 50,000 of 50,100 lines, shipper_losses 0).
Here the window is held open the way an operator meets it: integrity on and the output not answering
at the start, so the source's start attestation waits for its acknowledgement. The live file is
rotated as soon as the agent says `started`, then the output answers: every line arrives, once."""
from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait, wait_until
from tests.tail.attack_agent import append_numbered, free_port

BACKLOG = 3000
AFTER = 100


def test_live_file_rotated_right_after_started_is_read_whole(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "app.log"
    log.parent.mkdir()
    append_numbered(log, 0, BACKLOG)
    (tmp_path / "key").write_text("an integrity key of some length, 0123456789abcdef\n")
    (tmp_path / "key").chmod(0o600)
    peer = ForwardServer(port=free_port())
    peer.frozen.set()  # reads nothing, acknowledges nothing: the start attestation waits
    peer.start()
    port = free_port()
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path}/state
http: {{listen: "127.0.0.1:{port}"}}
integrity: {{key_file: key}}
sources:
  - {{name: app, type: file, paths: [{log}], parser: json, poll_interval: 0.2}}
outputs:
  - {{type: fluentd, host: 127.0.0.1, port: {peer.port}, flush_interval: 0.2, backoff_max: 1}}
""")
    err_path = tmp_path / "agent.err"
    with open(err_path, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)],
                                stdout=subprocess.DEVNULL, stderr=err)
    try:
        def errors() -> str:
            return err_path.read_text(errors="replace")

        wait_until(lambda: "msg=started" in errors() or proc.poll() is not None, 60, "the agent to say started")
        assert proc.poll() is None, errors()
        # The live file becomes the first backup; the writer's next file gets the next lines.
        log.rename(log.with_name("app.log.1"))
        append_numbered(log, BACKLOG, BACKLOG + AFTER)
        peer.frozen.clear()

        def seqs() -> list:
            return [r["generic"]["seq"] for _tag, _t, r in list(peer.records) if "seq" in r.get("generic", {})]

        # The backup is read before the live file (oldest first) through the one output, in order: once the
        # live file's lines are there, the backlog is there too or never comes (the wait for it is a margin).
        after = set(range(BACKLOG, BACKLOG + AFTER))
        wait_until(lambda: after <= set(seqs()), 90, "the live file's lines at the peer")
        expected = set(range(BACKLOG + AFTER))
        wait(lambda: expected <= set(seqs()), 10)
        counts = Counter(seqs())
        missing = sorted(expected - set(counts))
        assert not missing, (f"{len(missing)} of {len(expected)} lines never shipped (e.g. {missing[:5]}); "
                             f"agent said:\n{errors()}")
        assert [s for s, n in counts.items() if n > 1] == [], "lines shipped twice"
        assert "data lost" not in errors()
        assert peer.errors == []
    finally:
        stop_process(proc)
        peer.stop()
