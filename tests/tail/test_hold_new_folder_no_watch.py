"""Issue 13 (session 19): a log folder the globs reach (`logs/*/app.log`) appears while the reader is held back (its only
output down), and the user's inotify watches are all taken: the holder gets no watch there, so it holds nothing of
what the new folder's log writes, and the reader scans nothing until the output is back. The log there rotates past
its backups meanwhile (MaxBackupIndex=1): its first file is deleted, never read. On the old code the 700 lines of that
file went uncounted; the one warning naming the folder came only after the output was back, and said "lost,
uncounted" (1 of 1). Now the holder says at once that it cannot hold there, and the tailer's first look at the new
folder's log, finding it rotated, names the loss (of unknown size) with the folder.

The agent runs in a user namespace of its own (`unshare -U -r`), whose inotify watch limit
(/proc/sys/user/max_inotify_watches) the test sets to what the agent uses once held back: nothing else on the host
is touched. A real agent, a strict Fluentd peer.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait_until
from tests.tail.attack_agent import append_numbered

pytestmark = pytest.mark.slow

SHIPPER = str(Path(sys.executable).with_name("shipper"))
FIRST = 5000  # lines of the first folder's log: more than the output's queue and the batches in flight take


def _watches(pid: int) -> int:
    """The inotify watches process `pid` holds now."""
    n = 0
    for fd in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            n += sum(1 for line in fd.read_text().splitlines() if line.startswith("inotify wd:"))
        except OSError:
            pass
    return n


def _user_namespaces() -> bool:
    return subprocess.run(["unshare", "-U", "-r", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _user_namespaces(), reason="this host gives no user namespace (unshare -U -r)")
def test_a_log_folder_appearing_with_no_watch_left_names_its_rotations_while_held_back(tmp_path):
    logs = tmp_path / "logs"
    (logs / "a").mkdir(parents=True)
    append_numbered(logs / "a" / "app.log", 0, FIRST)
    server = ForwardServer()
    server.start()
    server.stop()  # down: connections refused
    cfg, err = tmp_path / "shipper.yaml", tmp_path / "agent.err"
    cfg.write_text(json.dumps({  # (JSON is YAML)
        "state_dir": str(tmp_path / "state"), "shutdown_timeout": 3,
        "sources": [{"name": "app", "type": "file", "paths": [str(logs / "*" / "app.log")], "parser": "json",
                     "read_from": "beginning", "batch_size": 100}],
        "outputs": [{"type": "fluentd", "name": "fwd", "host": "127.0.0.1", "port": server.port}]}))
    with err.open("ab") as e:
        proc = subprocess.Popen(["unshare", "-U", "-r", SHIPPER, "run", "-c", str(cfg)],
                                stdout=subprocess.DEVNULL, stderr=e)

    def journal() -> str:
        return err.read_text(errors="replace")

    try:
        wait_until(lambda: "fluentd delivery failed" in journal(), 60, "the first delivery to fail")
        time.sleep(0.5)  # (its watches made: the holder's and the tailer's)
        used = _watches(proc.pid)  # (unshare execs the agent: the same process)
        assert used > 0
        subprocess.run(["nsenter", "-U", "-t", str(proc.pid), "sh", "-c",
                        f"echo {used} > /proc/sys/user/max_inotify_watches"], check=True)
        b = logs / "b"
        b.mkdir()  # the new log folder: no watch left for it
        append_numbered(b / "app.log", 10000, 10700)
        time.sleep(0.3)
        os.rename(b / "app.log", b / "app.log.1")  # Log4j, MaxBackupIndex=1
        append_numbered(b / "app.log", 10700, 11400)
        time.sleep(0.3)
        os.unlink(b / "app.log.1")  # the first file: deleted, never read
        os.rename(b / "app.log", b / "app.log.1")
        append_numbered(b / "app.log", 11400, 12100)
        folder = re.escape(str(b))
        wait_until(lambda: re.search(rf"cannot hold rotated files in {folder} as they appear", journal()), 30,
                   "the holder to say, while the reader is held back, that it cannot hold files in the new folder")
        server.start()
        want = set(range(FIRST)) | set(range(10700, 12100))
        wait_until(lambda: want <= {r["generic"].get("seq") for _, _, r in list(server.records)}, 120,
                   "every line still on disk delivered")
        wait_until(lambda: re.search(rf"data lost: an unknown number of bytes of {folder}/app\.log .*its folder "
                                     rf"{folder} appeared", journal()), 30, f"the loss named:\n{journal()}")
        assert stop_process(proc, 60) == 0, journal()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        server.stop()
    got = {r["generic"].get("seq") for _, _, r in list(server.records)}
    assert not set(range(10000, 10700)) & got, "not the scenario: the first file of the new folder was read"
