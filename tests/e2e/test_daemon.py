"""`shipper run` as systemd runs it: a real process, a real notify socket, real signals, real HTTP."""
from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest

from shipper import registry
from shipper.status import file_positions, read_checkpoints
from tests.support import free_port, wait_until

REPO = Path(__file__).resolve().parents[2]


class NotifySocket:
    """What systemd does: a unix datagram socket the service writes sd_notify messages to."""

    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, dict[str, str]]] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._recv, daemon=True)
        self._thread.start()

    def _recv(self) -> None:
        while not self._closed:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            with self._cond:
                self.messages.append((time.monotonic(), fields))
                self._cond.notify_all()

    def wait_for(self, pred, timeout: float = 30.0, since: int = 0) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for _, m in self.messages[since:]:
                    if pred(m):
                        return m
                left = deadline - time.monotonic()
                assert left > 0, f"no matching sd_notify message in {timeout}s; got {[m for _, m in self.messages[since:]]}"
                self._cond.wait(left)

    def count(self) -> int:
        with self._cond:
            return len(self.messages)

    def watchdogs_between(self, t0: float, t1: float) -> int:
        with self._cond:
            return sum(1 for t, m in self.messages if t0 <= t <= t1 and m.get("WATCHDOG") == "1")

    def close(self) -> None:
        self._closed = True
        self.sock.close()


def write_lines(path: Path, src: str, start: int, count: int) -> None:
    with open(path, "ab") as f:
        f.write(b"".join(orjson.dumps({"src": src, "n": n}) + b"\n" for n in range(start, start + count)))


def config_text(tmp: Path, port: int, sources: list[str], extra: str = "") -> str:
    blocks = "".join(
        f"  - {{name: {s}, type: file, paths: [{tmp}/{s}.log], parser: json, tag: audit.{s}, poll_interval: 0.1}}\n"
        for s in sources)
    return (f"state_dir: {tmp}/state\nshutdown_timeout: 20\nhttp: {{listen: \"127.0.0.1:{port}\"}}\n"
            f"sources:\n{blocks}outputs:\n  - {{type: stdout, match: \"audit.*\"}}\n{extra}")


def shipped(out: Path) -> list[tuple[str, int]]:
    """(src, n) of every event the stdout output wrote, in order."""
    got = []
    for line in out.read_bytes().splitlines():
        ev = orjson.loads(line)
        got.append((ev["generic"]["src"], ev["generic"]["n"]))
    return got



def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def start(cfg: Path, notify: Path, stdout, stderr, watchdog_usec: int = 400_000, **env) -> subprocess.Popen:
    e = {**os.environ, "NOTIFY_SOCKET": str(notify), "WATCHDOG_USEC": str(watchdog_usec), **env}
    e.pop("WATCHDOG_PID", None)
    return subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)],
                            stdout=stdout, stderr=stderr, env=e, cwd=str(REPO))


@pytest.fixture
def notify(tmp_path):
    n = NotifySocket(tmp_path / "notify.sock")
    yield n
    n.close()


