"""Attack 25 (issue 21, examiner exam25i): a second copytruncate under a writer that does not append is warned
as an edit and a repeat that never happened.

`prog > app.log` (no O_APPEND) rotated by logrotate `copytruncate`: after the first rotation the live file starts
with a hole (the writer writes on at its own offset), so every later content of that file starts with zero bytes.
When the truncation and the writer's next lines reach the agent as one change (a busy writer; here a
`gather_interval` of 0.5 s makes that certain), the agent sees the file grown past its read offset with the bytes
before that offset now zeros, and says `re-read N bytes of app.log: its content before offset N changed (edited
in place …): the lines among those bytes that were shipped before are shipped again`, counting N in
`shipper_bytes_read_again`. Nothing was edited and nothing is shipped again: those N bytes are the hole (skipped,
and warned as such), the cut is copytruncate's (its copy is found and its window named). Seen 2 of 2 rotations
after the first in each of 3 runs by hand (and 3 of 20 rotations in a randomised logrotate run with kill -9); the
first rotation, whose content started with a header line, is told right. The head of a hole-headed content is
its zeros, the same for every content of that file, so the new content passes for the old one edited.

What should happen: each rotation is a copytruncate whose window is named once, the hole is skipped and counted,
every line is delivered once, and no repeat is claimed (no `re-read`). (Session 26: the earlier read position
that "proved" the old content still there was the end of the first hole, whose bytes before it are zeros in every
later content; zero bytes prove nothing now, edits.proven_prefix.)
"""
from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.tail.attack18_agent import HEADER, Agent


@pytest.mark.slow
def test_copytruncate_of_a_hole_headed_file_claims_no_repeat(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    writer = open(live, "w")  # `prog > app.log`: its offset is its own, not the file's end

    def put(first: int, count: int) -> int:
        writer.write("".join(json.dumps({"seq": s, "pad": "x" * 40}) + "\n" for s in range(first, first + count)))
        writer.flush()
        return first + count

    writer.write(HEADER + "\n")
    seq = put(0, 100)
    agent = Agent(tmp_path, [str(live)], "    gather_interval: 0.5\n")
    agent.start()
    agent.wait_seqs(range(seq))
    try:
        for _ in range(3):  # logrotate copytruncate, rotate 5
            for k in range(4, 0, -1):
                if (logs / f"app.log.{k}").exists():
                    os.rename(logs / f"app.log.{k}", logs / f"app.log.{k + 1}")
            shutil.copyfile(live, logs / "app.log.1")
            os.truncate(live, 0)
            seq = put(seq, 50)  # at once: the writer's next lines, after a hole as long as its offset was
            agent.wait_seqs(range(seq))
    finally:
        writer.close()
        agent.stop()

    seqs = agent.seqs()
    assert sorted(seqs) == list(range(seq)), "lines lost or repeated"
    journal = agent.journal()
    assert journal.count("between the copy") == 3, agent.warnings()
    assert "re-read" not in journal, [w for w in agent.warnings() if "re-read" in w]
