"""Black-box attack 4: the writer dies in the middle of a line (OOM kill, crash, a full disk) and the log is
then rotated (logrotate `create`, the restarted writer starts a new file). The rotated file ends with an
unfinished line that will never be finished. When that file is let go (rotated away and deleted), its last
bytes must be shipped (tagged, as a parse failure would be) or warned as lost, naming the file: never
dropped silently."""
from __future__ import annotations

import os
import time

import pytest

from tests.tail.attack_agent import Agent, exactly_once, numbered

pytestmark = pytest.mark.slow


def write(path, lo: int, hi: int, tail: bytes = b"") -> None:
    with open(path, "ab") as f:
        f.write("".join(numbered(i) for i in range(lo, hi)).encode() + tail)


def test_unfinished_last_line_of_a_rotated_file_is_not_dropped_silently(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    write(logs / "app.log", 0, 10)
    agent = Agent(tmp_path, [f"{logs}/app.log*"])
    agent.start()
    try:
        assert agent.wait_delivered(range(10))
        write(logs / "app.log", 10, 20, numbered(20)[:15].encode())  # the writer dies mid-line
        time.sleep(1)
        os.rename(logs / "app.log", logs / "app.log.1")  # logrotate create; the restarted writer
        write(logs / "app.log", 21, 30)
        assert agent.wait_delivered(range(21, 30))
        time.sleep(2)
        os.unlink(logs / "app.log.1")  # the next rotation (rotate 1)
        os.rename(logs / "app.log", logs / "app.log.1")
        write(logs / "app.log", 30, 40)
        assert agent.wait_delivered(range(30, 40))
        time.sleep(3)
    finally:
        assert agent.stop() == 0
    expected = set(range(40)) - {20}
    assert exactly_once([s for s in agent.seqs() if s is not None], expected) == ""
    shipped = b'\\"seq\\": 20, \\"ms' in (tmp_path / "out1.jsonl").read_bytes()
    warned = any("level=warning" in line and "app.log" in line for line in agent.errors().splitlines())
    assert shipped or warned, "the 15 bytes of the unfinished line vanished without a word"


def test_a_stop_before_the_unfinished_last_line_of_a_deleted_file_is_shipped_is_a_named_loss(tmp_path, caplog):
    """The file is deleted, read to its end but for a last line without its newline, and the agent
    stops before the grace after which that line is shipped as it is: the checkpoint said the file
    was read to its end and gone, and the restart took it as finished — the bytes vanished unsaid."""
    import logging

    from tests.tail.conftest import Follower
    logs = tmp_path / "logs"
    logs.mkdir()
    write(logs / "app.log", 0, 10, b'{"seq": 10, "ms')  # the writer died mid-line
    f = Follower([logs / "app.log"], tmp_path)
    f.poll()
    assert f.seqs() == list(range(10))
    os.unlink(logs / "app.log")  # rotated away (rotate 0) while the agent holds it open
    f.poll()  # seen deleted and read to its end: saved as gone; its last bytes wait for the grace
    assert f.seqs() == list(range(10))
    f.restart()  # stopped now: the file is gone with its descriptor
    with caplog.at_level(logging.WARNING):
        f.settle()
    lost = [r.getMessage() for r in caplog.records if r.getMessage().startswith("data lost")]
    assert len(lost) == 1 and "15 bytes of " + str(logs / "app.log") in lost[0], lost
    assert f.tailer.losses == 1 and f.tailer.bytes_lost == 15
    f.restart()
    with caplog.at_level(logging.WARNING):
        caplog.clear()
        f.settle()
    assert not [r for r in caplog.records if r.getMessage().startswith("data lost")]  # said once
