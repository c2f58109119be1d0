"""The real agent for attack 14's tests: `shipper run` as a process, stdout to a file, stderr as its journal."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

SHIPPER = str(Path(sys.executable).with_name("shipper"))


class Agent:
    def __init__(self, root: Path, source_block: str, env: dict | None = None):
        self.root = root
        (root / "logs").mkdir(parents=True, exist_ok=True)
        self.out = root / "out.jsonl"
        self.journal = root / "journal.log"
        self.cfg = root / "cfg.yaml"
        self.cfg.write_text("state_dir: ./state\nshutdown_timeout: 10\nsources:\n  - name: app\n    type: file\n"
                            "    parser: json\n" + source_block + "outputs:\n  - type: stdout\n")
        self.env = dict(os.environ, **(env or {}))
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> None:
        before = self.text().count("msg=started")
        with open(self.out, "ab") as out, open(self.journal, "ab") as journal:
            self.proc = subprocess.Popen([SHIPPER, "run", "-c", str(self.cfg)], stdout=out, stderr=journal,
                                         cwd=self.root, env=self.env)
        self.wait(lambda: self.text().count("msg=started") > before, timeout, "started")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=timeout)
        self.proc = None
        return rc

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def wait(self, condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"the agent ended (rc {self.proc.returncode}) waiting for {what}:\n"
                                     + self.text()[-3000:])
            assert time.monotonic() < deadline, f"timed out waiting for {what}:\n" + self.text()[-3000:]
            time.sleep(0.1)

    def text(self) -> str:
        return self.journal.read_text(errors="replace") if self.journal.exists() else ""

    def warnings(self) -> list[str]:
        return [line for line in self.text().splitlines() if "level=warning" in line or "level=error" in line]

    def seqs(self) -> Counter:
        """How many times each `seq` of the JSON lines written was delivered."""
        delivered: Counter = Counter()
        if self.out.exists():
            for line in self.out.read_bytes().splitlines():
                generic = json.loads(line).get("generic") or {}
                if "seq" in generic:
                    delivered[generic["seq"]] += 1
        return delivered


def lines(first: int, count: int) -> str:
    return "".join('{"seq":%d,"pad":"x"}\n' % n for n in range(first, first + count))
