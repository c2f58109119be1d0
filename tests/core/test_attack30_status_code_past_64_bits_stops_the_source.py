"""Black-box attack 30 (exam30a, issue 13: bad input never stops the agent): a Databricks record whose
`response.statusCode` is a number past 64 bits. The README: "Bad input never stops the agent: a record that cannot
be parsed is shipped with `event.kind: pipeline_error` …". tests/core/test_deep_nesting_serialised.py keeps a
record too deep for orjson to write from stopping the source; a value orjson cannot write is the same class.

Found (by hand, a fuzz of every field of config/samples' records with odd values — huge numbers, NaN, empty, null,
lists — through each built-in parser; 2 of 2 again on its own): an Event Hub record with `"statusCode":
"99999999999999999999999"` (also as a JSON number, with spaces around, or 18446744073709551616) ends the source:
`source stopped with an error error="dbx: Integer exceeds 64-bit range"`, exit 1, none of the batch around it
shipped (0 of 3 lines), and a daemon's source stays stopped; every restart stops at the same record. 2^63 and
-10^20 are shipped. The other parsers took every value tried."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SHIPPER = [os.path.join(os.path.dirname(sys.executable), "shipper")]
SAMPLE = Path(__file__).resolve().parents[2] / "config/samples/databricks/eventhub/vn-audit-logs.json"


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("code", ['"99999999999999999999999"', "18446744073709551616"])
def test_a_status_code_past_64_bits_is_shipped_and_the_source_goes_on(tmp_path, workers, code):
    record = json.loads(SAMPLE.read_text().splitlines()[0])["records"][0]
    log = tmp_path / "eventhub.json"
    with open(log, "w") as f:
        for i in range(1500):
            r = json.loads(json.dumps(record))
            r["properties"]["logId"] = f"log-{i}"
            r["properties"]["response"]["statusCode"] = "@CODE@" if i == 700 else 200
            f.write(json.dumps({"records": [r]}).replace('"@CODE@"', code) + "\n")
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
sources:
  - name: dbx
    type: file
    paths: [{log}]
    parser: databricks
    parse_workers: {workers}
outputs:
  - type: stdout
""")
    try:
        r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("run --once did not end within 120 s")
    err = r.stderr.decode(errors="replace")
    assert "source stopped with an error" not in err, err[-1500:]
    assert r.returncode == 0, err[-1500:]
    events = [json.loads(line) for line in r.stdout.splitlines()]
    ids = [e.get("databricks", {}).get("log_id") or e.get("event", {}).get("id") for e in events]
    assert len(events) == 1500, f"{len(events)} of 1500 events shipped"
    assert ids[699] != ids[701], ids[695:705]
