"""Attack (issue 12): `id_field` names where each record carries its stable id. An operator who names
a field the events already have (`event`, `@timestamp`, `host`, a product namespace) must not get events whose
content was replaced by the id: the config is refused (exit 2 naming the key) or the events arrive
unaltered."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.peers.forward_server import ForwardServer

SHIPPER = [sys.executable, "-m", "shipper.cli"]


@pytest.mark.parametrize("field", ["event", "@timestamp", "host", "generic"])  # generic: the json parser's namespace
def test_an_id_field_that_names_an_event_field_never_overwrites_it(tmp_path: Path, field: str):
    with open(tmp_path / "audit.log", "w") as f:
        for i in range(5):
            f.write(json.dumps({"@timestamp": "2026-01-02T03:04:05Z", "message": f"m{i}", "n": i}) + "\n")
    peer = ForwardServer().start()
    try:
        cfg = tmp_path / "shipper.yaml"
        cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
sources:
  - {{name: audit, type: file, paths: ['{tmp_path / "audit.log"}'], parser: json}}
outputs:
  - {{type: fluentd, port: {peer.port}, flush_interval: 0.1, id_field: '{field}'}}
""")
        r = subprocess.run(SHIPPER + ["run", "--once", "--timeout", "30", "-c", str(cfg)], capture_output=True,
                           timeout=90)
        err = r.stderr.decode()
        if r.returncode == 2:  # refused at config time, naming file, line and key
            assert f"{cfg}:" in err and "id_field" in err, err
            assert peer.records == []
            return
        assert r.returncode == 0, err
        records = [rec[2] for rec in peer.records]
        assert [rec["generic"]["n"] for rec in records] == list(range(5))
        for rec in records:
            assert rec["@timestamp"] == "2026-01-02T03:04:05.000Z", rec
            assert isinstance(rec["event"], dict) and rec["event"]["dataset"].startswith("generic"), rec
            assert isinstance(rec["host"], dict), rec
    finally:
        peer.stop()
