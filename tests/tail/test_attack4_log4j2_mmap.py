"""Black-box attack 4: Log4j 2's MemoryMappedFile appender (in Debian's log4j-core) extends its file by a region
of zeros (regionLength, 32 MiB by default) and writes the lines into the mapping from the start; only its close
cuts the file back to the lines. The zeros are no hole to skip: the lines come into them. They must be shipped
while the writer runs, and nothing called lost that was not."""
from __future__ import annotations

import json

import pytest

from tests.support import wait
from tests.tail.attack_agent import Agent, exactly_once

pytestmark = pytest.mark.slow

LINES = 6000

MMAP_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="warn">
  <Appenders>
    <MemoryMappedFile name="r" fileName="{log}" regionLength="4194304" immediateFlush="true">
      <PatternLayout pattern="%m%n"/>
    </MemoryMappedFile>
  </Appenders>
  <Loggers>
    <Logger name="audit" level="info" additivity="false"><AppenderRef ref="r"/></Logger>
    <Root level="error"/>
  </Loggers>
</Configuration>
"""


def test_log4j2_memory_mapped_file_is_shipped_while_written(tmp_path, log4j):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "other.log").write_text(json.dumps({"seq": -1}) + "\n")
    xml = tmp_path / "log4j2.xml"
    xml.write_text(MMAP_XML.replace("{log}", str(logs / "app.log")))
    agent = Agent(tmp_path, [f"{logs}/*.log"])
    agent.start()
    writer = log4j.log4j2(xml, 0, LINES, rate=400, wait=False)  # ~15 s (the first 1,000 lines take 2.5)
    try:
        # Deadlines, not durations: the JVM's start (~2 s alone) counted in the 20 s this wait had, and at
        # load ~25 the 60 s for the rest after the writer ran out once (session 11). What is asserted here:
        # the first 1,000 lines shipped before the writer is done.
        assert wait(lambda: set(range(1000)) <= set(agent.seqs()) or writer.poll() is not None, 300)
        assert writer.poll() is None, "nothing shipped while the writer runs"
        assert writer.wait(300) == 0
        assert agent.wait_delivered(range(LINES), timeout=180)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
        assert agent.stop() == 0
    assert exactly_once([s for s in agent.seqs() if s != -1], range(LINES)) == ""
    assert "data lost" not in agent.errors(), agent.errors()
