"""Reloads that overlap one another's waits, over a real `shipper run` (issue 23, attack 7's find 3 and its
kin): the scenario tests/e2e/test_reload_overlapping_waits_*.py run, a file for each theme of the sequences
(so that `make test`'s workers run them side by side: ~20 s a sequence).
A file source of numbered lines goes to stdout and to a Fluentd that reads nothing (a frozen peer): the
first reload changes the source, which then waits for the batches that output is sending ("restarts once the
batches its outputs are sending complete", docs/operations.md). While it waits, further reloads replace,
rename, remove or add an output, remove the source (and add it back), change it again, or the
agent is stopped and started again. Then the frozen server reads again, and whatever the sequence:

- every line reaches stdout exactly once (0 lost, 0 repeated, across the agent's runs);
- every line reaches a Fluentd server when the config still has that output, none twice on a server that
  only the final config used;
- the source runs again, /health answers 200, and a stop ends within shutdown_timeout + 5 s;
- a restart still pending past its wait's deadline is named meanwhile, in /health and in the journal.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from tests.peers.forward_server import ForwardServer
from tests.support import wait, wait_until
from tests.tail.attack_agent import free_port, numbered

LINES = 3000
SHUTDOWN_TIMEOUT = 2


class Operator:
    """One agent over one config that the steps rewrite; every run's stdout and journal kept."""

    def __init__(self, tmp: Path, wedged: ForwardServer, working: ForwardServer, extra: ForwardServer):
        self.tmp, self.wedged, self.working, self.extra_server = tmp, wedged, working, extra
        self.log = tmp / "app.log"
        self.log.write_text("".join(numbered(i) for i in range(LINES)))
        (tmp / "other.log").write_text("")
        self.cfg = tmp / "shipper.yaml"
        self.http = free_port()
        self.tags = 0
        self.fwd: tuple[str, int] | None = ("fwd", wedged.port)
        self.extra = False
        self.source = True
        self.runs: list[tuple[Path, Path]] = []
        self.proc: subprocess.Popen | None = None
        self.write()

    def write(self) -> None:
        outputs = ["  - {type: stdout}"]
        if self.fwd:
            outputs.append(f"  - {{type: fluentd, name: {self.fwd[0]}, host: 127.0.0.1, port: {self.fwd[1]}, "
                           "flush_interval: 0.2, ack_timeout: 1000}")
        if self.extra:
            outputs.append(f"  - {{type: fluentd, name: extra, host: 127.0.0.1, port: {self.extra_server.port}, "
                           "flush_interval: 0.2}")
        source = (f"  - {{name: app, type: file, paths: [\"{self.log}\"], parser: json, batch_size: 100, "
                  f"tags: [t{self.tags}]}}\n" if self.source else "")
        source += f"  - {{name: other, type: file, paths: [\"{self.tmp}/other.log\"], parser: json}}"  # (one is needed)
        self.cfg.write_text(f"state_dir: {self.tmp}/state\nshutdown_timeout: {SHUTDOWN_TIMEOUT}\n"
                            f"http: {{listen: \"127.0.0.1:{self.http}\"}}\nsources:\n{source}\noutputs:\n"
                            + "\n".join(outputs) + "\n")

    def start(self) -> None:
        n = len(self.runs)
        out, err = self.tmp / f"out{n}.jsonl", self.tmp / f"err{n}.log"
        self.runs.append((out, err))
        with open(out, "wb") as o, open(err, "wb") as e:
            self.proc = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(self.cfg)],
                                         stdout=o, stderr=e)

    def journal(self) -> bytes:
        return self.runs[-1][1].read_bytes()

    def stdout_seqs(self) -> list[int]:
        seqs = []
        for out, _ in self.runs:
            with open(out, "rb") as f:
                seqs += [json.loads(line)["generic"]["seq"] for line in f if line.endswith(b"\n")]
        return seqs

    def reload(self) -> None:
        done = self.journal().count(b"msg=reloaded")
        self.write()
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: self.journal().count(b"msg=reloaded") > done, 60, "the reload done")

    def stop(self) -> float:
        """SIGTERM; returns how long the agent took to exit, less the time its main thread (which runs the
        stop and waits up to its deadlines) was ready to run and waited for a CPU: the host's load, not the
        agent's stop (at load ~20 it took a stop from within 7 s to 7.3-7.6 s)."""
        assert self.proc is not None
        began, waited = time.monotonic(), _run_delay(self.proc.pid)
        first = waited
        self.proc.send_signal(signal.SIGTERM)
        deadline = began + 60
        while self.proc.poll() is None and time.monotonic() < deadline:
            waited = _run_delay(self.proc.pid) or waited  # the last value read before it exits
            time.sleep(0.02)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        return time.monotonic() - began - (waited - first)

    def get(self, path: str) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http}{path}", timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())


