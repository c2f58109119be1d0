"""Attack on `shipper verify --output NAME` (issue 18): whose loss is it? One source ships to
OpenSearch and to stdout; OpenSearch refuses one document (a mapping conflict) and the agent
dead-letters it, declaring it in the attestation under that output (`outputs.store.dead_lettered`).
The stdout capture holds every link. Told the capture is stdout's store (`--output out`), verify
still answers NOT VERIFIED with "output store dead-lettered 1 events": a complete store is called
incomplete for another store's loss, and an auditor learns to wave such losses through.
Against osmem-server (an independent OpenSearch reimplementation, as in tests/core/test_integrity.py)."""
from __future__ import annotations

import subprocess

import orjson

from tests.core.test_integrity import KEY, SHIPPER


def test_a_complete_store_is_not_failed_for_another_outputs_dead_letters(tmp_path):
    from osmem_server import OsmemServer

    (tmp_path / "key").write_text(KEY + "\n")
    (tmp_path / "key").chmod(0o600)
    base = {"timestamp": "2026-11-02 09:00:01", "action-type": "FILESYSTEM", "action": "CREATE",
            "performing-user": "alice", "file-path": "/a"}
    # the second record's file-uuid is an object where the first made the field text: a mapping conflict
    (tmp_path / "a.log").write_bytes(orjson.dumps({**base, "file-uuid": "abc"}) + b"\n"
                                     + orjson.dumps({**base, "file-uuid": {"x": 1}}) + b"\n")
    server = OsmemServer.start(addr="127.0.0.1:0", japanese=False)
    try:
        cfg = tmp_path / "shipper.yaml"
        cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
integrity: {{key_file: key}}
sources:
  - {{name: a, type: file, paths: ['{tmp_path / 'a.log'}'], parser: datameer, batch_size: 1}}
outputs:
  - {{type: opensearch, name: store, hosts: ['{server.url}'], index: audit-x}}
  - {{type: stdout, name: out}}
""")
        r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=300)
        assert r.returncode == 0, r.stderr.decode()[-2000:]
        assert b"failed 1 (dead-lettered)" in r.stderr, r.stderr.decode()[-1000:]
    finally:
        server.close()
    capture = tmp_path / "capture.jsonl"
    capture.write_bytes(r.stdout)
    assert len(r.stdout.splitlines()) == 4  # start, two events, stop: stdout has every link
    kf = tmp_path / "verify.key"
    kf.write_text(KEY)
    kf.chmod(0o600)
    v = subprocess.run(SHIPPER + ["verify", "--key-file", str(kf), "--output", "out", str(capture)],
                       capture_output=True, text=True, timeout=120)
    assert v.returncode == 0, v.stdout + v.stderr
