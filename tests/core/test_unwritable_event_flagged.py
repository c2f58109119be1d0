"""An event no output can write (a value orjson refuses: an integer past 64 bits from a parser plugin) is shipped
flagged with its record's text, between its neighbours, and the source goes on: the refused dump of the batch tries
every record's events (events.EVERY_RECORD). Before, only records with many brackets were tried (the deep ones), and
such a value ended the source at every restart (exam30a's Databricks status code; its parser now keeps such a code
as text, so this test's parser makes one itself)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.plugin_install import installed

SHIPPER = os.path.join(os.path.dirname(sys.executable), "shipper")

PARSER = """
from shipper.api import Parser, base_event

class HugeParser(Parser):
    module = "huge"
    dataset = "huge.audit"

    def parse(self, raw: bytes):
        ev = base_event(self.module, self.dataset, "line")
        ev["message"] = raw.decode()
        ev["huge"] = {"n": 1 << 70 if raw == b"HUGE" else 7}
        return [ev]
"""


@pytest.mark.parametrize("workers", [0, 2])
def test_an_event_orjson_refuses_is_shipped_flagged_in_place(tmp_path, workers):
    env = installed(tmp_path, "huge_parser", PARSER, "1.0", "[shipper.parsers]\nhuge = huge_parser:HugeParser\n")
    log = tmp_path / "app.log"
    lines = [f"line {i}" for i in range(1500)]
    lines.insert(700, "HUGE")
    log.write_text("\n".join(lines) + "\n")
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
sources:
  - name: app
    type: file
    paths: [{log}]
    parser: huge
    parse_workers: {workers}
outputs:
  - type: stdout
""")
    r = subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], env=env, capture_output=True, timeout=120)
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 0, err[-1500:]
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(events) == 1501, err[-1500:]
    flagged = [i for i, e in enumerate(events) if "_parse_failure" in e.get("tags", ())]
    assert flagged == [700], [events[i] for i in flagged]
    assert events[700]["event"]["original"] == "HUGE"
    assert "64-bit" in events[700]["error"]["message"]
    assert [e["message"] for i, e in enumerate(events) if i != 700] == [f"line {i}" for i in range(1500)]
