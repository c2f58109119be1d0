"""The head/tail-cut rule of `shipper verify` (issue 18) on a live store: each attestation lists the other
chains its output carries, and verify demands their links up to where the attestation saw them. It used the
sequence each had *sealed*: a batch the store was still answering 429 for (sealed, retried, not stored yet)
made an honest store read back at that moment "NOT VERIFIED" (its tail was cut). Attestations now carry
each chain's acknowledged sequence, what the store provably holds, and verify judges by that. Against the
strict bulk peer answering 429 for every attempt of source b's events until the test lets them through."""
from __future__ import annotations

import signal
import subprocess
import time

import orjson
import pytest

from tests.core.test_integrity import KEY, SHIPPER, record, verify
from tests.peers.bulk_server import BulkServer

pytestmark = pytest.mark.slow


def _b_seen_sealed_beyond_stored(docs: list[dict]) -> bool:
    """An attestation of a stored that saw b sealed further than the store holds b."""
    b_stored = max((d["event"]["sequence"] for d in docs if d["labels"]["shipper_chain"] == "h/b"), default=0)
    for d in docs:
        if d["labels"]["shipper_chain"] == "h/a" and d["event"].get("dataset") == "shipper.attestation":
            for c in d["shipper"]["attestation"]["outputs"]["es"]["chains"]:
                if c["chain"] == "h/b" and c["sequence"] > b_stored:
                    return True
    return False


def _attestations_of_a(docs: list[dict]) -> int:
    return sum(d["labels"]["shipper_chain"] == "h/a" and d["event"].get("dataset") == "shipper.attestation"
               for d in docs)


def _docs(server: BulkServer) -> list[dict]:
    with server._lock:
        return [orjson.loads(orjson.dumps(d)) for d in server.docs.values()]


def test_links_retried_after_a_429_are_not_called_cut_from_a_live_store(tmp_path):
    (tmp_path / "key").write_text(KEY + "\n")
    (tmp_path / "key").chmod(0o600)
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.log").write_bytes(b"")
    server = BulkServer(flavour="es9").start()
    busy = [True]
    server.transient_every_attempt = True
    server.transient_when = lambda s: (429 if busy[0] and s["labels"]["shipper_chain"] == "h/b"
                                       and s["event"].get("dataset") != "shipper.attestation" else None)
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
host_name: h
integrity: {{key_file: key, attest_interval: 3}}
sources:
  - {{name: a, type: file, paths: ['{tmp_path / 'a.log'}'], parser: datameer, parse_workers: 0}}
  - {{name: b, type: file, paths: ['{tmp_path / 'b.log'}'], parser: datameer, parse_workers: 0}}
  - {{name: c, type: file, paths: ['{tmp_path / 'c.log'}'], parser: datameer, parse_workers: 0}}
outputs:
  - {{type: elasticsearch, name: es, hosts: ['{server.url}'], index: audit, backoff_base: 0.2, backoff_max: 1}}
""")
    agent = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len({d["labels"]["shipper_chain"] for d in _docs(server)}) < 3:
            time.sleep(0.2)  # the three start attestations stored
        snapshot: list[dict] = []
        n = 0
        for _ in range(6):  # the set-up below depends on the agent's timing: tried again until it is reached
            # Right after one of a's attestations, c's batch is held by the store (503) while b's links are
            # sealed and a attests after them: the next request carries b's links and a's attestation
            # together, and the store takes a's and answers 429 for every attempt of b's.
            attested = _attestations_of_a(_docs(server))
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and _attestations_of_a(_docs(server)) == attested:
                time.sleep(0.05)
            server.fail_requests(100000)
            with open(tmp_path / "c.log", "ab") as f:
                f.write(record(1000 + n) + b"\n")
            time.sleep(1)
            with open(tmp_path / "b.log", "ab") as f:
                f.write(b"".join(record(n + i) + b"\n" for i in range(3)))
            n += 3
            time.sleep(4)  # a attests every 3 s
            server.stop_failing()
            deadline = time.monotonic() + 20
            while not snapshot and time.monotonic() < deadline:
                docs = _docs(server)
                if _b_seen_sealed_beyond_stored(docs):
                    snapshot = docs
                time.sleep(0.2)
            busy[0] = False  # the store takes b's links now
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and sum(d["labels"]["shipper_chain"] == "h/b" and "user" in d
                                                      for d in _docs(server)) < n:
                time.sleep(0.2)
            if snapshot:
                break
            busy[0] = True
        assert snapshot, "no attestation of a that saw b's retried links stored, in 6 tries"
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            _, err = agent.communicate(timeout=120)
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.communicate()
            server.stop()
    assert agent.returncode == 0, err.decode()[-2000:]

    export = tmp_path / "live.jsonl"  # the store read back while b's links were still retried
    export.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in snapshot))
    v = verify(tmp_path, export, output="es")
    assert v.returncode == 0, v.stdout
    assert "cut" not in v.stdout, v.stdout

    final = tmp_path / "final.jsonl"
    docs = _docs(server)
    final.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    v = verify(tmp_path, final, output="es")
    assert v.returncode == 0, v.stdout
    # The acknowledged positions still prove a cut: b's links after its start attestation deleted
    cut = [d for d in docs if not (d["labels"]["shipper_chain"] == "h/b" and d["event"]["sequence"] > 1)]
    final.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in cut))
    v = verify(tmp_path, final, output="es")
    assert v.returncode == 1 and "its head or tail was cut" in v.stdout, v.stdout
