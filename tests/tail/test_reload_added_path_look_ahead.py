"""A path a reload adds to a file source whose restart waits for its batches (its only output, Fluentd, down) is
looked at before `reloaded` (Source.look_ahead, shipper.reload_apply), as by a source the reload starts: what
that look found is saved for the restarted source, so a rotation between `reloaded` and the restart (after
the outage) is a rotation of a file it knows. Before, the restart's own first look took the rotated file for
history: its lines unread, unnamed (tests/tail/test_attack12_reload_adds_path_output_down.py, the operator's
case). Here the shapes of that first look: a glob added, a file empty at the reload, `read_from: end`."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.peers.forward_server import ForwardServer
from tests.support import stop_process
from tests.tail.attack_agent import append_numbered, free_port

pytestmark = pytest.mark.slow


def _config(tmp: Path, paths: list, port: int, read_from: str) -> str:
    return f"""
state_dir: {tmp}/state
shutdown_timeout: 2
sources:
  - {{name: app, type: file, paths: [{", ".join(map(str, paths))}], parser: json, poll_interval: 0.2,
      read_from: {read_from}}}
outputs:
  - {{type: fluentd, name: fd, host: 127.0.0.1, port: {port}, flush_interval: 0.2, backoff_max: 1}}
"""


def _run(tmp_path: Path, added: str, at_reload: int, read_from: str = "beginning", history: bool = False,
         rotations: int = 1) -> tuple[Counter, str]:
    """a.log followed (lines 0-99 written after the start), Fluentd down; the reload adds `added` (b.log
    holding lines 1000 to 1000 + at_reload); after `reloaded`, 50 lines are appended to b.log, it is rotated
    (b.log.1) and a new b.log gets 100 lines (5000..); `rotations` 2: rotated again, `rotate 1` (the file
    found at the reload deleted) and a new b.log gets 100 lines (6000..); then Fluentd comes back
    (`history`: b.log.1 held lines 9000.. before the reload)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    a_log, b_log = logs / "a.log", logs / "b.log"
    a_log.write_text("")
    b_log.write_text("")
    append_numbered(b_log, 1000, 1000 + at_reload)
    if history:  # a backup there before the reload: history, never read (shifted to b.log.2 by the rotation)
        append_numbered(logs / "b.log.1", 9000, 9100)
    peer = ForwardServer(port=free_port())  # not started: Fluentd is down
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(_config(tmp_path, [a_log], peer.port, read_from))
    err_path = tmp_path / "agent.err"
    with open(err_path, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)],
                                stdout=subprocess.DEVNULL, stderr=err)

    def journal() -> str:
        return err_path.read_text(errors="replace")

    def wait_for(text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in journal() and time.monotonic() < deadline:
            assert proc.poll() is None, journal()
            time.sleep(0.05)
        assert text in journal(), journal()

    def seqs() -> list:
        return [r["generic"]["seq"] for _tag, _t, r in list(peer.records)]
    last = set(range(5000, 5100)) if rotations == 1 else set(range(6000, 6100))
    try:
        wait_for("msg=started", 60)
        append_numbered(a_log, 0, 100)
        wait_for("fluentd delivery failed", 60)  # a.log's batch is in flight, undelivered
        cfg.write_text(_config(tmp_path, [a_log, logs / added], peer.port, read_from))
        proc.send_signal(signal.SIGHUP)
        wait_for("msg=reloaded", 90)
        assert "source restarted from its checkpoint" not in journal(), "the restart did not wait: no test"
        append_numbered(b_log, 2000, 2050)
        if history:
            (logs / "b.log.1").rename(logs / "b.log.2")
        b_log.rename(logs / "b.log.1")
        append_numbered(b_log, 5000, 5100)
        if rotations == 2:
            (logs / "b.log.1").unlink()
            b_log.rename(logs / "b.log.1")
            append_numbered(b_log, 6000, 6100)
        peer.start()
        deadline = time.monotonic() + 90
        while not last <= set(seqs()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert last <= set(seqs()), f"b.log's new lines never came; {journal()[-1500:]}"
        time.sleep(2)  # the backup is read before the live file: a margin, not the condition
    finally:
        stop_process(proc)
        peer.stop()
    return Counter(seqs()), journal()


def _check(counts: Counter, journal: str, expected: set, lost: set = frozenset()) -> None:
    missing = sorted(expected - lost - set(counts))
    assert not missing, (f"{len(missing)} of {len(expected)} lines never shipped (e.g. {missing[:3]}), "
                         f"'data lost' named: {'data lost' in journal}; journal: {journal[-1500:]}")
    assert sorted(set(counts) - expected)[:5] == [], "lines not expected (history read?)"
    assert [s for s, n in counts.items() if n > 1] == [], "lines shipped twice"


def test_a_glob_a_reload_adds_is_looked_through_before_reloaded(tmp_path):
    counts, journal = _run(tmp_path, "b*.log", at_reload=500, history=True)
    _check(counts, journal, set(range(100)) | set(range(1000, 1500)) | set(range(2000, 2050)) | set(range(5000, 5100)))


def test_a_file_empty_at_the_reload_is_known_by_its_inode(tmp_path):
    counts, journal = _run(tmp_path, "b.log", at_reload=0)
    _check(counts, journal, set(range(100)) | set(range(2000, 2050)) | set(range(5000, 5100)))


def test_read_from_end_skips_what_the_file_held_at_the_reload_only(tmp_path):
    counts, journal = _run(tmp_path, "b.log", at_reload=500, read_from="end")
    _check(counts, journal, set(range(100)) | set(range(2000, 2050)) | set(range(5000, 5100)))


@pytest.mark.parametrize("at_reload", [500, 0], ids=["lines", "empty"])
def test_a_file_found_at_the_reload_and_rotated_away_during_the_wait_is_held(tmp_path, at_reload):
    """The look-ahead found b.log; the restart waits for Fluentd; meanwhile b.log is rotated twice with `rotate
    1`: the file found at the reload is deleted before the restart. Before, nothing held it (the look-ahead's
    tailer closed its descriptors, the holder kept for the successor watched a.log's folder only for a.log's
    names): its 550 lines were lost (named). Now the kept holder holds the files the look found and watches
    the added names from the look on. (Empty at the reload: its 50 lines written during the wait were lost.)"""
    counts, journal = _run(tmp_path, "b.log", at_reload=at_reload, rotations=2)
    _check(counts, journal, set(range(100)) | set(range(1000, 1000 + at_reload)) | set(range(2000, 2050))
           | set(range(5000, 5100)) | set(range(6000, 6100)))
    assert "data lost" not in journal, journal[-3000:]


def test_a_file_found_at_the_reload_deleted_during_the_wait_and_a_stop_is_named_lost_once_whole(tmp_path):
    """As above, but the agent is stopped during the wait (Fluentd still down), then started with Fluentd back.
    The file the look found (b.log, 500 lines then, 50 more after) was deleted by the rotations: its 550 lines are
    lost, and named once with their size, by the stop that lets its descriptor go. Before, nothing held it and
    the next start named the 500 lines the look had seen (the 50 written since went unnamed); held, and named
    at the stop, it was named again by the next start from the look's saved state."""
    logs = tmp_path / "logs"
    logs.mkdir()
    a_log, b_log = logs / "a.log", logs / "b.log"
    a_log.write_text("")
    append_numbered(b_log, 1000, 1500)
    peer = ForwardServer(port=free_port())  # not started: Fluentd is down
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(_config(tmp_path, [a_log], peer.port, "beginning"))
    errs: list[Path] = []

    def start() -> subprocess.Popen:
        errs.append(tmp_path / f"agent{len(errs)}.err")
        with open(errs[-1], "wb") as err:
            return subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)],
                                    stdout=subprocess.DEVNULL, stderr=err)

    def journal() -> str:
        return "".join(e.read_text(errors="replace") for e in errs)

    def wait_for(text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in journal() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert text in journal(), journal()

    def seqs() -> list:
        return [r["generic"]["seq"] for _tag, _t, r in list(peer.records)]
    proc = start()
    try:
        wait_for("msg=started", 60)
        append_numbered(a_log, 0, 100)
        wait_for("fluentd delivery failed", 60)
        cfg.write_text(_config(tmp_path, [a_log, b_log], peer.port, "beginning"))
        proc.send_signal(signal.SIGHUP)
        wait_for("msg=reloaded", 90)
        assert "source restarted from its checkpoint" not in journal(), "the restart did not wait: no test"
        append_numbered(b_log, 2000, 2050)
        b_log.rename(logs / "b.log.1")  # logrotate `create`, `rotate 1`, twice: the file found is deleted
        append_numbered(b_log, 5000, 5100)
        (logs / "b.log.1").unlink()
        b_log.rename(logs / "b.log.1")
        append_numbered(b_log, 6000, 6100)
        stop_process(proc)
        peer.start()
        proc = start()
        last = set(range(6000, 6100))
        deadline = time.monotonic() + 90
        while not last <= set(seqs()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert last <= set(seqs()), f"b.log's new lines never came; {journal()[-1500:]}"
        time.sleep(2)  # b.log.1 is read before b.log: a margin, not the condition
    finally:
        stop_process(proc)
        peer.stop()
    found_then = set(range(1000, 1500)) | set(range(2000, 2050))
    _check(Counter(seqs()), journal(), set(range(100)) | set(range(5000, 5100)) | set(range(6000, 6100)) | found_then,
           lost=found_then)
    lost = [line for line in journal().splitlines() if "data lost" in line]
    assert len(lost) == 1 and "b.log" in lost[0], "\n".join(lost) or journal()[-3000:]
    assert f"bytes_lost={45 * len(found_then)} " in lost[0], lost[0]
