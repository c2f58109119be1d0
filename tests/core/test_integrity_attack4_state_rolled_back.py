"""Attack on `shipper verify` (issue 18): the agent's state rolled back, as a VM restored from a
snapshot rolls it back. The agent resumes its chain from the older head: the links the later run
had sealed are sealed again with other hashes (another resume attestation at the same place), and
new events follow them. Elasticsearch keeps the first copy of each stable _id (`create`, 409 for
the second), so the store holds the first run's links and the new events chained to the second
run's: verify calls an honest event "altered" and says nothing of the fork. An auditor told of
tampering where there was a restore learns to wave "altered" through. Against the strict bulk peer.
Fixed: verify names the fork (two resume attestations at one place) and the link on the branch the store
kept only in part, whose content it cannot check: not intact, and not called an alteration."""
from __future__ import annotations

import shutil
import subprocess

import orjson
import pytest

from tests.core.test_integrity import KEY, SHIPPER, record
from tests.peers.bulk_server import BulkServer

pytestmark = pytest.mark.slow  # (tens of seconds: `make test` hands it out with the slow files, early)


def test_a_rolled_back_state_is_named_as_such_not_as_an_alteration(tmp_path):
    (tmp_path / "key").write_text(KEY + "\n")
    (tmp_path / "key").chmod(0o600)
    log, state = tmp_path / "useraction.log", tmp_path / "state"
    server = BulkServer(flavour="es9").start()
    try:
        cfg = tmp_path / "shipper.yaml"
        cfg.write_text(f"""
state_dir: {state}
integrity: {{key_file: key}}
sources:
  - {{name: dm, type: file, paths: ['{log}'], parser: datameer, parse_workers: 0}}
outputs:
  - {{type: elasticsearch, hosts: ['{server.url}'], index: audit}}
  - type: stdout
""")
        captured = []  # the stdout output's trail: it keeps every copy

        def run_once() -> None:
            r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
            assert r.returncode == 0, r.stderr.decode()[-2000:]
            captured.append(r.stdout)

        log.write_bytes(record(1) + b"\n" + record(2) + b"\n")
        run_once()
        shutil.copytree(state, tmp_path / "snapshot")  # the VM snapshot
        with open(log, "ab") as f:
            f.write(record(3) + b"\n" + record(4) + b"\n")
        run_once()
        shutil.rmtree(state)
        shutil.copytree(tmp_path / "snapshot", state)  # restored from it
        with open(log, "ab") as f:
            f.write(record(5) + b"\n")
        run_once()
        docs = list(server.docs.values())
    finally:
        server.stop()
    assert sum("user" in d and d["user"]["name"] == "user5" for d in docs) == 1  # every event stored once
    export = tmp_path / "export.jsonl"  # `_source` of each hit, one a line
    export.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    kf = tmp_path / "verify.key"
    kf.write_text(KEY)
    kf.chmod(0o600)
    v = subprocess.run(SHIPPER + ["verify", "--key-file", str(kf), "--output", "elasticsearch", str(export)],
                       capture_output=True, text=True, timeout=120)
    assert "altered:" not in v.stdout, v.stdout  # nothing was altered: the chain forked at a restored head
    assert v.returncode == 1, v.stdout  # user5's event follows a link the store does not hold: unproven
    assert "note: fork: the chain was sealed more than once from sequence 4 on: sequence 5 holds 2 different " \
           "links" in v.stdout and "its state was rolled back" in v.stdout, v.stdout
    user5 = next(d for d in docs if "user" in d and d["user"]["name"] == "user5")
    assert f"forked: sequence {user5['event']['sequence']} " in v.stdout, v.stdout
    assert v.stdout.count("no attestation covers") == 1, v.stdout  # the restore's, not one across the branches

    # The same store with user5's event altered as well: still not intact, and no fork hides it elsewhere
    user5["user"]["name"] = "mallory"
    export.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    v = subprocess.run(SHIPPER + ["verify", "--key-file", str(kf), "--output", "elasticsearch", str(export)],
                       capture_output=True, text=True, timeout=120)
    assert v.returncode == 1, v.stdout

    # A store that keeps every copy (the stdout capture) holds both branches whole: each link proven, the
    # fork named
    trail = tmp_path / "stdout.jsonl"
    trail.write_bytes(b"".join(captured))
    v = subprocess.run(SHIPPER + ["verify", "--key-file", str(kf), "--output", "stdout", str(trail)],
                       capture_output=True, text=True, timeout=120)
    assert v.returncode == 0, v.stdout
    assert "note: fork: the chain was sealed more than once from sequence 4 on" in v.stdout, v.stdout
