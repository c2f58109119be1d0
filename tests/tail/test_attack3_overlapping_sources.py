"""Attack (issue 13, "nothing repeated silently"): two file sources whose globs overlap
(`logs/*.log` and `logs/app*`, an operator adding a second source for one product's log). Each
source follows the file with its own checkpoint, so every line is shipped twice, with no warning —
like two agents on one state_dir (issue 13 item 5), which is refused. Either one source reads the
file, or the overlap is warned naming the file and both sources."""
from __future__ import annotations

import time

from tests.tail.attack_agent import Agent, exactly_once, numbered


def test_a_file_matched_by_two_sources_is_not_shipped_twice_silently(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    live.write_text("".join(numbered(i) for i in range(200)))
    agent = Agent(tmp_path, [f"{logs}/*.log"])
    agent.cfg.write_text(agent.cfg.read_text().replace("outputs:", f"""  - name: other
    type: file
    paths: ["{logs}/app*"]
    parser: json
    poll_interval: 0.2
outputs:"""))
    agent.start()
    try:
        assert agent.wait_delivered(range(200))
        time.sleep(2)  # both sources have read it by now
    finally:
        agent.stop()
    twice = exactly_once(agent.seqs(), range(200))
    warned = [line for line in agent.errors().splitlines()
              if "level=warning" in line and str(live) in line and "other" in line]
    assert twice == "" or warned, f"shipped twice, no warning: {twice}"