def test_lifecycle_notify_reload_http_stop_restart(tmp_path, notify):
    port = free_port()
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(config_text(tmp_path, port, ["a", "b"]))
    write_lines(tmp_path / "a.log", "a", 0, 500)
    write_lines(tmp_path / "b.log", "b", 0, 300)
    out1, err1 = tmp_path / "out1.jsonl", tmp_path / "err1.log"
    with open(out1, "wb") as so, open(err1, "wb") as se:
        proc = start(cfg, notify.path, so, se)
    try:
        # READY with a STATUS summary, then watchdog pings.
        ready = notify.wait_for(lambda m: m.get("READY") == "1")
        assert ready["STATUS"].startswith("2 sources, 1 outputs"), ready
        notify.wait_for(lambda m: m.get("WATCHDOG") == "1")
        wait_until(lambda: len(shipped(out1)) == 800, what="first 800 events")
        notify.wait_for(lambda m: "events/s in" in m.get("STATUS", "") and not m["STATUS"].startswith("2 sources, 1 outputs, 0 events/s in"),
                        since=0)

        # /metrics and /health.
        code, body = get(f"http://127.0.0.1:{port}/metrics")
        text = body.decode()
        assert code == 200
        assert 'shipper_events_read_total{source="a"} 500.0' in text
        assert 'shipper_events_shipped_total{output="stdout"} 800.0' in text
        assert 'shipper_checkpoint_age_seconds{source="b"}' in text
        assert 'shipper_in_flight_fill_ratio{output="stdout"}' in text
        code, body = get(f"http://127.0.0.1:{port}/health")
        assert code == 200 and json.loads(body)["status"] == "ok"

        # Reload: a unchanged (written to all through the reload), b removed, c added.
        write_lines(tmp_path / "c.log", "c", 0, 200)
        stop_writing = threading.Event()
        written = {"a": 500}

        def writer():
            while not stop_writing.is_set():
                write_lines(tmp_path / "a.log", "a", written["a"], 7)
                written["a"] += 7
                time.sleep(0.01)

        t = threading.Thread(target=writer)
        t.start()
        time.sleep(0.3)
        cfg.write_text(config_text(tmp_path, port, ["a", "c"]))
        mark = notify.count()
        proc.send_signal(signal.SIGHUP)
        notify.wait_for(lambda m: m.get("RELOADING") == "1", since=mark)
        after = notify.wait_for(lambda m: m.get("READY") == "1", since=mark)
        assert after["STATUS"].startswith("2 sources, 1 outputs"), after
        time.sleep(0.3)
        stop_writing.set()
        t.join()
        write_lines(tmp_path / "b.log", "b", 300, 50)  # b is no longer followed
        wait_until(lambda: sum(1 for s, _ in shipped(out1) if s == "a") == written["a"], what="all of a")
        wait_until(lambda: sum(1 for s, _ in shipped(out1) if s == "c") == 200, what="all of c")
        err = err1.read_text()
        reloaded = [line for line in err.splitlines() if "msg=reloaded" in line]
        assert len(reloaded) == 1 and "sources_added=c" in reloaded[0] and "sources_removed=b" in reloaded[0], err
        assert "sources_restarted" not in reloaded[0], "the unchanged source must keep running"

        # A broken config is refused: logged, in STATUS=, old config keeps running.
        cfg.write_text(config_text(tmp_path, port, ["a", "c"]) + "bogus_key: 1\n")
        mark = notify.count()
        proc.send_signal(signal.SIGHUP)
        refused = notify.wait_for(lambda m: "reload refused" in m.get("STATUS", ""), since=mark)
        assert "bogus_key" in refused["STATUS"]
        wait_until(lambda: "level=error" in err1.read_text() and "bogus_key" in err1.read_text(), what="error log")
        write_lines(tmp_path / "a.log", "a", written["a"], 100)
        written["a"] += 100
        wait_until(lambda: sum(1 for s, _ in shipped(out1) if s == "a") == written["a"], what="a after refused reload")
        assert proc.poll() is None

        code, body = get(f"http://127.0.0.1:{port}/health")
        assert code == 200, body
        status = json.loads(get(f"http://127.0.0.1:{port}/status")[1])
        assert set(status["sources"]) == {"a", "c"}

        # A changed output (fsync on) replaces it; both sources route to it, so both restart from
        # their checkpoints after delivering what is in flight — a is written to all along.
        stop_writing.clear()
        t = threading.Thread(target=writer)
        t.start()
        time.sleep(0.3)
        cfg.write_text(config_text(tmp_path, port, ["a", "c"]).replace("match: \"audit.*\"}", "match: \"audit.*\", fsync: true}"))
        mark = notify.count()
        proc.send_signal(signal.SIGHUP)
        after = notify.wait_for(lambda m: m.get("READY") == "1", since=mark)
        assert "reload refused" not in after["STATUS"], after
        time.sleep(0.3)
        stop_writing.set()
        t.join()
        wait_until(lambda: sum(1 for s, _ in shipped(out1) if s == "a") == written["a"], what="a after restart")
        reloaded = [line for line in err1.read_text().splitlines() if "msg=reloaded" in line]
        assert "outputs_replaced=stdout" in reloaded[-1] and "sources_restarted=a,c" in reloaded[-1], reloaded

        # SIGTERM: exit 0, checkpoints saved at the end of what was shipped.
        mark = notify.count()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        notify.wait_for(lambda m: m.get("STOPPING") == "1", since=mark)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stored = read_checkpoints(str(tmp_path / "state"))
    for src in ("a", "c"):
        saved = registry.load("source", "file").saved_positions({k: v["value"] for k, v in stored[src].items()})
        files = file_positions(saved)
        assert [(f["path"], f["offset"]) for f in files] == [(str(tmp_path / f"{src}.log"), (tmp_path / f"{src}.log").stat().st_size)]

    # Restart with a valid config: resumes exactly where it stopped.
    cfg.write_text(config_text(tmp_path, port, ["a", "c"]))
    write_lines(tmp_path / "a.log", "a", written["a"], 40)
    written["a"] += 40
    out2 = tmp_path / "out2.jsonl"
    with open(out2, "wb") as so, open(tmp_path / "err2.log", "wb") as se:
        proc = start(cfg, notify.path, so, se)
    try:
        wait_until(lambda: len(shipped(out2)) == 40, what="events written while stopped")
        time.sleep(0.5)  # nothing more may come
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    everything = shipped(out1) + shipped(out2)
    a_ns = sorted(n for s, n in everything if s == "a")
    assert a_ns == list(range(written["a"])), "source a: an event lost or repeated"
    assert sorted(n for s, n in everything if s == "c") == list(range(200))
    assert sorted(n for s, n in everything if s == "b") == list(range(300))


