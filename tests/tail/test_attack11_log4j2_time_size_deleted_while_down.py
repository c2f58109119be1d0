"""Black-box attack 11 (operator): a real Log4j 2 RollingFile with a time-based and a size-based policy together,
`filePattern="app-%d{yyyy-MM-dd-HH-mm-ss}-%i.log"` (the README's `%d{…}-%i` scheme) and `DefaultRolloverStrategy
max="3"`: past 3 rolls in one period Log4j deletes that period's oldest file. The agent is killed (-9: an OOM kill,
a crash) while a burst rolls the log more than 3 times a second, and started again.

Found (by hand 5 of 5 with the agent killed 2 s during an 800 lines/s writer, /tmp/af/a16.py: 783-1,305 of 8,000
lines never shipped, in runs of ~260 lines, one a second; `shipper_losses` 0; no warning in 4 runs, one hedged "data
possibly lost … renamed during the scan" in one; and with this test): what Log4j deleted while the agent was down
is lost without a word. The same downtime with a size-only `app.log.%i` or `app.log.%i.gz`, max 3: the loss is
warned ("data lost … rotated away before the rest could be read: deleted (more rotations than backups)") and counted.

Promised: README "Loss is loud: when data was deleted … before it could be read, a warning names the file and the
bytes lost and shipper_bytes_lost counts them"; the rotation scheme Log4j 2 `%d{…}-%i` is detected."""
from __future__ import annotations

import signal
import time

import pytest

from tests.tail.attack_agent import Agent, exactly_once

pytestmark = pytest.mark.slow

XML = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="warn">
  <Appenders>
    <RollingFile name="r" fileName="{dir}/app.log" filePattern="{dir}/app-%d{{yyyy-MM-dd-HH-mm-ss}}-%i.log{gz}">
      <PatternLayout pattern="%m%n"/>
      <Policies><TimeBasedTriggeringPolicy interval="1"/><SizeBasedTriggeringPolicy size="2000"/></Policies>
      <DefaultRolloverStrategy max="3"/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Logger name="audit" level="info" additivity="false"><AppenderRef ref="r"/></Logger>
    <Root level="error"/>
  </Loggers>
</Configuration>
"""


@pytest.mark.parametrize("gz", ["", ".gz"])
def test_files_log4j2_deleted_while_the_agent_was_down_are_a_named_loss(tmp_path, log4j, gz):
    xml = tmp_path / "log4j2.xml"
    xml.write_text(XML.format(dir=tmp_path, gz=gz))
    (tmp_path / "app.log").touch()
    agent = Agent(tmp_path, [tmp_path / "app.log"])
    agent.start()
    try:
        log4j.log4j2(xml, 0, 300)
        assert agent.wait_delivered(range(300), 60), exactly_once(agent.seqs(), range(300))
        agent.stop(signal.SIGKILL)
        log4j.log4j2(xml, 300, 3000)  # at full speed: ~60 rolls of ~50 lines, all but 3 a second deleted
        agent.start()
        deadline = time.monotonic() + 60  # until the last lines (in the live file, never deleted) arrive
        while not {3298, 3299} <= set(agent.seqs()) and time.monotonic() < deadline:
            time.sleep(0.2)
        agent.get("/status")
        time.sleep(2)  # (a scenario margin for a late warning, after every line that exists arrived)
        losses = agent.losses_counted()
    finally:
        agent.stop()
    seqs = agent.seqs()
    missing = set(range(3300)) - set(seqs)
    assert missing, "Log4j deleted nothing while the agent was down: the scenario did not happen"
    journal = agent.errors()
    assert "data lost" in journal and losses > 0, (
        f"{len(missing)} of 3,300 lines never shipped (deleted by Log4j while the agent was down), "
        f"losses counted {losses}, no 'data lost'; journal: {journal[-1500:]}")


def test_a_period_that_kept_all_its_files_while_the_agent_was_down_is_no_loss(tmp_path, log4j):
    """The other side: fewer rolls while the agent was down than the period keeps (max 3): Log4j deleted nothing,
    every line arrives once and no loss is named (a false loss would send an operator looking for a gap)."""
    xml = tmp_path / "log4j2.xml"
    xml.write_text(XML.format(dir=tmp_path, gz=""))
    (tmp_path / "app.log").touch()
    agent = Agent(tmp_path, [tmp_path / "app.log"])
    agent.start()
    try:
        log4j.log4j2(xml, 0, 60)
        assert agent.wait_delivered(range(60), 60), exactly_once(agent.seqs(), range(60))
        agent.stop(signal.SIGKILL)
        log4j.log4j2(xml, 60, 90)  # 90 lines of ~2,000 bytes a file: two rolls at most
        agent.start()
        assert agent.wait_delivered(range(150), 60), exactly_once(agent.seqs(), range(150))
        agent.get("/status")
        time.sleep(2)  # (a margin for a late warning)
        losses = agent.losses_counted()
    finally:
        agent.stop()
    assert not exactly_once(agent.seqs(), range(150)), exactly_once(agent.seqs(), range(150))
    assert losses == 0 and "data lost" not in agent.errors(), agent.errors()[-1500:]
