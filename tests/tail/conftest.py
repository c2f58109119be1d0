"""Helpers for the tailer tests: an in-process follower whose checkpoints are "acknowledged" at
once, and real Log4j writers compiled from tests/java at test time."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from shipper.tail.harvester import Chunk
from shipper.tail.tailer import Tailer
from tests.java.writers import Log4j, compile_writers


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
    return compile_writers(tmp_path_factory.mktemp("java"))


@pytest.fixture(scope="session")
def log4j(java_classes) -> Log4j:
    return Log4j(java_classes)
