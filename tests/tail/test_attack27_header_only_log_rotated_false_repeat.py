"""Attack 27 (issue 21, examiner exam27a): a log holding only its layout header, read, then rotated and compressed
(logrotate `create` + `compress`, or Log4j 2 `app.log.%i.gz`) before the agent's next scan, is followed by a new live
file beginning with the same header: the agent warns `27 bytes of app.log from offset 0 may be shipped again: it
replaced the file being read (renamed over it: `sed -i`, an editor saving by rename, a sync tool's copy) …` and counts
them in `shipper_bytes_read_again`. Nothing is shipped twice (each file's header is its own line, shipped once) and
nothing was renamed over the log: it was renamed away, the rename the watcher saw.

docs/design.md, case 9: "The shared-header rule holds: a new file sharing no more than the header with the file it
replaced is read whole, with no word". Found with a Log4j 2 `.gz` storm with a `PatternLayout header` (the first
file), then by hand with an idle service's log and the real logrotate (`create`, `compress`, the postrotate writing
the header into the new file): 1 false warning in 4 rotations, 1 in 6, 1 in 6; the scripted rotation below: 3 of 3,
with the renamed file compressed or deleted (renamed away and kept, no warning).
"""
from __future__ import annotations

import gzip
import os
import shutil
import time

import pytest

from tests.tail.attack18_agent import HEADER, Agent, append, wait


@pytest.mark.slow
@pytest.mark.parametrize("rotated", ["compressed", "deleted"])
def test_header_only_log_rotated_away_no_repeat_warned(tmp_path, rotated):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    live.write_text(HEADER + "\n")  # an idle service's log: its header only
    agent = Agent(tmp_path, [str(live)])
    agent.start()
    try:
        wait(lambda: HEADER in "".join(out.read_text() for out, _ in agent.runs), "the header read")
        time.sleep(1)
        # the rotation, as logrotate `create` + `compress` runs it: rename, the new log (its writer reopens and
        # writes its header, then lines), the renamed file compressed and removed
        os.rename(live, logs / "app.log.1")
        seqs = append(live, 0, 20)
        if rotated == "compressed":
            with open(logs / "app.log.1", "rb") as f, gzip.open(logs / "app.log.1.gz", "wb") as g:
                shutil.copyfileobj(f, g)
        os.unlink(logs / "app.log.1")
        agent.wait_seqs(seqs)
        time.sleep(3)  # whatever else it reads or says
    finally:
        agent.stop()
    shipped = "".join(out.read_text() for out, _ in agent.runs)
    assert sorted(agent.seqs()) == seqs
    assert shipped.count(HEADER) == 2, "each file's header once"
    repeats = [w for w in agent.warnings() if "shipped again" in w or "read again" in w]
    assert not repeats, "a repeat named where nothing was repeated:\n" + "\n".join(repeats)
