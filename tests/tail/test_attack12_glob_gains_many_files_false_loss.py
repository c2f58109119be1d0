"""Black-box attack 12 (operator): a running agent's glob gains a thousand files at once (a batch job's output, an
archive unpacked into the log folder, a tenant onboarding that creates one audit log per workspace). Nothing rotates,
nothing is deleted.

Found (by hand: 1,000 files of 10 lines, 4/4: 648-744 `data lost` warnings; 5,000 files: 4,508 warnings; 400 files:
none): every line of every file arrives once, but for most of the new files the journal says `data lost: an unknown
number of bytes of …/f00731.log were in 1 rotated file(s) that appeared and were gone before they could be held (…
the hold budget full …)`, and `shipper_losses_total` counts them. No file was rotated or gone. The holder's budget
(256 files) filled with the new files (`the budget for holding rotated files is full`); with a log rotating meanwhile
(logrotate `create`, 2 backups, a rotation a second) its real backup was then not held: 201 lines of it lost (named).

Promised: README "Loss is loud" — a warning names the file and the bytes lost when data was deleted or rotated away
before it could be read; `hold_max_files` bounds the *rotated* files held open until read. A false loss sends the
operator after a gap that is not there (earlier false losses are tests/tail/test_attack*_false_loss.py)."""
from __future__ import annotations

import time

import pytest

from tests.tail.attack_agent import Agent, append_numbered, exactly_once, numbered

FILES = 1000
BASE = 10_000_000


# Not strict: on a quiet host the agent reads the new files before its holder's budget fills, and the test passes
# (also with the agent frozen while they are written; lead, session 14); the examiner's 4/4 and the test's 2/2 were
# at load ~25. Strict again once a deterministic reproduction exists (the holder's budget filled on purpose).
@pytest.mark.xfail(strict=False, reason="new files that never rotated are declared lost 'rotated files that appeared "
                                        "and were gone' once the glob gains more than the hold budget (attack 12; "
                                        "under load only)")
def test_a_glob_that_gains_a_thousand_files_at_once_names_no_loss(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    append_numbered(logs / "app.log", 0, 100)
    agent = Agent(tmp_path, [f"{logs}/*.log"])
    agent.start()
    try:
        assert agent.wait_delivered(range(100), 60), exactly_once(agent.seqs(), range(100))
        for k in range(FILES):  # as fast as the job writes them
            (logs / f"f{k:05d}.log").write_text("".join(numbered(BASE + k * 10 + j) for j in range(10)))
        expected = set(range(100)) | {BASE + k * 10 + j for k in range(FILES) for j in range(10)}
        assert agent.wait_delivered(expected, 120), exactly_once(agent.seqs(), expected)
        agent.get("/status")
        time.sleep(1)  # a margin for a late warning
        losses = agent.losses_counted()
    finally:
        agent.stop()
    assert exactly_once(agent.seqs(), expected) == ""
    journal = agent.errors()
    false = [line for line in journal.splitlines() if "data lost" in line]
    assert not false and losses == 0, (f"{len(false)} 'data lost' warnings, losses counted {losses}, though every "
                                       f"line arrived once and nothing rotated; e.g. {false[:1]}")
