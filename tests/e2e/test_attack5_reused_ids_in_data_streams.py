"""Black-box attack 5: the fix for vendor ids used again (a 409 is read back with `_mget` and compared)
under shipper's default, data streams. Elasticsearch answers a bulk item written to a data stream with
the backing index it went to (`.ds-<stream>-<date>-000001`: `DataStreamIT` in Elasticsearch's own tests
asserts `getBackingIndexName`), and a get by id does not resolve a data stream's name ("datastreams
does not support get operation", kuseman/payloadbuilder#84; a single-document read needs a concrete
index). tests/peers/bulk_server.py answers the stream's own name and serves `_mget` on it, so the fix
looked done whatever the output asked. Here a peer that answers as Elasticsearch does: a Posit entry_id
used again after a restore, with the events going to data streams. Held: the read-back asks the backing
index the 409 named, and the other event is stored under an _id of its own."""
from __future__ import annotations

import datetime
import subprocess
import sys

import pytest

from tests.peers.bulk_server import BulkError, BulkServer
from tests.posit_reuse import AUDIT_LOG, after_restore, before_restore

pytestmark = pytest.mark.slow

SHIPPER = [sys.executable, "-m", "shipper.cli"]


class DataStreamsAsElasticsearch(BulkServer):
    """Items written to a data stream name the backing index; a get by id of a stream's name is refused
    per document, as Elasticsearch refuses single-index reads of a data stream."""

    def _item(self, op, meta, source, default_index):
        answer = super()._item(op, meta, source, default_index)
        index = meta.get("_index", default_index)
        if index and self.is_data_stream(index) and answer.get("_index") == index:
            day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y.%m.%d")
            answer = {**answer, "_index": f".ds-{index}-{day}-000001"}
        return answer

    def mget(self, body, default_index):
        docs = body.get("docs") if isinstance(body, dict) else None
        if isinstance(docs, list):
            for d in docs:
                index = d.get("_index", default_index) if isinstance(d, dict) else default_index
                if isinstance(index, str) and index.startswith(".ds-"):  # the backing index: the stream's docs
                    d["_index"] = index[len(".ds-"):].rsplit("-", 2)[0]
                elif isinstance(index, str) and self.is_data_stream(index):
                    raise BulkError(400, "illegal_argument_exception", f"The provided expression [{index}] matches "
                                    "a data stream, specify the corresponding concrete indices instead.")
        return super().mget(body, default_index)


def test_reused_vendor_ids_in_data_streams_are_stored_or_named(tmp_path):
    log = tmp_path / AUDIT_LOG
    log.write_text("".join(before_restore() + after_restore()))
    es = DataStreamsAsElasticsearch(flavour="es9").start()
    try:
        cfg = tmp_path / "shipper.yaml"
        cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
sources:
  - {{name: posit, type: file, paths: ['{log}'], parser: posit_connect}}
outputs:
  - {{type: elasticsearch, name: es, hosts: ['{es.url}'], backoff_base: 0.05}}
""")
        r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, text=True, timeout=300)
    finally:
        es.stop()
    assert r.returncode in (0, 1), r.stderr[-2000:]
    stored = {(d["user"]["name"], d["event"]["id"]) for d in es.docs.values()}
    expected = {("alice", str(i)) for i in range(1, 11)} | {("mallory", str(i)) for i in range(5, 15)}
    lost = sorted(expected - stored, key=lambda k: (k[0], int(k[1])))
    assert not lost, f"{len(lost)} events never stored: {lost}; stderr: {r.stderr[-1500:]}"
