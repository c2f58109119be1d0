"""Attack 24 (exam24d, issues 13 and 23): one file source over `logs/*.log`, 40 logs each rotated by rename with one
backup (each rotation deletes the older backup: ~21 KB files, ~100 lines/s each), under `prlimit --nofile=64`, the
Fluentd output down for 10 s meanwhile.

Attack 20 (twelve sources of one log each under nofile=128) was made to hold in session 23: every family's named
count holds the whole files it lost, and no EMFILE. With one source of many families the agent still meets EMFILE
(~200-240 "cannot read … [Errno 24] Too many open files" a run), and families lose more whole files than the journal
names: `data lost: an unknown number of bytes of …/f06.log were in 3 rotated file(s) that appeared and were gone
before they could be held …` and nothing else of f06, where four whole rotated files of f06 were never delivered
(none of them on disk at the end). 5 of 40 families so, counting every other naming of a family as one more file
(1 of 1 by hand; the test is the second). Issue 13: what escapes is counted and warned, every file once.

The test counts, per family, the files (as the writer rotated them) that lost lines, and asks that the family's
namings account for at least as many files: the "N rotated file(s)" of a storm line ("at most N": N), plus one per
other `data lost` line naming the family; and that none names more files certainly lost than lost lines.
Fixed in session 25 (Holder.tailer_opened): under nofile=64 the tailer keeps one file open, so the first look's
files were closed again when the holder's follow() first saw their families; not taken as there before the watch,
each family's first file, met at its first rotation, paid the creation of a file that escaped: one escape a family
unnamed (40 of 40 families short by one, 2 of 2 on main; exact 6 of 6 since).
A second cause, fixed in session 28 (Prospector._still_unreadable): a rotated file the holder held, which the scan could
not open through it (`cannot read … (rotated away, held open): [Errno 24] Too many open files`), waited as unreadable,
unfollowed, and was lost whole with no word once let go (one family of 40 short by one file, 3 of 3 on main).
"""
from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.peers.forward_server import ForwardServer
from tests.support import free_port, stop_process, wait
from tests.tail.seq_log import SHIPPER

pytestmark = pytest.mark.slow  # (an agent, writers and waits of many seconds: handed out first)

FAMILIES = 40
NOFILE = 64
SECONDS = 20.0
ROTATE_BYTES = 20_000


def _write(logs: Path, f: int, starts: list[int], written: dict[int, int]) -> None:
    """Family f: numbered lines, ~100 a second, rotated by rename past ROTATE_BYTES; `starts` gets each file's first
    line number."""
    path = logs / f"f{f:02d}.log"
    n = size = 0
    starts.append(0)
    out = open(path, "a")
    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline:
        for _ in range(5):
            line = json.dumps({"f": f, "n": n, "m": "x" * 60}) + "\n"
            out.write(line)
            size += len(line)
            n += 1
        out.flush()
        if size >= ROTATE_BYTES:
            out.close()
            os.replace(path, path.with_name(path.name + ".1"))  # the older backup is deleted
            out = open(path, "a")
            size = 0
            starts.append(n)
        time.sleep(0.05)
    out.close()
    written[f] = n


def test_every_file_lost_under_a_low_descriptor_limit_is_named(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    for f in range(FAMILIES):
        (logs / f"f{f:02d}.log").touch()
    peer = ForwardServer(port=free_port()).start()
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({
        "state_dir": str(tmp_path / "state"), "shutdown_timeout": 10,
        "sources": [{"name": "app", "type": "file", "paths": [str(logs / "*.log")], "parser": "json"}],
        "outputs": [{"type": "fluentd", "host": "127.0.0.1", "port": peer.port, "backoff_max": 1.0}]}))
    journal = tmp_path / "agent.err"
    with open(journal, "wb") as err:
        agent = subprocess.Popen(["prlimit", f"--nofile={NOFILE}:{NOFILE}", "--", SHIPPER, "run", "-c", str(cfg)],
                                 stdout=subprocess.DEVNULL, stderr=err)
    starts: dict[int, list[int]] = {f: [] for f in range(FAMILIES)}
    written: dict[int, int] = {}
    try:
        assert wait(lambda: "msg=started" in journal.read_text() or agent.poll() is not None, 90)
        assert agent.poll() is None, journal.read_text()
        writers = [threading.Thread(target=_write, args=(logs, f, starts[f], written)) for f in range(FAMILIES)]
        for w in writers:
            w.start()
        time.sleep(2.0)
        peer.stop()  # the outage: the readers stop, the rotations go on
        time.sleep(10.0)
        peer.start()
        for w in writers:
            w.join()
        on_disk = set()
        for p in logs.iterdir():
            on_disk.update((d["f"], d["n"]) for d in map(json.loads, p.read_text().splitlines()))

        def delivered() -> set:
            return {(r["generic"]["f"], r["generic"]["n"]) for _t, _ts, r in list(peer.records)}
        assert wait(lambda: on_disk <= delivered(), 240, every=1.0), "lines still on disk were not delivered"
        time.sleep(3.0)  # a late warning, if any
    finally:
        stop_process(agent, 60)
        peer.stop()
    got = collections.defaultdict(set)
    for f, n in {(r["generic"]["f"], r["generic"]["n"]) for _t, _ts, r in peer.records}:
        got[f].add(n)
    text = journal.read_text()
    short, over = {}, {}
    for f in range(FAMILIES):
        bounds = [*starts[f], written[f]]
        files_lost = sum(1 for a, b in zip(bounds, bounds[1:]) if any(n not in got[f] for n in range(a, b)))
        said = [ln for ln in text.splitlines() if "data lost" in ln and f"logs/f{f:02d}.log" in ln]
        storm = [re.search(r"in (?:at most )?(\d+)(?: \([^)]*\))? rotated file", ln) for ln in said]
        files_named = sum(int(m.group(1)) if m else 1 for m in storm)
        if files_lost > files_named:
            short[f"f{f:02d}"] = (files_lost, files_named, [ln.split("msg=")[1][:130] for ln in said])
        # Nor more named certainly lost than were: "at most N (at least L …)" is certain of L only.
        least = [re.search(r"in (?:at most \d+ \(at least (\d+)[^)]*\)|(\d+)) rotated file", ln) for ln in said]
        if sum(int(m.group(1) or m.group(2)) if m else 1 for m in least) > files_lost:
            over[f"f{f:02d}"] = (files_lost, [ln.split("msg=")[1][:130] for ln in said])
    assert not short, f"families naming fewer files than they lost (lost, named, what was said): {short}"
    assert not over, f"families naming more files certainly lost than they lost (lost, what was said): {over}"
