"""A log that first appears after the source's first look through its glob (while the agent runs, before its next
scan, or while it is stopped), written by a real Log4j 2 RollingFile (`%d{…}-%i`, DefaultRolloverStrategy max 3)
that rolls more than 3 times while the agent is stopped: Log4j deletes the period's oldest files, never read.

Found (session 17, by hand 1 of 1 for each shape, and with this test on main's code): the next start reads the new
family whole (tests/tail/test_attack14_new_family_backups_skipped.py), but the 96 lines Log4j deleted went without a
word: gone.periods_overflowed_while_away, which names such a period, looked only at the backups of families the saved
states knew. A backup the glob lists itself (`*.log` over `app-%d{…}-%i.log`) was not looked at for a family the
saved states knew either. Now both are named, of unknown size (nothing of the deleted files was seen), naming the
period; a period that kept all its files is no loss."""
from __future__ import annotations

import pytest

from tests.java.writers import log4j2_config
from tests.tail.attack14_agent import Agent

pytestmark = pytest.mark.slow

# ~45 bytes a line, a roll past 2,000 bytes: 20 lines roll nothing, 420 roll ~9 times (3 kept), 100 twice.
SMALL, MANY, FEW = 20, 400, 80


def run(tmp_path, log4j, pattern: str, born: str, more: int) -> Agent:
    logs = tmp_path / "logs"
    # gather_interval 10: a file made while the agent runs waits that long for its scan (the stop comes first)
    agent = Agent(tmp_path, f"    paths: [{logs}/*.log]\n    gather_interval: 10\n")
    xml = log4j2_config(tmp_path / "log4j2.xml", logs, pattern=pattern, size=2000, strategy='max="3"')
    try:
        agent.start()  # the first look through the glob: no app.log yet
        if born == "alive":
            log4j.log4j2(xml, 0, SMALL)  # app.log is made while the agent runs
            assert agent.stop() == 0
        else:
            assert agent.stop() == 0
            log4j.log4j2(xml, 0, SMALL)  # … or while it is stopped
        log4j.log4j2(xml, SMALL, more)  # rolled while the agent is stopped
        agent.start()
        last = SMALL + more - 1  # (in the live file, never deleted)
        agent.wait(lambda: last in agent.seqs(), 60, "the live file's last line")
        try:  # (a margin for the loss, said by the start's first scan: the assertions below tell what is missing)
            agent.wait(lambda: "data lost" in agent.text() or all(n in agent.seqs() for n in range(last)), 10, "")
        except AssertionError:
            pass
        assert agent.stop() == 0
    finally:
        agent.kill()
    return agent


@pytest.mark.parametrize("born,pattern", [("alive", "app-%d{yyyy-MM-dd}-%i.log"),
                                          ("stopped", "app-%d{yyyy-MM-dd}-%i.log.gz")])
def test_the_files_log4j2_deleted_of_a_new_family_are_named(tmp_path, log4j, born, pattern):
    agent = run(tmp_path, log4j, pattern, born, MANY)
    seqs = agent.seqs()
    total = SMALL + MANY
    missing = [n for n in range(total) if n not in seqs]
    assert missing, "Log4j deleted nothing while the agent was stopped: the scenario did not happen"
    assert missing == list(range(len(missing))), f"lines on disk not delivered: {missing}"  # (the oldest went)
    assert [n for n, times in seqs.items() if times > 1] == []
    lost = [w for w in agent.warnings() if "data lost" in w]
    period = [w for w in lost if "deleted unread while the agent was away" in w]
    assert len(period) == 1, f"{len(missing)} lines deleted by Log4j, named: {lost}"
    assert f"{tmp_path}/logs/app.log" in period[0] and "app-" in period[0] and "-*.log" in period[0], period[0]


def test_a_new_family_that_kept_all_its_files_is_no_loss(tmp_path, log4j):
    agent = run(tmp_path, log4j, "app-%d{yyyy-MM-dd}-%i.log", "alive", FEW)  # two rolls: nothing deleted
    seqs = agent.seqs()
    assert sorted(seqs) == list(range(SMALL + FEW)) and set(seqs.values()) == {1}, seqs
    assert [w for w in agent.warnings() if "lost" in w] == []
