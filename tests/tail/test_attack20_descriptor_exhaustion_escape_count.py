"""Attack 20 (exam23c, issue 13/23): twelve file sources under `prlimit --nofile=128`, each over a log rotated by
rename with one backup (each rotation deletes a file), the Fluentd output down for 15 s, then back.

The holders share a quarter of the limit less 64 (16 files) and each tailer takes at least 8 files, so the agent
meets EMFILE ("cannot read … (rotated away, held open): [Errno 24] Too many open files; retried at every scan (its
lines wait, nothing is skipped)") and whole rotated files are lost. Each loss is named per family, "an unknown
number of bytes of …/app.log were in N rotated file(s) that appeared and were gone before they could be held", and
that N is the loss's only size. The test counts the whole files each family lost (the writer records which lines
went into which file) and asks the named counts to hold them: an exact N must equal it, "at most N (at least M)"
must bracket it.

Seen on main (358398f + this session's main), 3 of 3 runs, load 15-20: per run 2 to 7 of 12 families named
another count than they lost, both ways (5 named / 6 lost, 6 / 8, 8 / 7), stated as exact; the families named
short were those whose held-open rotated file met EMFILE.

Session 23 (fix13): the agent no longer meets EMFILE here (no "Too many open files" in the journal: the sources declare
the descriptors they keep since ec937ea, and the tailers take a share of what the limit leaves since 6f5184d), and
every family's named count holds the whole files it lost: 5 of 5 runs on 6f5184d's main (load 12-19, two of them
beside two `yes > /dev/null`), 1 of 1 on 5bc24c7 before it. No longer load-dependent: a plain test.
"""
from __future__ import annotations

import bisect
import collections
import json
import os
import re
import threading
import time
from pathlib import Path

import pytest

from tests.peers.forward_server import ForwardServer
from tests.support import free_port, run_under_nofile, stop_process, wait

pytestmark = pytest.mark.slow

SOURCES = 12
LIMIT = 128
RATE = 100  # lines a second per source
ROTATE_BYTES = 40_000


class _Writer(threading.Thread):
    """Appends numbered lines; at ROTATE_BYTES renames app.log over app.log.1 (deleting the previous backup)."""

    def __init__(self, folder: Path, name: str):
        super().__init__(daemon=True)
        self.path, self.name = folder / "app.log", name
        self.written = 0
        self.starts = [0]  # the first line number of each file app.log has been
        self.halt = threading.Event()

    def run(self) -> None:
        f = open(self.path, "a")
        t0 = time.monotonic()
        while not self.halt.is_set():
            while self.written < int((time.monotonic() - t0) * RATE):
                f.write(json.dumps({"src": self.name, "n": self.written, "message": "x" * 100}) + "\n")
                self.written += 1
                if f.tell() >= ROTATE_BYTES:
                    f.close()
                    os.replace(self.path, f"{self.path}.1")
                    self.starts.append(self.written)
                    f = open(self.path, "a")
            f.flush()
            time.sleep(0.02)
        f.close()

    def whole_files_lost(self, delivered: set[int]) -> int:
        lost = collections.Counter(bisect.bisect_right(self.starts, n) - 1
                                   for n in range(self.written) if n not in delivered)
        ends = self.starts[1:] + [self.written]
        return sum(1 for g, c in lost.items() if c == ends[g] - self.starts[g])


def _named_bounds(journal: str, family: str) -> tuple[int, int]:
    """The file counts the journal names for a family: (certain, at most)."""
    low = high = 0
    for ln in journal.splitlines():
        if "data lost" not in ln and "data possibly lost" not in ln or f"{family} were in " not in ln:
            continue
        m = re.search(r"were in at most (\d+) \(at least (\d+)", ln)
        if m:
            high, low = high + int(m.group(1)), low + int(m.group(2))
            continue
        m = re.search(r"were in (\d+) rotated file", ln)
        if m:
            high, low = high + int(m.group(1)), low + int(m.group(1))
    return low, high


