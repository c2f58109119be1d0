"""Examiner attack13 (session 19, issue 13): lines of a file the agent cannot read (EACCES) lost unnamed.

Found with a Log4j-1.2-style writer (renames, MaxBackupIndex=2, 2,000 lines/s) whose new files were made 0600
another user's for ~8 s: the journal said `cannot read …: Permission denied; retried at every scan (its lines wait,
nothing is skipped)`, but the 5 files deleted before the modes were fixed (10,420 of 44,200 lines) were never named:
no `data lost`, shipper_losses 0 (3 of 3 runs). The writer there set the mode just after creating each file, so the
holder had opened it first; a file unreadable from its creation on and deleted is named (`data lost: N bytes … could
not be opened`). Two ways to it, each deterministic here:
- a rotated file the holder opened, then made unreadable: the held descriptor is not what reads it (`cannot read
  app.log (rotated away, held open): … Permission denied`), and its lines go with it unnamed;
- a file with a checkpoint made unreadable while the agent was stopped, then deleted by the rotations: its unread
  bytes (size known by stat) are named neither while running nor at the stop.

The agent runs as root without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH (setpriv), so a file of mode 000 is unreadable
to it (as a root 0600 file is to the `shipper` user of the unit), while the test, root, still writes it.
The first is fixed (lead): a held file is reopened through /proc, which checks the mode again; made unreadable since,
a plain file is read through a duplicate of the held descriptor (tail.reader.OpenFile). The second (unread13, session
20): the unreadable file's name, given by the rotation to the next (readable) file, stayed marked unreadable, which kept
its family from calling anything gone; and the checkpoint kept the size of the last read. An unreadable name is now
dropped once it holds another inode (Descriptors.keep_unreadable), and the size by stat of the unreadable inode is
kept with why it could not be read (Prospector._seen_unreadable)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.e2e.fluentd_agent import held_back_config, metric_value, run_agent, source_status
from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait_until
from tests.tail.attack_agent import free_port
from tests.tail.test_hold import rotate

pytestmark = pytest.mark.slow


def _write(path: Path, first: int, n: int, readable: bool) -> None:
    """Appends lines n lines; a file created unreadable is so from its creation on (mode 000, made at once: no
    moment in which the agent could open it)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644 if readable else 0)
    try:
        os.write(fd, b"".join(b'{"seq":%d,"pad":"xxxxxxxxxxxxxxxx"}\n' % i for i in range(first, first + n)))
    finally:
        os.close(fd)


def _rotate(logs: Path) -> None:
    """Log4j 1.2 with MaxBackupIndex=1: the backup is deleted, the live file renamed to it."""
    rotate(str(logs / "app.log"), 1)


NEEDS_ROOT = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv")


def _start(cfg: Path, err: Path):
    """The agent as root without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH: a file of mode 000 is unreadable to it."""
    no_dac = "-dac_override,-dac_read_search"
    return run_agent(cfg, err, prefix=["setpriv", f"--bounding-set={no_dac}", f"--inh-caps={no_dac}"], timeout=60)


@NEEDS_ROOT
def test_rotated_file_made_unreadable_after_the_holder_opened_it(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (tmp_path / "state").mkdir()
    peer = ForwardServer(port=free_port())  # down: the reader is held back by backpressure, the holder opens what appears
    http = free_port()
    cfg, err = held_back_config(tmp_path, logs / "app.log", peer.port, http, batch_size=10), tmp_path / "agent.err"
    _write(logs / "app.log", 0, 1000, True)
    agent = _start(cfg, err)
    try:
        wait_until(lambda: source_status(http)["in_flight_batches"] >= 8, 60, "the reader held back by the down output", every=0.1)
        _rotate(logs)
        _write(logs / "app.log", 1000, 100, True)
        wait_until(lambda: source_status(http)["status"]["held_files"] >= 1, 60, "the holder to hold the new app.log", every=0.1)
        os.chmod(logs / "app.log", 0)  # the writer (or an admin) tightens the mode of the file it just made
        _rotate(logs)
        _write(logs / "app.log", 1100, 100, True)
        _rotate(logs)  # deletes the file made unreadable: only the agent's descriptor still reads it
        _write(logs / "app.log", 1200, 100, True)
        peer.start()
        wait_until(lambda: {r["generic"]["seq"] for _, _, r in peer.records} >= set(range(1100, 1300)), 120,
                   "the lines of the files still there", every=0.1)
    finally:
        stop_process(agent, 60)
        peer.stop()
    got = {r["generic"]["seq"] for _, _, r in peer.records}
    lost = set(range(1300)) - got
    journal = err.read_text()
    named = [ln for ln in journal.splitlines() if "data lost" in ln and "app.log" in ln]
    assert not lost or named, f"lines {min(lost)}-{max(lost)} ({len(lost)}) lost unnamed; journal:\n{journal}"


@NEEDS_ROOT
def test_unreadable_file_with_checkpoint_deleted_is_named_with_its_size(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (tmp_path / "state").mkdir()
    peer = ForwardServer().start()
    http = free_port()
    cfg, err = held_back_config(tmp_path, logs / "app.log", peer.port, http, batch_size=100), tmp_path / "agent.err"
    try:
        _write(logs / "app.log", 0, 100, True)
        agent = _start(cfg, err)
        wait_until(lambda: len(peer.records) >= 100, 60, "the first 100 lines", every=0.1)
        stop_process(agent, 60)
        # while stopped: 100 more lines, and the file becomes unreadable to the agent
        _write(logs / "app.log", 100, 100, True)
        os.chmod(logs / "app.log", 0)
        agent = _start(cfg, err)
        try:
            wait_until(lambda: (metric_value(http, "shipper_files_unreadable") or 0.0) >= 1, 60, "app.log named unreadable", every=0.1)
            _rotate(logs)
            _write(logs / "app.log", 200, 100, True)
            wait_until(lambda: {r["generic"]["seq"] for _, _, r in peer.records} >= set(range(200, 300)), 60, "lines 200-299", every=0.1)
            _rotate(logs)  # deletes the unreadable file: lines 100-199 were never read
            _write(logs / "app.log", 300, 100, True)
            wait_until(lambda: {r["generic"]["seq"] for _, _, r in peer.records} >= set(range(300, 400)), 60, "lines 300-399", every=0.1)
            wait_until(lambda: "data lost" in err.read_text(), 60, "the loss named while the agent runs", every=0.1)
            wait_until(lambda: (metric_value(http, "shipper_files_unreadable") or 0.0) == 0, 60,
                       "no file named unreadable (its name holds a readable one now)", every=0.1)
        finally:
            stop_process(agent, 60)
        agent = _start(cfg, err)  # the next start: what does it say of the file?
        stop_process(agent, 60)
    finally:
        peer.stop()
    got = {r["generic"]["seq"] for _, _, r in peer.records}
    assert set(range(400)) - got == set(range(100, 200))
    unread = sum(len(b'{"seq":%d,"pad":"xxxxxxxxxxxxxxxx"}\n' % i) for i in range(100, 200))
    journal = err.read_text()
    assert f"data lost: {unread} bytes" in journal, f"the {unread} unread bytes are not named; journal:\n{journal}"
    assert "could not be opened ([Errno 13] Permission denied)" in journal, journal
    assert "rotated away before the rest could be read" not in journal, journal
    assert journal.count("data lost") == 1, journal  # (not again at the next start)
