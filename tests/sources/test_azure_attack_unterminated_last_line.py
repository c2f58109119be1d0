"""An hourly blob whose last record has no newline after it. Azure is done with an hour's blob once
its hour and its last write are more than `lookback` ago; a partial last line then never gets its
end, and waiting for it loses that record without a word (and keeps the blob listed for ever). The
last record must arrive, once, when the blob is closed — and a blob still open keeps waiting."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

from tests.azurite import ACCOUNT, DATABRICKS_ROOT, KEY, hour_blob
from tests.sources.test_azure_blob import record
from tests.support import wait_until

SHIPPER = [sys.executable, "-m", "shipper.cli"]


def config(tmp: Path, url: str, container: str, lookback: float) -> Path:
    (tmp / "key").write_text(KEY + "\n")
    (tmp / "key").chmod(0o600)
    cfg = tmp / "shipper.yaml"
    cfg.write_text("\n".join([
        f"state_dir: {tmp / 'state'}", "sources:", "  - name: dbx", "    type: azure_blob", "    parser: databricks",
        f"    account_url: {url}", f'    containers: ["{container}"]', f"    account_name: {ACCOUNT}",
        f"    account_key_file: {tmp / 'key'}", "    poll_interval: 0.3", f"    lookback: {lookback}",
        "outputs:", "  - type: stdout"]) + "\n")
    return cfg


def ids_in(path: Path) -> list[str]:
    return [orjson.loads(line)["event"]["id"] for line in path.read_bytes().splitlines() if line.strip()]


def blob_at(h: datetime) -> str:
    return hour_blob(DATABRICKS_ROOT, h.year, h.month, h.day, h.hour)


def test_the_unterminated_last_record_of_a_closed_hour_arrives_once(azurite, tmp_path):
    c = f"insights-logs-tail{uuid.uuid4().hex[:8]}"
    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    old, current = blob_at(hour - timedelta(hours=3)), blob_at(hour)
    recs = [record() for _ in range(3)]
    now_recs = [record() for _ in range(2)]
    azurite.append(c, old, b"".join(recs).rstrip(b"\n"))
    azurite.append(c, current, b"".join(now_recs).rstrip(b"\n"))  # still open: its last line waits
    # lookback 4 s: the old blob is closed a few seconds after its last write.
    cfg = config(tmp_path, azurite.url, c, lookback=4)
    outs = [tmp_path / "run0.ndjson", tmp_path / "run1.ndjson"]
    for i, out in enumerate(outs):
        with open(out, "wb") as fo, open(tmp_path / f"err{i}.log", "wb") as fe:
            proc = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=fo, stderr=fe,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
            try:
                if i == 0:
                    want = {orjson.loads(x)["properties"]["logId"] for x in recs} | {
                        orjson.loads(now_recs[0])["properties"]["logId"]}
                    wait_until(lambda: want <= set(ids_in(out)), 60, "the closed blob's last record")
                else:
                    # Up (a SIGTERM before its handler is set kills it) and a few polls after a clean restart:
                    # nothing read again.
                    wait_until(lambda: b"started" in (tmp_path / f"err{i}.log").read_bytes(), 60, "the agent up")
                    time.sleep(3)
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(30) == 0, (tmp_path / f"err{i}.log").read_text()[-3000:]
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(30)
    got = Counter(ids_in(outs[0]) + ids_in(outs[1]))
    # The open blob's partial last line still waits for its end.
    assert orjson.loads(now_recs[1])["properties"]["logId"] not in got
    assert set(got) == want and max(got.values()) == 1, got
    assert not ids_in(outs[1])
