"""Attack 18 (issue 21, examiner exam21): a run of zero bytes after a partial line glues the next line to it.

A writer cut mid-line (a crash, a power loss: ext4 leaves the unwritten blocks of a file's tail as zero bytes) and
started again appends whole lines after the zeros. The agent ships the partial line, the 10,000 zero bytes and the
first whole line after them as one parse-failure record of 10 KB, NUL bytes included: that line (seq 12) is never
delivered as itself, and nothing is warned or counted. Seen 2 of 2 by hand (10,000 and 4,000 zero bytes). Zero
bytes at the start of a line are skipped and warned (docs/design.md, issue 21 case 5: "never shipped as records;
the first real line after them is intact"); a run after a partial line is not.

What should happen: the zero run is skipped and counted with its size (a warning naming the file), never shipped;
the first whole line after it is delivered intact.
"""
from __future__ import annotations

import pytest

from tests.tail.attack18_agent import Agent, append


@pytest.mark.slow
def test_zero_run_after_a_partial_line_keeps_the_next_line_intact(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    agent = Agent(tmp_path, [str(logs / "*.log")])
    written = append(live, 1, 10, header=False)
    agent.start()
    agent.wait_seqs(written)
    with open(live, "ab") as f:  # cut mid-line, then the blocks the crash left unwritten
        f.write(b'{"seq": 11, "pad": "cut by the cra' + b"\0" * 10000)
    after = append(live, 12, 10, header=False)
    agent.wait_seqs(after[1:])
    agent.stop()

    shipped_zeros = [r for r in agent.records() if "\0" in (r.get("event", {}).get("original") or "")]
    assert not shipped_zeros, f"{len(shipped_zeros)} record(s) hold zero bytes, e.g. {len(str(shipped_zeros[0]))} B"
    assert 12 in agent.seqs(), "the first line after the zero run was not delivered as itself"
    assert any("10000 zero bytes" in w and str(live) in w for w in agent.warnings()), agent.warnings()