def _run_delay(pid: int) -> float:
    """Seconds the process's main thread has spent ready to run, waiting for a CPU (0.0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def step(op: Operator, what: str) -> None:
    if what == "tags":  # the source changes: a restart
        op.tags += 1
    elif what == "replace":  # the output is pointed at a Fluentd that works
        assert op.fwd
        op.fwd = (op.fwd[0], op.working.port)
    elif what == "rename":
        assert op.fwd
        op.fwd = ("fwd2", op.fwd[1])
    elif what == "remove_out":
        op.fwd = None
    elif what == "add_out":
        op.extra = True
    elif what == "remove_src":
        op.source = False
    elif what == "add_src":
        op.source = True
    elif what == "stop":
        took = op.stop()
        assert took < SHUTDOWN_TIMEOUT + 5, f"the stop took {took:.1f}s (shutdown_timeout {SHUTDOWN_TIMEOUT})"
        op.start()
        wait_until(lambda: b"msg=started" in op.journal(), 60, "the agent started again")
        return
    else:
        raise AssertionError(what)
    op.reload()


def sequences(*seqs: list[str]) -> pytest.MarkDecorator:
    """The test's parameters: each sequence of steps after the first reload, named by its steps."""
    return pytest.mark.parametrize("after", seqs, ids=["+".join(s) for s in seqs])


def run(tmp_path: Path, after: list[str]) -> None:
    """The scenario of the module's docstring, with the steps `after` during the source's wait."""
    wedged = ForwardServer(port=free_port()).start()
    wedged.frozen.set()  # takes the connection, reads nothing, acks nothing
    working = ForwardServer(port=free_port()).start()
    extra = ForwardServer(port=free_port()).start()
    op = Operator(tmp_path, wedged, working, extra)
    op.start()
    try:
        wait_until(lambda: wedged.connections >= 1 and len(op.stdout_seqs()) >= 100, 60,
                   "stdout shipping and the wedged output holding a chunk")
        step(op, "tags")
        assert b"restarts once the batches" in op.journal()
        # Past its wait's deadline (shutdown_timeout without progress) the pending restart is named.
        wait_until(lambda: any("restart after a reload pending" in s for s in op.get("/health")[1].get("stalled", [])),
                   60, "/health naming the pending restart")
        assert op.get("/health")[0] == 503
        assert b"a pending source restart is overdue" in op.journal()
        for what in after:
            step(op, what)
        if not op.source:
            step(op, "add_src")
        wedged.frozen.clear()
        delivered = wait(lambda: set(range(LINES)) <= set(op.stdout_seqs()), 60)
        fwd_servers = [op.wedged, op.working] if op.fwd else []
        if fwd_servers:  # the output "fwd" (or fwd2) had every line, on one of its servers
            wait(lambda: set(range(LINES)) <= {r["generic"]["seq"] for s in fwd_servers for _, _, r in list(s.records)}, 30)
        status = op.get("/status")[1]["sources"]["app"]
        wait(lambda: op.get("/health")[0] == 200, 30)
        health = op.get("/health")
    finally:
        took = op.stop()
        for s in (wedged, working, extra):
            s.stop()
    journals = "\n".join(err.read_text() for _, err in op.runs)
    seqs = op.stdout_seqs()
    lost = set(range(LINES)) - set(seqs)
    repeated = {s: n for s, n in Counter(seqs).items() if n > 1}
    assert delivered and not lost, f"{len(lost)} lines never reached stdout (status: {status})\n{journals[-3000:]}"
    assert not repeated, f"{len(repeated)} lines repeated on stdout, e.g. {sorted(repeated)[:5]}\n{journals[-3000:]}"
    if fwd_servers:
        on_fwd = {r["generic"]["seq"] for s in fwd_servers for _, _, r in s.records}
        assert set(range(LINES)) <= on_fwd, f"{len(set(range(LINES)) - on_fwd)} lines reached no Fluentd"
    for server in (working, extra):  # used only by the final config's outputs: each line once
        twice = {s: n for s, n in Counter(r["generic"]["seq"] for _, _, r in server.records).items() if n > 1}
        assert not twice, f"{len(twice)} lines twice on the Fluentd at {server.port}"
    assert status["running"], status
    assert health[0] == 200, health
    assert took < SHUTDOWN_TIMEOUT + 5, f"the last stop took {took:.1f}s"
    assert "Traceback" not in journals, journals[-3000:]
