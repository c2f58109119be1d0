"""Issue 23: a real agent's tombstones (contents read to their end and gone) stay at their bound in count while its
log rotates on, /metrics shows how many it holds and how many it forgot, and the journal says the forgetting once.
Real files, real renames (one backup: the oldest deleted), a strict Fluentd peer; every line counted."""
from __future__ import annotations

import json
import os

from shipper.tail import scan_rules
from tests.e2e.fluentd_agent import metric_value, run_agent, stored, write_config, write_lines
from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait, wait_until
from tests.tail.attack_agent import free_port

ROTATIONS = scan_rules.TOMBSTONES_PER_FAMILY + 6
LINES = 5


def test_a_rotating_logs_tombstones_stay_at_the_bound_and_are_shown(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (tmp_path / "state").mkdir()
    live, backup = logs / "app.log", logs / "app.log.1"
    peer = ForwardServer(port=free_port()).start()
    http = free_port()
    cfg = write_config(tmp_path, http, [live], [("fluentd", peer.port)])
    # The backups deleted here, read to their end, are found gone by the safety rescan: ~60 s after the start by
    # default (this test waited for it: 60 s of its 65); every 2 s here
    settings = json.loads(cfg.read_text())
    settings["sources"][0]["rescan_interval"] = 2
    cfg.write_text(json.dumps(settings))  # JSON is YAML
    journal = tmp_path / "journal.log"
    agent = run_agent(cfg, journal)
    try:
        for r in range(ROTATIONS):
            write_lines(live, f"r{r}", 0, LINES)
            wait_until(lambda r=r: sum(1 for (src, _n) in stored(peer) if src == f"r{r}") == LINES, 120,
                       f"the lines of rotation {r} stored")
            if backup.exists():
                os.unlink(backup)  # (the content before: read to its end, deleted, a tombstone)
            os.rename(live, backup)
        deleted = ROTATIONS - 1
        kept = scan_rules.TOMBSTONES_PER_FAMILY
        assert wait(lambda: metric_value(http, "shipper_file_tombstones_forgotten_total") == deleted - kept, 120, 0.5), (
            metric_value(http, "shipper_file_tombstones_forgotten_total"), journal.read_text()[-3000:])
        assert metric_value(http, "shipper_file_tombstones") == kept
    finally:
        stop_process(agent, 60)
        peer.stop()
    counts = stored(peer)
    assert sorted(counts.values()) == [1] * (ROTATIONS * LINES), "every line once"
    text = journal.read_text()
    assert text.count("tombstones forgotten") == 1, "said once, not per file"
    assert "data lost" not in text