def test_wedged_output_stops_watchdog_and_second_signal_exits_at_once(tmp_path, notify):
    """stdout into a pipe nobody reads wedges the output: no progress, so no more WATCHDOG=1."""
    port = free_port()
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(config_text(tmp_path, port, ["a"]))
    write_lines(tmp_path / "a.log", "a", 0, 20000)  # ~ 4 MB of ECS JSON: far more than a pipe holds
    proc = start(cfg, notify.path, subprocess.PIPE, subprocess.DEVNULL, SHIPPER_STALL_SECONDS="2")
    try:
        notify.wait_for(lambda m: m.get("READY") == "1")
        wedged = notify.wait_for(lambda m: "wedged" in m.get("STATUS", ""), timeout=60)
        assert "output stdout" in wedged["STATUS"]
        t0 = time.monotonic()
        time.sleep(2.0)
        assert notify.watchdogs_between(t0, time.monotonic()) == 0, "a wedged pipeline must stop pinging"
        code, body = get(f"http://127.0.0.1:{port}/health")
        assert code == 503 and json.loads(body)["stalled"], body

        # First SIGTERM waits (shutdown_timeout 20 s) for the wedged output; the second exits at once.
        proc.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert proc.poll() is None
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=10)
        assert time.monotonic() - t0 < 5 and rc != 0
        first = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    db = sqlite3.connect(tmp_path / "state" / "checkpoints.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()

    # Restart with a reader: everything arrives, at least once (in-flight batches may repeat).
    out = tmp_path / "out.jsonl"
    with open(out, "wb") as so:
        proc = start(cfg, notify.path, so, subprocess.DEVNULL)
    try:
        before = set()
        for line in first.splitlines():
            try:
                before.add(orjson.loads(line)["generic"]["n"])
            except orjson.JSONDecodeError:
                pass  # the line the kill cut in half
        wait_until(lambda: before | {n for _, n in shipped(out)} == set(range(20000)), timeout=90,
                   what="all events after restart")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class _GatedOutput:
    """Stands in for an output plugin: blocks in send() until opened; optionally counts retries."""

    takes_lines = False  # as Output's default: the source keeps its events as dicts
    finishes_sends = False  # as Output's default: a close may cut a send short

    def __init__(self, name: str, retrying: bool):
        self.name, self.retrying = name, retrying
        self.gate = threading.Event()
        self.sent = 0

    def start(self):
        pass

    def send(self, batch):
        from shipper import metrics

        while not self.gate.wait(0.05):
            if self.retrying:
                metrics.output_retries.labels(self.name).inc()
        self.sent += len(batch.events)

    def close(self):
        pass


@pytest.mark.parametrize("retrying", [False, True])
def test_liveness_definition(tmp_path, retrying):
    """Wedged = holding batches with no ack, error or retry for stall_after; idle or retrying is alive."""
    from shipper.config import load_config
    from shipper.pipeline import Pipeline

    name = f"gated_{int(retrying)}"
    write_lines(tmp_path / "a.log", "a", 0, 10)
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"state_dir: {tmp_path}/state\nsources:\n"
                   f"  - {{name: a, type: file, paths: [{tmp_path}/a.log], parser: json, poll_interval: 0.1}}\n"
                   f"outputs:\n  - {{type: stdout, name: {name}}}\n")
    p = Pipeline(load_config(cfg))
    gated = _GatedOutput(name, retrying)
    p.workers[name].output = gated
    assert p.stalled(0.5) == []
    p.start()
    try:
        wait_until(lambda: p.workers[name].busy, what="output busy")
        t0 = time.monotonic()
        assert p.stalled(0.5, now=t0) == []
        time.sleep(0.8)
        found = p.stalled(0.5)
        if retrying:
            assert found == [], "an output that keeps retrying is alive"
        else:
            assert found and found[0].startswith(f"output {name}: no progress"), found
            assert p.undelivered_for[name] > 0.5
        gated.gate.set()
        wait_until(lambda: gated.sent == 10 and p.runners["a"].tracker.in_flight() == 0, what="delivery")
        assert p.stalled(0.5) == []
        time.sleep(0.8)
        assert p.stalled(0.5) == [], "idle is alive"
    finally:
        gated.gate.set()
        p.stop(5)


def test_reload_errors_never_show_secret_values(tmp_path):
    """A refused reload logs file, line and key, but not a value given for a secret-looking key."""
    from shipper.reload import redact_problem

    shown = redact_problem("/etc/shipper/shipper.yaml:14: outputs[0].password: Input should be a valid string (got 12345678)")
    assert "12345678" not in shown and "outputs[0].password" in shown and ":14:" in shown
    plain = redact_problem("/etc/shipper/shipper.yaml:9: outputs[0].port: Input should be a valid integer (got 'x')")
    assert plain.endswith("(got 'x')")
