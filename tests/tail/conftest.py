"""Helpers for the tailer tests: an in-process follower whose checkpoints are "acknowledged" at
once, and real Log4j writers compiled from tests/java at test time."""
from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

import pytest

from shipper.tail import Chunk, Tailer

JAVA_SRC = Path(__file__).resolve().parents[1] / "java"
JARS = ["/usr/share/java/log4j-1.2.jar", "/usr/share/java/log4j-api.jar", "/usr/share/java/log4j-core.jar"]


class Follower:
    """Runs a Tailer like the file source does, keeping what it emitted and the committed state.

    restart() builds a new Tailer from the committed state, like a new process would."""

    def __init__(self, patterns, base_dir, **kw):
        self.patterns = [str(p) for p in patterns]
        self.base_dir = str(base_dir)
        self.kw = kw
        self.state: dict = {}
        self.records: list[tuple[str, bytes, tuple]] = []  # (key, line, flags)
        self.stop = threading.Event()
        self.tailer = self._new()

    def _new(self) -> Tailer:
        return Tailer(self.patterns, self.kw.get("exclude", []), self.base_dir, dict(self.state),
                      **{k: v for k, v in self.kw.items() if k != "exclude"})

    def emit(self, chunk: Chunk) -> None:
        for i, (k, r) in enumerate(zip(chunk.keys, chunk.records)):
            self.records.append((k, r, chunk.flags[i] if chunk.flags else ()))
        for k, v in chunk.checkpoint.items():
            if v is None:
                self.state.pop(k, None)
            else:
                self.state[k] = v

    def poll(self, scans: int = 1) -> None:
        for _ in range(scans):
            self.tailer.scan()
            self.tailer.read_all(self.emit, self.stop)

    def settle(self) -> None:
        """Scan and read until files missing have been declared gone (what --once does)."""
        import time
        t0 = time.monotonic()
        while True:
            self.poll()
            if time.monotonic() - t0 > 1.3:
                break
            time.sleep(0.2)
        self.poll()

    def restart(self) -> None:
        self.tailer.close()
        self.tailer = self._new()

    def lines(self) -> list[bytes]:
        return [r for _, r, _ in self.records]

    def seqs(self) -> list[int]:
        return [json.loads(r)["seq"] for r in self.lines()]

    @property
    def lost(self) -> int:
        return self.tailer.bytes_lost


def assert_exactly_once(seqs: list[int], expected: range) -> None:
    counts: dict[int, int] = {}
    for s in seqs:
        counts[s] = counts.get(s, 0) + 1
    dups = sorted(s for s, c in counts.items() if c > 1)
    missing = sorted(set(expected) - set(counts))
    extra = sorted(set(counts) - set(expected))
    assert not dups and not missing and not extra, (
        f"duplicated {len(dups)} (e.g. {dups[:10]}), missing {len(missing)} (e.g. {missing[:10]}), "
        f"unexpected {extra[:10]}")


@pytest.fixture(scope="session")
def java_classes(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("java")
    for jar in JARS:
        assert os.path.exists(jar), f"{jar} missing: run scripts/install-test-deps.sh"
    subprocess.run(["javac", "-d", str(out), "-cp", ":".join(JARS), *map(str, JAVA_SRC.glob("*.java"))],
                   check=True, timeout=180)
    return out


class Log4j:
    def __init__(self, classes: Path):
        self.classes = classes

    def log4j1(self, path, max_size: int, backups: int, first: int, count: int, rate: float = 0, pad="x",
               wait=True):
        cmd = ["java", "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-cp", f"{self.classes}:{JARS[0]}",
               "Log4j1Writer", str(path), str(max_size), str(backups), str(first), str(count), str(rate), pad]
        return self._run(cmd, wait)

    def log4j2(self, config_xml: Path, first: int, count: int, rate: float = 0, pad="x", wait=True):
        cmd = ["java", "-XX:TieredStopAtLevel=1", f"-Dlog4j2.configurationFile={config_xml}",
               "-cp", f"{self.classes}:{JARS[1]}:{JARS[2]}", "Log4j2Writer", str(first), str(count), str(rate), pad]
        return self._run(cmd, wait)

    @staticmethod
    def _run(cmd, wait):
        if wait:
            subprocess.run(cmd, check=True, timeout=120)
            return None
        return subprocess.Popen(cmd)


@pytest.fixture(scope="session")
def log4j(java_classes) -> Log4j:
    return Log4j(java_classes)
