"""The journal on a regular file (`2>>shipper.err`, systemd's `StandardError=append:`) is written by a process of its own
(shipper/journal_file.py, shipper/journal_writer.py): a frozen filesystem holds only that process, a writer killed is
replaced with nothing lost, and no process is started for a stderr that is not a file. Real agents, real files, a real
frozen ext4 (fsfreeze); the kernel's log is a file of the test's own (tests/journal_sinks.own_kmsg)."""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.fs_faults import ext4_image
from tests.journal_sinks import SHIPPER, folder_config, numbered, own_kmsg
from tests.support import stop_process, wait


def journal_writers(agent_pid: int) -> list[int]:
    """The agent's journal writer processes (its children running shipper/journal_writer.py; any thread may start one)."""
    found = []
    for task in os.listdir(f"/proc/{agent_pid}/task"):
        try:
            with open(f"/proc/{agent_pid}/task/{task}/children") as f:
                children = f.read().split()
        except OSError:  # (a thread that ended meanwhile)
            continue
        for pid in children:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if b"journal_writer" in f.read():
                        found.append(int(pid))
            except OSError:
                continue
    return found


def ended(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def fifo_warnings(text: str, count: int) -> set[int]:
    return {i for i in range(count) if f"fifo{i}.log is a FIFO" in text}


@pytest.mark.slow  # (a loop-mounted ext4, waits of up to 30 s)
def test_a_stop_on_a_frozen_journal_file_names_what_is_unwritten_and_the_writer_writes_it_at_the_thaw(
        tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text(numbered(0, 20))
    cfg = folder_config(tmp_path, logs, shutdown_timeout=2)
    out = tmp_path / "out.jsonl"
    kmsg = tmp_path / "kmsg"
    var_log = tmp_path / "var-log"
    var_log.mkdir()
    with ext4_image(var_log, tmp_path / "var-log.ext4"):
        journal = var_log / "shipper.err"
        frozen = False
        with open(out, "wb") as o, open(journal, "ab") as err:
            agent = subprocess.Popen(own_kmsg(kmsg, [SHIPPER, "run", "-c", str(cfg)]), stdout=o, stderr=err)
        try:
            assert wait(lambda: b"msg=started" in journal.read_bytes(), 60), "the agent did not start"
            writers = journal_writers(agent.pid)
            assert len(writers) == 1, writers
            subprocess.run(["fsfreeze", "-f", str(var_log)], check=True)
            frozen = True
            for i in range(3):
                os.mkfifo(logs / f"fifo{i}.log")  # each named once in the journal: a warning
            with open(logs / "a.log", "a") as f:
                f.write(numbered(20, 40))
            assert wait(lambda: out.read_bytes().count(b"\n") == 40, 30), "shipping stopped"
            agent.send_signal(signal.SIGTERM)
            assert wait(lambda: agent.poll() is not None, 30), "the stop did not end"
            said = kmsg.read_text()
            assert "standard error's file did not take the journal" in said, said
            assert f"with its writer process (pid {writers[0]})" in said, said
            assert not ended(writers[0]), "the writer ended while its file was frozen"
            subprocess.run(["fsfreeze", "-u", str(var_log)], check=True)
            frozen = False
            assert wait(lambda: ended(writers[0]), 30), "the writer did not end after the thaw"
            text = journal.read_text()
            assert fifo_warnings(text, 3) == {0, 1, 2}, text[-2000:]
            assert "msg=stopping" in text, text[-2000:]
        finally:
            if frozen:
                subprocess.run(["fsfreeze", "-u", str(var_log)], check=False)
            if agent.poll() is None:
                agent.kill()
            agent.wait()


def test_a_journal_writer_killed_is_replaced_and_its_lines_are_written(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text(numbered(0, 5))
    cfg = folder_config(tmp_path, logs)
    journal = tmp_path / "shipper.err"
    with open(journal, "ab") as err:
        agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=err)
    try:
        assert wait(lambda: b"msg=started" in journal.read_bytes(), 60), "the agent did not start"
        first = journal_writers(agent.pid)
        assert len(first) == 1, first
        os.kill(first[0], signal.SIGKILL)
        assert wait(lambda: ended(first[0]), 10)
        for i in range(5):
            os.mkfifo(logs / f"fifo{i}.log")
        assert wait(lambda: fifo_warnings(journal.read_text(), 5) == set(range(5)), 30), journal.read_text()[-2000:]
        text = journal.read_text()
        assert f"the journal's writer process (pid {first[0]}) ended (killed by SIGKILL)" in text, text[-2000:]
        now = journal_writers(agent.pid)
        assert len(now) == 1 and now != first, (first, now)
    finally:
        assert stop_process(agent, 30) == 0


@pytest.mark.parametrize("stderr", ["pipe", "null"])
def test_no_journal_writer_for_a_stderr_that_is_not_a_file(tmp_path: Path, stderr: str) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text(numbered(0, 5))
    out = tmp_path / "out.jsonl"
    with open(out, "wb") as o:
        agent = subprocess.Popen([SHIPPER, "run", "-c", str(folder_config(tmp_path, logs))], stdout=o,
                                 stderr=subprocess.PIPE if stderr == "pipe" else subprocess.DEVNULL)
    try:
        assert wait(lambda: out.read_bytes().count(b"\n") == 5, 60), "the lines were not shipped"
        assert journal_writers(agent.pid) == []
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.communicate(timeout=60)


def test_a_reload_keeps_the_one_journal_writer(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text(numbered(0, 5))
    journal = tmp_path / "shipper.err"
    with open(journal, "ab") as err:
        agent = subprocess.Popen([SHIPPER, "run", "-c", str(folder_config(tmp_path, logs))],
                                 stdout=subprocess.DEVNULL, stderr=err)
    try:
        assert wait(lambda: b"msg=started" in journal.read_bytes(), 60), "the agent did not start"
        first = journal_writers(agent.pid)
        agent.send_signal(signal.SIGHUP)
        assert wait(lambda: b"reloaded" in journal.read_bytes(), 60), journal.read_text()[-2000:]
        assert journal_writers(agent.pid) == first and len(first) == 1, (first, journal_writers(agent.pid))
    finally:
        assert stop_process(agent, 30) == 0


def _agent_on_a_journal_file(tmp_path: Path) -> tuple[subprocess.Popen, Path, Path]:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text(numbered(0, 5))
    journal = tmp_path / "shipper.err"
    with open(journal, "ab") as err:  # (`2>>`: O_APPEND, as systemd's StandardError=append:)
        agent = subprocess.Popen([SHIPPER, "run", "-c", str(folder_config(tmp_path, logs))],
                                 stdout=subprocess.DEVNULL, stderr=err)
    assert wait(lambda: b"msg=started" in journal.read_bytes(), 60), "the agent did not start"
    return agent, journal, logs


@pytest.mark.parametrize("rotation", ["create", "removed"])
def test_a_reload_opens_again_a_journal_file_rotated_away_or_removed(tmp_path: Path, rotation: str) -> None:
    agent, journal, logs = _agent_on_a_journal_file(tmp_path)
    try:
        rotated = tmp_path / "shipper.err.1"
        if rotation == "create":
            journal.rename(rotated)
            journal.write_bytes(b"")  # logrotate `create`: a new empty file at the name
        else:
            journal.unlink()
        writer = journal_writers(agent.pid)[0]
        agent.send_signal(signal.SIGHUP)  # logrotate's `postrotate systemctl reload shipper`
        assert wait(lambda: os.readlink(f"/proc/{writer}/fd/2") == str(journal), 60), (
            f"the writer writes on {os.readlink(f'/proc/{writer}/fd/2')!r}")
        os.mkfifo(logs / "fifo0.log")
        assert wait(lambda: fifo_warnings(journal.read_text(), 1) == {0}, 30), journal.read_text()[-2000:]
        text = journal.read_text()
        assert f"the journal's file {journal} was rotated away or removed: the journal is written to the file at " \
               "that name from here" in text, text
        if rotation == "create":
            assert fifo_warnings(rotated.read_text(), 1) == set()
    finally:
        assert stop_process(agent, 30) == 0


def test_a_journal_file_copytruncated_is_written_on_at_its_start(tmp_path: Path) -> None:
    agent, journal, logs = _agent_on_a_journal_file(tmp_path)
    try:
        (tmp_path / "shipper.err.1").write_bytes(journal.read_bytes())
        os.truncate(journal, 0)  # logrotate `copytruncate`
        agent.send_signal(signal.SIGHUP)
        os.mkfifo(logs / "fifo0.log")
        assert wait(lambda: fifo_warnings(journal.read_text(), 1) == {0}, 30), journal.read_text()[-2000:]
        data = journal.read_bytes()
        assert data.startswith(b"level="), data[:200]  # written on at its new end: no hole of zero bytes
        assert b"rotated away" not in data, data
    finally:
        assert stop_process(agent, 30) == 0
