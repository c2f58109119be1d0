"""A real `shipper run` shipping one file source's JSON lines to strict Fluentd peers (tests/peers/forward_server.py),
its stderr kept as its journal: the set-up attack 14's reload and stop tests share (tests/e2e/test_attack14_*.py,
tests/tail/test_attack14_reload_added_path_rotated_in_wait.py, tests/tail/test_attack14_stop_in_reload_wait_loss_size.py).
Each line carries the tag `src` of the write it came from and its number `n` in that write, so a peer's records say
which lines it got and how many times. Attack 17's held-back tests (tests/e2e/test_attack17_*.py,
tests/tail/test_attack17_*.py) share its start, their one-output config and the held-back set-up."""
from __future__ import annotations

import collections
import contextlib
import json
import re
import subprocess
import sys
import urllib.request
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.java.writers import Log4j
from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait_until
from tests.tail.attack_agent import free_port

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


def start_agent(cfg: Path, journal: Path, prefix: Sequence[str] = ()) -> subprocess.Popen:
    """`shipper run -c cfg`, its stderr appended to journal (one journal across restarts); `prefix` runs it under
    another command (prlimit, setpriv)."""
    with open(journal, "a") as err:
        return subprocess.Popen([*prefix, SHIPPER, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=err)


def run_agent(cfg: Path, journal: Path, prefix: Sequence[str] = (), timeout: float = 90.0) -> subprocess.Popen:
    """start_agent, returned once its journal says `started` (once more than before it): an agent that exits or
    does not start within `timeout` fails the test (and is stopped)."""
    before = journal.read_text().count("msg=started") if journal.exists() else 0
    agent = start_agent(cfg, journal, prefix)
    try:
        wait_until(lambda: journal.read_text().count("msg=started") > before or agent.poll() is not None, timeout,
                   "the agent to start")
        assert agent.poll() is None, journal.read_text()
    except BaseException:
        stop_process(agent, 60)  # not left running past the test
        raise
    return agent


def held_back_config(tmp_path: Path, log: Path, port: int, http_port: int | None = None, **source: object) -> Path:
    """tmp_path/cfg.yaml of attack 17's held-back tests: the file source "app" over `log` (json, read from the
    beginning, `source`'s other settings), one Fluentd output to `port` (its defaults), shutdown_timeout 5, the
    HTTP endpoint on http_port when given."""
    cfg: dict = {"state_dir": str(tmp_path / "state"), "shutdown_timeout": 5,
                 "sources": [{"name": "app", "type": "file", "paths": [str(log)], "parser": "json",
                              "read_from": "beginning", **source}],
                 "outputs": [{"type": "fluentd", "host": "127.0.0.1", "port": port}]}
    if http_port is not None:
        cfg["http"] = {"listen": f"127.0.0.1:{http_port}"}
    path = tmp_path / "cfg.yaml"
    path.write_text(json.dumps(cfg))  # JSON is YAML
    return path


def source_status(http_port: int) -> dict:
    """The source "app" in the agent's /status (its `status` the file source's own figures)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/status", timeout=30) as r:
        return json.loads(r.read())["sources"]["app"]


def metric_value(http_port: int, name: str) -> float | None:
    """The sample `name{source="app"}` of the agent's /metrics (None when it is not served)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=30) as r:
        m = re.search(rf'^{name}\{{source="app"\}} (\S+)$', r.read().decode(), re.M)
    return float(m.group(1)) if m else None


@contextlib.contextmanager
def held_back_by_log4j(tmp_path: Path, classes: Path) -> Iterator[int]:
    """An agent over logs/app.log whose Fluentd output is down throughout (nothing listens on its port), once
    Debian's Log4j 1.2 has written ~1.5 MB through it in 50 KB files, one backup kept: the reader stops under
    backpressure after a few files, the holder keeps the rest open as Log4j deletes them. Yields the agent's HTTP
    port; the agent is stopped after."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (tmp_path / "state").mkdir()
    http, down = free_port(), free_port()
    cfg = held_back_config(tmp_path, logs / "app.log", down, http)
    agent = run_agent(cfg, tmp_path / "agent.err", timeout=60)
    try:
        Log4j(classes).log4j1(logs / "app.log", 50_000, 1, 0, 60_000, 0, timeout=120)
        yield http
    finally:
        stop_process(agent, 60)


def metric(http_port: int, sample: str) -> bool:
    """Whether the agent's /metrics holds the sample line (False while it does not answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5) as r:
            return sample in r.read().decode()
    except OSError:
        return False


# Per peer: its records list, how many of them are counted, and the counts (weak: a peer's counts go with it).
_counted: weakref.WeakKeyDictionary[ForwardServer, tuple[list, int, collections.Counter]] = weakref.WeakKeyDictionary()


def stored(peer: ForwardServer) -> collections.Counter:
    """How many times the peer stored each (src, n): a copy of the counts, which go on from the records counted at
    the last call (peer.records only grows). The waits poll this 20 times a second, beside an agent sending
    thousands of lines: counting every record again at each call took about a tenth of a core (2.7 ms for 10,000)."""
    records = peer.records
    listed, counted, counts = _counted.get(peer, (None, 0, None))
    if listed is not records or counts is None or len(records) < counted:
        counted, counts = 0, collections.Counter()
    upto = len(records)  # (the peer's thread appends on; what it adds after this is counted at the next call)
    counts.update((r["generic"]["src"], r["generic"]["n"]) for _t, _ts, r in records[counted:upto])
    _counted[peer] = (records, upto, counts)
    return counts.copy()


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
