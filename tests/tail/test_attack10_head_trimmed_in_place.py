"""Black-box attack 10 (operator): a live log trimmed from its head in place, with the writer still appending:
`fallocate --collapse-range -o 0 -l N app.log` (ext4 and XFS; the way to drop a log's oldest part without
rotating it or restarting its writer). The bytes the agent read are still in the file, shifted N bytes
towards its start; nothing unread was removed.

Found (by hand 2 of 2, and with this test): the agent takes the shorter file for a truncation in place, warns
`data lost: an unknown number of bytes of app.log written after the last read: the file was truncated in
place ...` (nothing was lost) and reads the file again from its start: every line still in it is shipped a
second time (872 of 1,000 already delivered lines repeated here; with a cut inside a line, its tail is also
shipped as a parse failure), without a word about a repeat.

Promised (README): "without losing or repeating a line"; loss is loud, and a warning names what was lost,
not data that was read. The head was cut at a line boundary here (lines of 64 bytes, 2 blocks of 4096), so
the file that remains is exactly lines 128.. and every line must arrive once.

Fixed: the bytes kept before the read offset (the mark, the window) are found some whole blocks nearer the file's
start; the agent reads on from there and says so in one info line."""
from __future__ import annotations

import json
import subprocess

import pytest

from tests.fs_faults import ext4_folder
from tests.tail.attack_agent import Agent, exactly_once

LINE = 64
CUT = 8192  # collapse-range takes whole filesystem blocks


def lines(lo: int, hi: int, size: int = LINE) -> str:
    out = []
    for i in range(lo, hi):
        head = json.dumps({"seq": i, "msg": ""})
        out.append(json.dumps({"seq": i, "msg": "x" * (size - 1 - len(head))}) + "\n")
    assert all(len(x) == size for x in out)
    return "".join(out)


@pytest.mark.parametrize("size", [LINE, 100], ids=["cut-at-a-line-end", "cut-inside-a-line"])
def test_a_log_trimmed_from_its_head_in_place_repeats_nothing(tmp_path, size):
    with ext4_folder(tmp_path) as disk:
        log = disk / "app.log"
        with open(log, "a") as f:
            f.write(lines(0, 1000, size))
        agent = Agent(tmp_path, [log])
        agent.start()
        try:
            assert agent.wait_delivered(range(1000), 60), exactly_once(agent.seqs(), range(1000))
            subprocess.run(["fallocate", "--collapse-range", "-o", "0", "-l", str(CUT), str(log)], check=True)
            if size == LINE:
                assert log.read_text().startswith(lines(CUT // LINE, CUT // LINE + 1))  # cut at a line boundary
            else:  # the piece of a line already shipped is not shipped again (nor as a parse failure)
                assert log.read_bytes()[:size].count(b"\n") == 1 and not log.read_text().startswith("{")
            with open(log, "a") as f:  # the writer goes on appending
                f.write(lines(1000, 1500, size))
            assert agent.wait_delivered(range(1500), 60), exactly_once(agent.seqs(), range(1500))
            agent.get("/status")  # one more round trip: repeats written right after the last new line show too
        finally:
            agent.stop()
        wrong = exactly_once(agent.seqs(), range(1500))
        assert not wrong, f"{wrong}; journal: {agent.errors()[-500:]}"
        assert "data lost" not in agent.errors(), agent.errors()[-500:]
        assert agent.errors().count(f"was cut at its head in place by {CUT} bytes") == 1, agent.errors()[-1000:]
        assert "parse" not in agent.errors(), agent.errors()[-1000:]
