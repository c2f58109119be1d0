"""Attack on `shipper verify` (issue 18), an honest trail: README and docs/evidence.md promise that
verify reads Fluentd `out_file` lines (`time<TAB>tag<TAB>record`). The Fluentd output adds the
event's stable id to every record (`id_field`, default `_shipper_id`, for fluent-plugin-
elasticsearch's `id_key`), after the event was sealed: the records Fluentd stores, written as
out_file writes them, must verify."""
from __future__ import annotations

import datetime
import json
import subprocess

from tests.core.test_integrity import SHIPPER, append, record, setup, verify
from tests.peers.forward_server import ForwardServer


def test_a_fluentd_out_file_trail_verifies(tmp_path):
    peer = ForwardServer().start()
    try:
        log, cfg = setup(tmp_path)
        cfg.write_text(cfg.read_text().replace("  - type: stdout", f"  - {{type: fluentd, host: 127.0.0.1, port: {peer.port}}}"))
        append(log, [record(i) for i in range(20)])
        r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        records = list(peer.records)
    finally:
        peer.stop()
    assert sum(1 for _, _, rec in records if "user" in rec) == 20
    assert all("_shipper_id" in rec for _, _, rec in records)  # what the output adds after sealing
    out_file = tmp_path / "buffer.20260101.log"
    with open(out_file, "w") as f:  # out_file's default format: time (ISO 8601), tag, record as JSON
        for tag, ns, rec in records:
            t = datetime.datetime.fromtimestamp(ns / 1e9, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S%z")
            f.write(f"{t}\t{tag}\t{json.dumps(rec, ensure_ascii=False, separators=(',', ':'))}\n")
    v = verify(tmp_path, out_file)
    assert v.returncode == 0, v.stdout[-3000:]
    assert "sequences 1-22, 22 links: intact" in v.stdout
