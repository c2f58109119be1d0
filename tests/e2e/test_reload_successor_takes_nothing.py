"""Issue 23 (session 15's untested way): a reload restarts a file source while its output is down; the stopped source
hands what it holds (its holder, the descriptors its tailer had open) to the successor, and the successor takes
none of it: here the reload sets `hold_max_files: 0` (FileSource.take_over closes what was handed over). The
deleted files let go unread are named lost then (`_HandedOver.close`); the successor must not name the same bytes
again from its checkpoint. Each lost byte named once: the bytes named lost equal the bytes Fluentd (down during the
reload) never got."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from tests.e2e.reload_overlap import on, seq_list
from tests.e2e.test_attack12_reloads_while_down_lose_reread import Log4jWriter, wait_for_fluentd
from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait_until
from tests.tail.attack_agent import free_port, numbered

pytestmark = pytest.mark.slow


def config(tmp_path, http: int, port: int, hold: str) -> str:
    return f"""
state_dir: {tmp_path}/state
shutdown_timeout: 2
http: {{listen: "127.0.0.1:{http}"}}
sources:
  - {{name: app, type: file, paths: ["{tmp_path}/app.log"], parser: json, batch_size: 100{hold}}}
outputs:
  - {{type: stdout}}
  - {{type: fluentd, name: dest, host: 127.0.0.1, port: {port}, flush_interval: 0.2, batch_size: 50}}
"""


def test_what_a_successor_does_not_take_over_is_named_lost_once(tmp_path):
    server = ForwardServer().start()
    http = free_port()
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(config(tmp_path, http, server.port, ""))
    (tmp_path / "app.log").write_text("")
    err, out = tmp_path / "err.txt", tmp_path / "out.jsonl"
    journal = lambda: err.read_text(errors="replace")  # noqa: E731
    with open(out, "wb") as o, open(err, "wb") as e:
        agent = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)], stdout=o, stderr=e)
    writer = Log4jWriter(tmp_path / "app.log")
    try:
        wait_until(lambda: "msg=started" in journal(), 60, "the agent's start")
        writer.start()
        wait_until(lambda: len(on(server)) >= 300, 60, "the first lines at Fluentd")
        server.stop()  # down from here: the source is held back, the log rolls past its backup
        time.sleep(4)
        cfg.write_text(config(tmp_path, http, server.port, ", hold_max_files: 0"))  # the source restarts
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: "msg=reloaded" in journal(), 60, "the reload")
        time.sleep(2)
        writer.stopped.set()
        writer.join()
        server.start()  # back: the waiting restart goes on, and its successor takes nothing over
        wait_until(lambda: "source restarted from its checkpoint" in journal(), 60, "the restart")
        wait_for_fluentd(server, set(range(writer.next)))
        assert "were never read" in journal(), "nothing was let go unread at the restart: the test proves nothing"
    finally:
        writer.stopped.set()
        stop_process(agent)
        server.stop()
    expected = range(writer.next)
    size = {i: len(numbered(i)) for i in expected}
    at_fluentd, at_stdout = Counter(on(server)), Counter(seq_list(out))
    lost_fluentd = sum(size[i] for i in expected if i not in at_fluentd)
    lost_stdout = sum(size[i] for i in expected if i not in at_stdout)
    said = [x for x in journal().splitlines() if "data lost" in x]
    named = sum(int(n) for x in said for n in re.findall(r"data lost: (\d+) bytes", x))
    assert not [i for i, c in at_fluentd.items() if c > 1], "Fluentd stored lines twice"
    assert not [i for i, c in at_stdout.items() if c > 1], "stdout got lines twice"
    # Every file the holder held was named with its size; the successor names none of them again, of unknown size
    # ("written after the last read": the live file's checkpoint, loaded before the hand-over was let go).
    unsized = [x for x in said if "unknown number of bytes" in x or "bytes or more" in x]
    escaped = [x for x in said if "before they could be held" in x]  # (a holder outrun on a loaded host)
    assert escaped or not unsized, f"a loss named again, of unknown size: {unsized}"
    assert named == lost_fluentd, (
        f"{named} bytes declared lost in {len(said)} warnings, but Fluentd lacks {lost_fluentd} bytes and stdout "
        f"{lost_stdout}: {said}")
