"""Attack (issue 12): one log line whose time is before 1970 or after 2106 (a typo, a hostile
writer, a default date). Forward's EventTime holds unsigned 32-bit seconds, so packing it raised,
the batch never went, and every event behind it waited forever (`--once` ran into --timeout). Bad
input must never stop the agent: the event goes with the read time as its Forward time, its own
@timestamp unchanged in the record."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.peers.forward_server import ForwardServer

SHIPPER = [sys.executable, "-m", "shipper.cli"]
ODD = ["1900-01-01T00:00:00Z", "2200-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1969-12-31T23:59:59.5Z"]


def test_events_dated_outside_eventtime_go_and_do_not_hold_up_the_rest(tmp_path: Path):
    with open(tmp_path / "audit.log", "w") as f:
        for i in range(12):
            ts = ODD[i // 3] if i % 3 == 1 else "2026-01-02T03:04:05Z"
            f.write(json.dumps({"@timestamp": ts, "message": f"m{i}", "n": i}) + "\n")
    peer = ForwardServer().start()
    try:
        cfg = tmp_path / "shipper.yaml"
        cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
sources:
  - {{name: audit, type: file, paths: ['{tmp_path / "audit.log"}'], parser: json}}
outputs:
  - {{type: fluentd, port: {peer.port}, flush_interval: 0.1}}
""")
        r = subprocess.run(SHIPPER + ["run", "--once", "--timeout", "30", "-c", str(cfg)], capture_output=True,
                           timeout=90)
        assert r.returncode == 0, r.stderr.decode()
        assert [rec[2]["generic"]["n"] for rec in peer.records] == list(range(12)), "each event once, in order"
        assert peer.errors == []
        for _, time_ns, rec in peer.records:
            assert 0 <= time_ns < (1 << 32) * 1_000_000_000
            assert rec["generic"]["@timestamp"] in ODD + ["2026-01-02T03:04:05Z"], "the record is not altered"
    finally:
        peer.stop()
