"""Attack 14 (issues 13, 21): a rotation storm by the real Log4j 1.2 writer (MaxFileSize 2,000 bytes,
MaxBackupIndex 3, 10,000 lines/s: ~125 rotations a second) with a healthy output and `hold_max_files: 20`. The holder
says its budget is full and "files of app.log that rotate away before they are read are lost (counted)"; README's
Known limits: each escape is "warned and counted" ("at most N (at least M)" where a file read may be one of them).
The agent is stopped when the writer ends (far behind, holding deleted files unread) and started again to read what
is left. By hand, 2 of 2 runs: 541 and 486 whole files lost (80-84 lines a file, none lost in part), the warnings of
both runs together named 222 and 99 (the running agent "at most 57 … rotated file(s) that appeared and were gone",
the stop "20 rotated file(s) … deleted while the agent held them open", the next start 21 files one by one and one
"an unknown number of bytes … written after the last read … rotated away … (more rotations than backups)", which is
not the cause: nothing rotated while the agent was stopped). With the default budget (256) the gap is smaller and
depends on the load: 3 of 4 runs lost 200 files beyond the counts, one was covered by an "at most 492"; stopped 5 s
later, 3 of 3 runs left 1-4 of ~400 files unnamed."""
from __future__ import annotations

import re

import pytest

from tests.java.writers import Log4j, compile_writers
from tests.tail.attack14_agent import Agent

SIZE, BACKUPS, RATE, COUNT = 2000, 3, 10000, 60_000


def files_written(count: int, size: int) -> list[range]:
    """The files Log4j 1.2 wrote, as ranges of seq: it rolls over once a file holds `size` bytes or more."""
    files, first, held = [], 0, 0
    for seq in range(count):
        held += len('{"seq":%d,"pad":"x"}\n' % seq)
        if held >= size:
            files.append(range(first, seq + 1))
            first, held = seq + 1, 0
    if first < count:
        files.append(range(first, count))
    return files


def files_named(warnings: list[str]) -> int:
    """The files the loss warnings name: the highest figure where one says "at most N", N where one counts files,
    and one file for a warning about one file (its bytes, or an unknown number of them)."""
    named = 0
    for warning in warnings:
        if "data lost" not in warning:
            continue
        found = (re.search(r"at most (\d+)", warning) or re.search(r"in (\d+) rotated file", warning)
                 or re.search(r"(\d+) rotated file\(s\) of it", warning))
        named += int(found.group(1)) if found else 1
    return named


@pytest.fixture(scope="module")
def log4j(tmp_path_factory):
    return Log4j(compile_writers(tmp_path_factory.mktemp("log4j-classes")))


# Not strict: on a quiet host the agent may keep up with the storm (nothing lost, the test passes), and a strict
# xfail would turn main red at random. Made plain once fixed.
@pytest.mark.xfail(strict=False, reason=(
    "a storm of ~125 rotations/s with hold_max_files 20, the agent stopped while behind and started again: ~500 "
    "files lost, 99-222 named (2 of 2): every file lost should be inside a warning's count, its cause the budget"))
def test_every_file_a_storm_loses_is_named(tmp_path, log4j):
    agent = Agent(tmp_path, f"    paths: [{tmp_path}/logs/app.log]\n    hold_max_files: 20\n")
    try:
        agent.start()
        log4j.log4j1(tmp_path / "logs/app.log", SIZE, BACKUPS, 0, COUNT, RATE, timeout=180)
        assert agent.stop() == 0   # at once: the agent is behind, holding rotated files it has not read
        agent.start()              # the next start reads what is still on disk, and names what it finds lost
        agent.wait(lambda: COUNT - 1 in agent.seqs(), 120, "the live file's last line")
        assert agent.stop() == 0
    finally:
        agent.kill()
    delivered = agent.seqs()
    assert [n for n, times in delivered.items() if times > 1] == []
    files = files_written(COUNT, SIZE)
    partly = [f for f in files if any(n in delivered for n in f) and not all(n in delivered for n in f)]
    assert partly == [], "the writer's files are not where this test thinks they are"
    lost = sum(1 for f in files if not any(n in delivered for n in f))
    assert lost <= files_named(agent.warnings()), (lost, agent.warnings())