def test_descriptor_exhaustion_names_the_right_number_of_lost_files(tmp_path: Path) -> None:
    peer = ForwardServer(port=free_port()).start()
    cfg, writers = families(tmp_path, SOURCES, peer.port)
    agent, err = run_under_nofile(cfg, tmp_path, LIMIT)
    run_through_outage(agent, err, peer, writers)
    journal = err.read_text(errors="replace")
    # (The descriptor accounting leaves the tailers and holders their share: none of them runs out.)
    assert "Too many open files" not in journal, [ln for ln in journal.splitlines() if "Too many open files" in ln][:3]
    wrong = misnamed_losses(writers, peer, journal)
    assert not wrong, wrong


def families(tmp_path: Path, sources: int, port: int, **source: object) -> tuple[dict, list[_Writer]]:
    """The config of `sources` file sources (`source`: more of each block) over tmp_path/logs/s<i>/app.log, to a
    Fluentd output at `port`, and their writers (not started)."""
    logs = tmp_path / "logs"
    (tmp_path / "state").mkdir()
    names = [f"s{i}" for i in range(sources)]
    for n in names:
        (logs / n).mkdir(parents=True)
    cfg = {"state_dir": str(tmp_path / "state"), "shutdown_timeout": 5,
           "sources": [{"name": n, "type": "file", "paths": [str(logs / n / "app.log")], "parser": "json", **source}
                       for n in names],
           "outputs": [{"type": "fluentd", "host": "127.0.0.1", "port": port, "flush_interval": 0.2}]}
    return cfg, [_Writer(logs / n, n) for n in names]


def run_through_outage(agent, err: Path, peer: ForwardServer, writers: list[_Writer]) -> None:
    """Once the agent started: the writers write 6 s, the peer goes down for 15 s and comes back, 6 s more; then until
    every line is delivered (or a loss named, or the agent ended) and the catch-up has ended. The agent stopped."""
    try:
        assert wait(lambda: "level=info" in err.read_text(errors="replace") or agent.poll() is not None, 60,
                    every=0.5), err.read_text()
        for w in writers:
            w.start()
        time.sleep(6)
        peer.stop()
        time.sleep(15)
        peer.start()
        time.sleep(6)
        for w in writers:
            w.halt.set()
            w.join()

        def settled() -> bool:  # every line delivered or its family's loss named, and nothing new for a while
            got = {(r.get("generic") or {}).get("n") for _, _, r in list(peer.records)}
            return (len(got) >= sum(w.written for w in writers) or "data lost" in err.read_text(errors="replace")
                    or agent.poll() is not None)

        wait(settled, 90, every=0.5)
        count = -1
        while count != len(peer.records) and agent.poll() is None:  # the catch-up ended: two looks 5 s apart agree
            count = len(peer.records)
            time.sleep(5)
    finally:
        stop_process(agent, 60)
        peer.stop()


def misnamed_losses(writers: list[_Writer], peer: ForwardServer, journal: str,
                    unnamed_lines: bool = False) -> dict[str, str]:
    """The families whose whole files lost the journal names with another count (`unnamed_lines`: or that miss lines
    with no rotated file named lost at all): family -> what was lost and named."""
    delivered: dict[str, set[int]] = collections.defaultdict(set)
    for _, _, r in peer.records:
        g = r.get("generic") or {}
        delivered[str(g.get("src"))].add(int(g.get("n", -1)))
    wrong = {}
    for w in writers:
        lost = w.whole_files_lost(delivered[w.name])
        low, high = _named_bounds(journal, f"/{w.name}/app.log")
        missing = w.written - len(delivered[w.name])
        if not low <= lost <= high or (unnamed_lines and missing and not high):
            wrong[w.name] = f"{missing} lines missing, {lost} whole files lost, named {low}..{high}"
    return wrong
