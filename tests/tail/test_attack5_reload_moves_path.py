"""Black-box attack 5: a SIGHUP reload moves a file from one source's `paths` to another's (an operator giving
one log its own parser, tag or outputs), or takes it out of `paths`. docs/operations.md: a file no longer
matched "keeps that file's checkpoint: nothing is read from it"; issue 23: reloads repeat nothing. Found (each 3
runs of 3 by hand, 100-line file, output up throughout):
- the source that lost the path goes on reading the file through the descriptor it held, as a file "rotated
  away": every line written after the reload is shipped by it (log.file.path "y.log (rotated away, held open)"),
  20 s later still;
- the source that gained the path reads it from its start: its 100 lines shipped twice, under other ids (the
  stable id hashes the source), with no warning."""
from __future__ import annotations

import signal
import time

import pytest

from tests.tail.attack_agent import Agent, append_numbered

pytestmark = pytest.mark.slow


def two_sources(agent: Agent, app_paths: list, other_paths: list) -> None:
    def paths(ps: list) -> str:
        return ", ".join(f'"{p}"' for p in ps)
    agent.cfg.write_text(f"""
state_dir: {agent.tmp}/state
http: {{listen: "127.0.0.1:{agent.port}"}}
shutdown_timeout: 20
sources:
  - name: app
    type: file
    paths: [{paths(app_paths)}]
    parser: json
    poll_interval: 0.2
  - name: other
    type: file
    paths: [{paths(other_paths)}]
    parser: json
    poll_interval: 0.2
outputs:
  - type: stdout
""")


def reload(agent: Agent) -> None:
    n = agent.errors().count("msg=reloaded")
    agent.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 60
    while agent.errors().count("msg=reloaded") == n:
        assert time.monotonic() < deadline, agent.errors()[-2000:]
        time.sleep(0.2)


def setup(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    x, y, z = logs / "x.log", logs / "y.log", logs / "z.log"
    append_numbered(x, 0, 100)
    append_numbered(y, 1000, 1100)
    agent = Agent(tmp_path, [])
    two_sources(agent, [x, y], [z])
    agent.start()
    return agent, x, y, z


def test_file_taken_out_of_paths_by_reload_is_not_read_any_more(tmp_path):
    agent, x, y, z = setup(tmp_path)
    try:
        assert agent.wait_delivered(list(range(100)) + list(range(1000, 1100)))
        two_sources(agent, [x], [z])
        reload(agent)
        append_numbered(y, 1100, 1110)  # out of every source's paths now
        append_numbered(x, 100, 110)
        assert agent.wait_delivered(range(110))  # the source reads on; y.log's new lines had the same chance
        time.sleep(3)
    finally:
        assert agent.stop() == 0
    late = sorted(s for s in agent.seqs() if s >= 1100)
    assert late == [], f"lines of y.log written after the reload were shipped: {late}"


def test_file_moved_to_another_source_by_reload_repeats_nothing(tmp_path):
    agent, x, y, z = setup(tmp_path)
    try:
        assert agent.wait_delivered(list(range(100)) + list(range(1000, 1100)))
        two_sources(agent, [x], [z, y])
        reload(agent)
        append_numbered(y, 1100, 1110)
        assert agent.wait_delivered(range(1100, 1110))
        time.sleep(3)
    finally:
        assert agent.stop() == 0
    seqs = [s for s in agent.seqs() if s >= 1000]
    repeated = sorted({s for s in seqs if seqs.count(s) > 1})
    warned = "y.log" in agent.errors() and "level=warning" in agent.errors()
    # Either the new source goes on from where the old one stopped, or the repeat is at least said.
    assert not repeated or warned, f"{len(repeated)} lines of y.log shipped twice, no warning (e.g. {repeated[:5]})"
