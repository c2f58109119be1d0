"""Attack on `shipper verify -c CONFIG --output NAME --since T` (issue 18), an honest trail: an
event's @timestamp is the product's time of it (a backlog shipped today carries last month's),
while the attestations carry the agent's clock. Reading back "since T" by @timestamp dropped the
events between two attestations of the period and called them missing. Against osmem-server (an
independent OpenSearch reimplementation, as in tests/core/test_integrity.py)."""
from __future__ import annotations

import datetime
import subprocess
import urllib.request

import pytest

from tests.core.test_integrity import KEY, SHIPPER, append, record, setup

pytestmark = pytest.mark.slow  # (tens of seconds: `make test` hands it out with the slow files, early)


def test_since_reads_every_link_of_the_attested_period_whatever_the_events_time(tmp_path):
    from osmem_server import OsmemServer

    server = OsmemServer.start(addr="127.0.0.1:0", japanese=False)
    try:
        log, cfg = setup(tmp_path)
        append(log, [record(i) for i in range(20)])  # records of 2026-01-02, shipped now
        cfg.write_text(cfg.read_text().replace("  - type: stdout", f"""  - type: opensearch
    name: store
    hosts: ['{server.url}']
    index: 'audit-{{dataset}}'"""))
        since = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        urllib.request.urlopen(urllib.request.Request(server.url + "/_refresh", method="POST")).close()
        kf = tmp_path / "verify.key"
        kf.write_text(KEY)
        v = subprocess.run(SHIPPER + ["verify", "--key-file", str(kf), "-c", str(cfg), "--output", "store",
                                      "--since", since], capture_output=True, text=True, timeout=120)
        assert v.returncode == 0, v.stdout + v.stderr[-2000:]
        assert "sequences 1-22, 22 links: intact" in v.stdout
        later = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        none = subprocess.run(SHIPPER + ["verify", "--key-file", str(kf), "-c", str(cfg), "--output", "store",
                                         "--since", later], capture_output=True, text=True, timeout=120)
        assert none.returncode == 1 and "no chained events" in none.stdout, none.stdout
    finally:
        server.close()
