"""A storage service whose listing never ends with ever-new continuation tokens (NextMarker never
repeats, so it cannot be told from a long listing): SIGTERM must still stop the agent promptly."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import uuid
from datetime import datetime, timezone

import pytest

from tests.azurite import ACCOUNT, DATABRICKS_ROOT, hour_blob
from tests.peers.storage_meddler import Meddler
from tests.sources.test_azure_attack_listing_loop import config
from tests.sources.test_azure_blob import record
from tests.support import wait_until

pytestmark = pytest.mark.slow

SHIPPER = [sys.executable, "-m", "shipper.cli"]
MARKER = re.compile(rb"<NextMarker\s*/>|<NextMarker>[^<]*</NextMarker>")


def _endless_listing(azurite) -> tuple[str, Meddler, list[str]]:
    """A container with one blob behind a proxy whose every listing page names a new next page:
    (container, proxy, the listing requests seen)."""
    c = f"insights-logs-endless{uuid.uuid4().hex[:8]}"
    h = datetime.now(timezone.utc)
    azurite.append(c, hour_blob(DATABRICKS_ROOT, h.year, h.month, h.day, h.hour), record())
    med = Meddler(azurite.port, ACCOUNT)
    lists: list[str] = []

    def endless(method, path, headers, status, resp_headers, body):
        if status != 200 or "comp=list" not in path or "restype=container" not in path:
            return None
        lists.append(path)
        return status, resp_headers, MARKER.sub(f"<NextMarker>{uuid.uuid4().hex}</NextMarker>".encode(), body)
    med.hook = endless
    return c, med, lists


def test_sigterm_ends_an_endless_listing(azurite, tmp_path):
    c, med, lists = _endless_listing(azurite)
    try:
        cfg = config(tmp_path, med.url, c)
        with open(tmp_path / "err.log", "wb") as fe:
            proc = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=fe)
        try:
            wait_until(lambda: len(lists) > 20, 60, "the endless listing under way")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0, (tmp_path / "err.log").read_text()[-3000:]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
    finally:
        med.close()


def test_once_ends_an_endless_listing_at_max_list_pages_and_names_it(azurite, tmp_path):
    """`--once` without `--timeout` ran for ever; now the listing stops at `max_list_pages` pages with an
    error naming the listing and the key, is retried like an outage, and `--once` gives up (exit 1)."""
    c, med, lists = _endless_listing(azurite)
    try:
        cfg = config(tmp_path, med.url, c)
        cfg.write_text(cfg.read_text().replace("outputs:", "    max_list_pages: 15\noutputs:"))
        r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, timeout=120)
    finally:
        med.close()
    err = r.stderr.decode()
    assert r.returncode == 1, err[-3000:]
    assert "max_list_pages" in err and f"container {c}" in err, err[-3000:]
    assert len(lists) <= 3 * 15 + 3, len(lists)  # three attempts, each cut at the limit
