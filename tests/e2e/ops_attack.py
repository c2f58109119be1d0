"""A real `shipper run` driven the way an operator drives it for months (config edits, reloads,
signals, restarts) for the black-box attack tests test_attack6_*.py: its config is text the test
writes, its stdout output a file read back line by line by the sequence number each line carries."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from tests.tail.attack_agent import free_port, numbered


def append_numbered(path: Path, first: int, count: int) -> None:
    with open(path, "a") as f:
        f.writelines(numbered(i) for i in range(first, first + count))


def app_to_stdout(tmp: Path, lines: int, settings: str = "") -> Path:
    """tmp/app.log with numbered lines 1..`lines`, and tmp/shipper.yaml shipping it to stdout (json parser);
    `settings`: top-level lines added to the config (e.g. "shutdown_timeout: .inf\n"). Returns the config."""
    log = tmp / "app.log"
    append_numbered(log, 1, lines)
    cfg = tmp / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp}/state
{settings}sources:
  - {{name: app, type: file, paths: ["{log}"], parser: json}}
outputs:
  - type: stdout
""")
    return cfg


class OpsAgent:
    """One agent process at a time over one config file; every run's stdout and stderr kept."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = Path(tmp)
        self.port = free_port()
        self.runs = 0
        self.proc: subprocess.Popen | None = None

    def start(self, cfg: Path) -> None:
        self.runs += 1
        with open(self.tmp / f"out{self.runs}.jsonl", "wb") as out, \
                open(self.tmp / f"out{self.runs}.err", "wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)],
                                         stdout=out, stderr=err)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 90) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)
            raise AssertionError(f"the agent did not stop within {timeout} s of {sig!r}") from None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def seqs(self) -> list:
        """Every delivered line's sequence number, in order, across all runs so far."""
        out = []
        for i in range(1, self.runs + 1):
            with open(self.tmp / f"out{i}.jsonl", "rb") as f:
                out.extend(json.loads(line).get("generic", {}).get("seq") for line in f if line.endswith(b"\n"))
        return out

    def errors(self) -> str:
        return "".join((self.tmp / f"out{i}.err").read_text(errors="replace") for i in range(1, self.runs + 1))


def counts(seqs: list, expected: range) -> tuple[list, list]:
    """(missing, repeated) sequence numbers."""
    c = Counter(seqs)
    return sorted(set(expected) - set(c)), sorted(k for k, v in c.items() if v > 1)
