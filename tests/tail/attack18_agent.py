"""A real `shipper run` for the attack18 examiner tests (issue 21): one file source with the json parser, stdout to
a file per run, the journal per run; lines are `{"seq": N, ...}` and counted by seq at the output."""
from __future__ import annotations

import atexit
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

SHIPPER = str(Path(sys.executable).parent / "shipper")
HEADER = "#HEADER app v1 layout=json"


def append(path: Path, first: int, count: int, header: bool = True) -> list[int]:
    """Appends lines first..first+count-1 as `>>` does, a shared header line first into an empty file."""
    with open(path, "a") as f:
        if header and f.tell() == 0:
            f.write(HEADER + "\n")
        for seq in range(first, first + count):
            f.write(json.dumps({"seq": seq, "pad": "x" * 40}) + "\n")
    return list(range(first, first + count))


def wait(predicate, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


class Agent:
    def __init__(self, home: Path, paths: list[str], source_extra: str = "") -> None:
        self.home = home
        self.runs: list[tuple[Path, Path]] = []
        self.proc: subprocess.Popen | None = None
        (home / "cfg.yaml").write_text(
            f"state_dir: {home}/state\nshutdown_timeout: 10\nsources:\n  - name: s\n    type: file\n"
            f"    paths: {json.dumps(paths)}\n    parser: json\n{source_extra}outputs:\n  - type: stdout\n")

    def start(self) -> None:
        n = len(self.runs) + 1
        out, err = self.home / f"out{n}.jsonl", self.home / f"err{n}.log"
        self.runs.append((out, err))
        self.proc = subprocess.Popen([SHIPPER, "run", "-c", str(self.home / "cfg.yaml")],
                                     stdout=out.open("wb"), stderr=err.open("wb"))
        atexit.register(self._kill_if_running, self.proc)  # a test that failed mid-way leaves no agent behind
        wait(lambda: "msg=started" in err.read_text(errors="replace"), "the agent's start")

    @staticmethod
    def _kill_if_running(proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            proc.kill()

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(60) == 0, self.journal()[-3000:]

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(60)

    def records(self) -> list[dict]:
        return [json.loads(line) for out, _ in self.runs for line in out.read_bytes().splitlines()]

    def seqs(self) -> list[int]:
        return [r["generic"]["seq"] for r in self.records() if "seq" in (r.get("generic") or {})]

    def wait_seqs(self, seqs, timeout: float = 90.0) -> None:
        wait(lambda: set(seqs) <= set(self.seqs()), f"{len(set(seqs) - set(self.seqs()))} lines", timeout)

    def journal(self) -> str:
        return "".join(err.read_text(errors="replace") for _, err in self.runs)

    def warnings(self) -> list[str]:
        return [line for line in self.journal().splitlines() if "level=warn" in line or "level=error" in line]
