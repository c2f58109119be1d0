"""An agent whose stdout's reader pauses (the pipe full: the output holds the reader back) while a busy writer appends
to the log it follows, as the attack29/30 tests of a cut log's loss and of a stalled journal set it up: the config
(with /status and /metrics on a free port), the padded lines and the writer's 8 KiB writes, and what the tests ask
the agent's HTTP endpoint."""
from __future__ import annotations

import fcntl
import json
import os
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

from tests.journal_sinks import followed_log
from tests.support import free_port, read_steady, wait


def held_back_config(tmp_path: Path, lines: int = 10) -> tuple[Path, Path, int]:
    """logs/a.log of `lines` numbered JSON lines and an agent following its folder to stdout, shutdown_timeout 5,
    its HTTP endpoint on a free port: (cfg, the log, the port)."""
    port = free_port()
    cfg, log = followed_log(tmp_path, lines, shutdown_timeout=5, http={"listen": f"127.0.0.1:{port}"})
    return cfg, log, port


def padded(count: int) -> str:
    """JSON lines {"n": 0, "pad": "yyy…"} … {"n": count - 1, …}, 70-odd bytes each."""
    return "".join(json.dumps({"n": i, "pad": "y" * 50}) + "\n" for i in range(count))


def append_busily(log: Path, text: str) -> None:
    """Appends text as a busy writer does: 8 KiB writes, a pause of 0.25 s every 100 of them."""
    with open(log, "a") as f:
        for n in range(0, len(text), 8192):
            f.write(text[n:n + 8192])
            f.flush()
            if n % (8192 * 100) == 0:
                time.sleep(0.25)


def with_small_journal_pipe(argv: list[str]) -> tuple[subprocess.Popen, int, int]:
    """argv (an agent) started with stdout into one pipe and stderr (its journal) into another of 4 KiB, so that its
    backlog takes over after a few lines: (the agent, stdout's read end, the journal's read end)."""
    out_read, out_write = os.pipe()
    journal_read, journal_write = os.pipe()
    fcntl.fcntl(journal_read, fcntl.F_SETPIPE_SZ, 4096)
    agent = subprocess.Popen(argv, stdout=out_write, stderr=journal_write)
    os.close(out_write)
    os.close(journal_write)
    return agent, out_read, journal_read


def read_lines(fd: int, into: bytearray, lines: int) -> None:
    """Reads the pipe (blocking) until `into` holds `lines` lines."""
    while into.count(b"\n") < lines:
        into += os.read(fd, 65536)


def drain(fd: int, into: bytearray) -> None:
    """Reads the pipe into `into` until its end (or its read end is closed)."""
    try:
        while chunk := os.read(fd, 65536):
            into += chunk
    except OSError:
        pass


def http_get(port: int, path: str) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
        return answer.read()


def app_metric(port: int, name: str) -> float:
    """The value of `name{source="app"}` in /metrics (0 until it is there)."""
    for line in http_get(port, "/metrics").decode().splitlines():
        if line.startswith(name + '{source="app"}'):
            return float(line.split()[-1])
    return 0.0


def followed_file(port: int) -> dict:
    """What /status says of source app's first file (size, position, lag …)."""
    return json.loads(http_get(port, "/status"))["sources"]["app"]["status"]["files"][0]


def cut_once_seen(log: Path, port: int, size: int, out_read: int, shipped: bytearray) -> None:
    """Once /status shows the log at its whole `size`, read past 100 KB but not to its end (held back), and 3 s
    more: the log emptied in place, 2 s, then stdout's reader comes back (drained into `shipped` by a thread) and
    the cut must be counted as a loss within 60 s."""
    looked = read_steady(lambda: followed_file(port), lambda f: f["size"] == size and 100_000 < f["position"], 60)
    assert looked["size"] == size and 100_000 < looked["position"] < size, looked
    time.sleep(3)
    os.truncate(log, 0)
    time.sleep(2)
    threading.Thread(target=drain, args=(out_read, shipped), daemon=True).start()  # stdout's reader is back
    assert wait(lambda: app_metric(port, "shipper_losses_total") >= 1, 60), "the cut was not counted as a loss"
