"""A real `shipper run` shipping one file source's JSON lines to strict Fluentd peers (tests/peers/forward_server.py),
its stderr kept as its journal: the set-up attack 14's reload and stop tests share (tests/e2e/test_attack14_*.py,
tests/tail/test_attack14_reload_added_path_rotated_in_wait.py, tests/tail/test_attack14_stop_in_reload_wait_loss_size.py).
Each line carries the tag `src` of the write it came from and its number `n` in that write, so a peer's records say
which lines it got and how many times."""
from __future__ import annotations

import collections
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.peers.forward_server import ForwardServer
from tests.support import wait_until

SHIPPER = str(Path(sys.executable).with_name("shipper"))


def line(src: str, n: int) -> str:
    return json.dumps({"src": src, "n": n, "message": "x" * 60}) + "\n"


def write_lines(path: Path, src: str, start: int, n: int) -> int:
    """Lines start..start+n-1 of `src` appended to path in one write; returns the bytes written."""
    data = "".join(line(src, i) for i in range(start, start + n))
    with open(path, "a") as f:
        f.write(data)
    return len(data.encode())


def write_config(tmp_path: Path, http_port: int, paths: list, outputs: list[tuple[str, int]],
                 tags: list[str] | None = None) -> Path:
    """tmp_path/cfg.yaml: the file source "app" over `paths` (json, batches of 100, no parse workers, `tags` when
    given) and a Fluentd output per (name, port) (flush_interval 0.2, backoff_max 1), shutdown_timeout 3, the HTTP
    endpoint on http_port. Each call writes it again: a reload or a restart reads the new one."""
    source = {"name": "app", "type": "file", "paths": [str(p) for p in paths], "parser": "json",
              "batch_size": 100, "parse_workers": 0}
    if tags is not None:
        source["tags"] = tags
    cfg = {"state_dir": str(tmp_path / "state"), "shutdown_timeout": 3,
           "http": {"listen": f"127.0.0.1:{http_port}"},
           "sources": [source],
           "outputs": [{"type": "fluentd", "name": name, "host": "127.0.0.1", "port": port,
                        "backoff_max": 1.0, "flush_interval": 0.2} for name, port in outputs]}
    path = tmp_path / "cfg.yaml"
    path.write_text(json.dumps(cfg))  # JSON is YAML
    return path


def start_agent(cfg: Path, journal: Path) -> subprocess.Popen:
    """`shipper run -c cfg`, its stderr appended to journal (one journal across restarts)."""
    with open(journal, "a") as err:
        return subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=err)


def metric(http_port: int, sample: str) -> bool:
    """Whether the agent's /metrics holds the sample line (False while it does not answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5) as r:
            return sample in r.read().decode()
    except OSError:
        return False


def stored(peer: ForwardServer) -> collections.Counter:
    """How many times the peer stored each (src, n)."""
    return collections.Counter((r["generic"]["src"], r["generic"]["n"]) for _t, _ts, r in list(peer.records))


def down_holds_what_up_stored(log: Path, up: ForwardServer, down: ForwardServer, http_port: int) -> None:
    """The first step of the two-server tests, once the agent runs over lines 0-499 of `log`: both servers store
    them, then "down" stops and lines 500-3499 are written, until "down" holds a full queue (8 batches) that "up"
    stored; the source's checkpoint waits for "down"."""
    wait_until(lambda: len(up.records) >= 500 and len(down.records) >= 500, 120, "the first 500 lines at both")
    down.stop()
    write_lines(log, "a", 500, 3000)
    wait_until(lambda: metric(http_port, 'shipper_in_flight_batches{output="down"} 8.0'), 120, "down's full queue")
    # Up holds no batch: it stored the 8 down holds (not counted in lines: a batch read in pieces under load holds
    # fewer than 100)
    wait_until(lambda: metric(http_port, 'shipper_in_flight_batches{output="up"} 0.0'), 120, "up storing what down holds")
