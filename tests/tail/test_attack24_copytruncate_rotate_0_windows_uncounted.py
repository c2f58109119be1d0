"""Attack 24 (exam24d, issues 21 and 13): Debian's logrotate with `copytruncate` and `rotate 0` (keep no backup: the copy
is made, the log cut, and the copy removed at once) every second, a writer appending ~2,000 lines/s, the agent healthy
(stdout output).

Issue 21: "the copy-to-truncate window is warned and counted like MaxBackupIndex=0 (a loss of unknown size, naming the
file)". With `rotate 1` it is: 80 lines lost over 8 rotations, 8 warnings `data lost: … written between the copy to
app.log.1 and the truncation`, `shipper_losses_total` 8. With `rotate 0` the copy is gone before the agent looks, and
since session 23 each rotation is said `data possibly lost: an unknown number of bytes (possibly none) … read to its
end`, not counted: 420-520 lines lost over 8 rotations (more than with `rotate 1`: the lines not yet read when the copy
was made went with the copy), 8 "possibly none", `shipper_losses_total` 0. 2 of 2 by hand. Each of these cuts lost
lines; "possibly none" is not what happened, and the count says nothing was lost.
Fixed: a cut whose file changed within a second of its mtime at the last read (shipper/tail/attention.py,
written_just_before) came under a busy writer: counted, naming it.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.tail.attack_agent import Agent, logrotate_of, numbered

pytestmark = pytest.mark.slow  # (an agent, writers and waits of many seconds: handed out first)

ROTATIONS = 8


def test_copytruncate_rotate_0_losses_are_counted(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    log.touch()
    agent = Agent(tmp_path, [log])
    agent.start()
    rotate = logrotate_of(tmp_path, log, "copytruncate\nrotate 0\nmissingok", settle=0.0)
    stop, written = threading.Event(), [0]

    def writer() -> None:
        with open(log, "a") as f:  # O_APPEND: after the cut it writes at the new end
            while not stop.is_set():
                f.write("".join(numbered(written[0] + i) for i in range(20)))
                written[0] += 20
                f.flush()
                time.sleep(0.01)
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(ROTATIONS):
            time.sleep(1.0)
            rotate()
        time.sleep(1.0)
    finally:
        stop.set()
        thread.join()
    try:
        agent.wait_delivered(range(written[0] - 20, written[0]), 60)
        time.sleep(3.0)  # a late warning, if any
        counted = agent.losses_counted()
    finally:
        agent.stop()
    missing = set(range(written[0])) - set(Counter(agent.seqs()))
    assert missing, "nothing was lost: the premise (lines cut away with the copy) did not occur"
    said = [ln for ln in agent.errors().splitlines() if "data lost" in ln and "app.log" in ln]
    assert counted >= 1 and said, f"{len(missing)} lines lost; counted {counted}; 'data lost' said {len(said)} times"
