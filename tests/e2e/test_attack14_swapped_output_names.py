"""Examiner session 16 (attacklong14): two Fluentd outputs swap their names, at a SIGHUP or while the agent is
stopped, while one is down.

docs/operations.md ("A reload"): an output renamed with the rest of its block unchanged is the same output,
and what its old name stored is noted for the new name; the others get only what they did not store. Each
note says where its output stores (`_delivered_where`, a digest of its block). Swapping the names of two
outputs renames each one, its block unchanged. Seen (2 of 2 runs by hand, /work/notes/s16/attacklong14): the
events the up server stored are noted for the *name* "up", now the down server's: the down server never gets
them (900 of 3,500 lines lost for it, only an info "events this output stored ... are not sent to it again
output=up"), and the up server, now named "down", gets them a second time (900 duplicates, unnamed). The same
with the names swapped while the agent is stopped (1 of 1 by hand, the test 1 of 1): docs/operations.md says the
start gives each note to the configured output that stores where the note says."""
from __future__ import annotations

import collections
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.peers.forward_server import ForwardServer

pytestmark = pytest.mark.slow

SHIPPER = str(Path(sys.executable).parent / "shipper")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write(path: Path, src: str, start: int, n: int) -> None:
    with open(path, "a") as f:
        f.write("".join(json.dumps({"src": src, "n": i, "message": "x" * 60}) + "\n" for i in range(start, start + n)))


def _wait(cond, what: str, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


def _metric(http_port: int, line: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5) as r:
            return line in r.read().decode()
    except OSError:
        return False


def _counts(peer: ForwardServer) -> collections.Counter:
    return collections.Counter((r["generic"]["src"], r["generic"]["n"]) for _t, _ts, r in list(peer.records))


# Each note goes to the output that stores where it says: across a stop (SourceRunner._carry_renamed_notes), and at
# a reload, where the two replaced outputs are renamed to each other (shipper.reload.plan_reload, issue 23).
@pytest.mark.parametrize("when", ["reload", "stop"])
def test_outputs_swapping_names_lose_and_repeat_nothing(tmp_path, when):
    log = tmp_path / "a.log"
    up, down = ForwardServer(port=_free_port()).start(), ForwardServer(port=_free_port()).start()
    http_port = _free_port()

    def config(names: tuple[str, str]) -> None:
        cfg = {"state_dir": str(tmp_path / "state"), "shutdown_timeout": 3,
               "http": {"listen": f"127.0.0.1:{http_port}"},
               "sources": [{"name": "app", "type": "file", "paths": [str(log)], "parser": "json",
                            "batch_size": 100, "parse_workers": 0}],
               "outputs": [{"type": "fluentd", "name": name, "host": "127.0.0.1", "port": peer.port,
                            "backoff_max": 1.0, "flush_interval": 0.2}
                           for name, peer in zip(names, (up, down))]}
        (tmp_path / "cfg.yaml").write_text(json.dumps(cfg))  # JSON is YAML

    _write(log, "a", 0, 500)
    config(("up", "down"))
    journal = tmp_path / "journal.log"

    def start() -> subprocess.Popen:
        with open(journal, "a") as err:
            return subprocess.Popen([SHIPPER, "run", "-c", str(tmp_path / "cfg.yaml")],
                                    stdout=subprocess.DEVNULL, stderr=err)

    agent = start()
    try:
        _wait(lambda: len(up.records) >= 500 and len(down.records) >= 500, "the first 500 lines at both")
        down.stop()
        _write(log, "a", 500, 3000)
        # "down" holds a full queue of batches "up" stored; the checkpoint waits for "down".
        _wait(lambda: _metric(http_port, 'shipper_in_flight_batches{output="down"} 8.0'), "down's full queue")
        _wait(lambda: len(up.records) >= 1300, "up storing what down holds")
        if when == "stop":
            agent.send_signal(signal.SIGTERM)
            assert agent.wait(60) == 1, journal.read_text()  # batches undelivered
        config(("down", "up"))  # the same two blocks, their names swapped
        if when == "stop":
            agent = start()
        else:
            agent.send_signal(signal.SIGHUP)
            _wait(lambda: "msg=reloaded" in journal.read_text(), "reloaded")
        down.start()
        _write(log, "z", 0, 1)  # the last line: each server has all it will get once it has this one
        _wait(lambda: ("z", 0) in _counts(up) and ("z", 0) in _counts(down), "the last line at both servers")
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 0, journal.read_text()
    finally:
        if agent.poll() is None:
            agent.kill()
        up.stop()
        down.stop()
    for name, peer in (("up", up), ("down", down)):
        counts = _counts(peer)
        missing = [n for n in range(3500) if counts[("a", n)] == 0]
        repeated = [n for n in range(3500) if counts[("a", n)] > 1]
        assert not missing and not repeated, (
            f"server first named {name}: {len(missing)} lines missing ({missing[:1]}..{missing[-1:]}), "
            f"{len(repeated)} repeated\n{journal.read_text()}")
