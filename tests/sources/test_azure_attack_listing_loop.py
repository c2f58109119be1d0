"""A storage service whose listing never ends: every page of a list answer names the same
continuation token (NextMarker), so a client that follows it asks for the same page for ever.
`shipper run --once` must end (exit 1, naming the listing), a running agent must stop on SIGTERM,
and once the service behaves again every logId arrives, once."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pytest

from tests.azurite import ACCOUNT, DATABRICKS_ROOT, KEY, hour_blob
from tests.peers.storage_meddler import Meddler
from tests.sources.test_azure_blob import record
from tests.support import wait_until

pytestmark = pytest.mark.slow  # (tens of seconds: `make test` hands it out with the slow files, early)

SHIPPER = [sys.executable, "-m", "shipper.cli"]
MARKER = re.compile(rb"<NextMarker\s*/>|<NextMarker>[^<]*</NextMarker>")


def config(tmp: Path, url: str, containers: str) -> Path:
    (tmp / "key").write_text(KEY + "\n")
    (tmp / "key").chmod(0o600)
    cfg = tmp / "shipper.yaml"
    cfg.write_text("\n".join([
        f"state_dir: {tmp / 'state'}", "sources:", "  - name: dbx", "    type: azure_blob", "    parser: databricks",
        f"    account_url: {url}", f'    containers: ["{containers}"]', f"    account_name: {ACCOUNT}",
        f"    account_key_file: {tmp / 'key'}", "    poll_interval: 0.3", "    backoff_initial: 0.1",
        "    backoff_max: 0.5", "    timeout: 5", "outputs:", "  - type: stdout"]) + "\n")
    return cfg


def ids_in(path: Path) -> list[str]:
    return [orjson.loads(line)["event"]["id"] for line in path.read_bytes().splitlines() if line.strip()]


def looping(which: str):
    """A hook answering every list of `which` kind with a NextMarker that never changes."""
    def hook(method, path, headers, status, resp_headers, body):
        if status != 200 or "comp=list" not in path:
            return None
        kind = ("containers" if "restype=container" not in path
                else "folders" if "delimiter=" in path else "hours")
        if kind != which:
            return None
        return status, resp_headers, MARKER.sub(b"<NextMarker>2!48!LOOP</NextMarker>", body)
    return hook


@pytest.mark.parametrize("which", ["containers", "folders", "hours"])
def test_a_listing_that_repeats_its_continuation_token_ends_and_loses_nothing(azurite, tmp_path, which):
    stem = uuid.uuid4().hex[:8]
    c = f"insights-logs-loop{stem}"
    h = datetime.now(timezone.utc)
    recs = [record() for _ in range(5)]
    azurite.append(c, hour_blob(DATABRICKS_ROOT, h.year, h.month, h.day, h.hour), b"".join(recs))
    med = Meddler(azurite.port, ACCOUNT)
    try:
        cfg = config(tmp_path, med.url, f"insights-logs-loop{stem}*")
        med.hook = looping(which)
        out = tmp_path / "once.ndjson"
        with open(out, "wb") as fo:
            r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], stdout=fo, stderr=subprocess.PIPE,
                               timeout=80)
        err = r.stderr.decode()
        assert r.returncode == 1, err[-3000:]
        assert "continuation token" in err and "repeat" in err, err[-3000:]

        # A running agent keeps retrying (no hang) and stops on SIGTERM.
        with open(tmp_path / "d.ndjson", "wb") as fo, open(tmp_path / "d.err", "wb") as fe:
            proc = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=fo, stderr=fe,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            wait_until(lambda: b"continuation token" in (tmp_path / "d.err").read_bytes(), 60, "the loop named")
            med.hook = None  # the service behaves again: everything arrives
            wait_until(lambda: len(ids_in(tmp_path / "d.ndjson")) >= len(recs), 60, "every record")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
    finally:
        med.close()
    got = Counter(ids_in(out) + ids_in(tmp_path / "d.ndjson"))
    assert set(got) == {orjson.loads(x)["properties"]["logId"] for x in recs} and max(got.values()) == 1, got
