"""The head/tail-cut rule of `shipper verify` (issue 18) on a live store: each attestation lists the other
chains its output carries, and verify demands their links up to where the attestation saw them. It used the
sequence each had *sealed*: a batch the store was still answering 429 for (sealed, retried, not stored yet)
made an honest store read back at that moment "NOT VERIFIED" (its tail was cut). Attestations now carry
each chain's acknowledged sequence, what the store provably holds, and verify judges by that. Against the
strict bulk peer answering 429 for every attempt of source b's events until the test lets them through."""
from __future__ import annotations

import re
import signal
import subprocess
import threading
import urllib.request

import orjson
import pytest

from tests.core.test_integrity import KEY, SHIPPER, record, verify
from tests.peers.bulk_server import BulkServer
from tests.support import wait_until
from tests.tail.attack_agent import free_port

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


def _docs(server: BulkServer) -> list[dict]:
    with server._lock:
        return [orjson.loads(orjson.dumps(d)) for d in server.docs.values()]


def _in_flight(http_port: int) -> tuple[float, float]:
    """The output's (batches, bytes) queued or being sent, from the agent's /metrics (attestations: 0 bytes)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return (-1.0, -1.0)  # not listening yet
    found = [re.search(rf'^shipper_in_flight_{what}\{{output="es"\}} (\S+)$', text, re.M) for what in ("batches", "bytes")]
    return (float(found[0].group(1)) if found[0] else -1.0, float(found[1].group(1)) if found[1] else -1.0)


def test_links_retried_after_a_429_are_not_called_cut_from_a_live_store(tmp_path):
    (tmp_path / "key").write_text(KEY + "\n")
    (tmp_path / "key").chmod(0o600)
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.log").write_bytes(b"")
    server = BulkServer(flavour="es9").start()
    busy = [True]  # b's links answered 429 at every attempt
    holding = [True]  # c's event answered 503 at every attempt: the output sends nothing else meanwhile
    c_held = threading.Event()

    def transient(s: dict) -> int | None:
        if s["event"].get("dataset") == "shipper.attestation":
            return None
        if busy[0] and s["labels"]["shipper_chain"] == "h/b":
            return 429
        if holding[0] and s["labels"]["shipper_chain"] == "h/c":
            c_held.set()
            return 503
        return None

    server.transient_every_attempt = True
    server.transient_when = transient
    http_port = free_port()
    cfg = tmp_path / "shipper.yaml"

    def write_config(attest_interval: int) -> None:
        cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
host_name: h
http: {{listen: "127.0.0.1:{http_port}"}}
integrity: {{key_file: key, attest_interval: {attest_interval}}}
sources:
  - {{name: a, type: file, paths: ['{tmp_path / 'a.log'}'], parser: datameer, parse_workers: 0}}
  - {{name: b, type: file, paths: ['{tmp_path / 'b.log'}'], parser: datameer, parse_workers: 0}}
  - {{name: c, type: file, paths: ['{tmp_path / 'c.log'}'], parser: datameer, parse_workers: 0}}
outputs:
  - {{type: elasticsearch, name: es, hosts: ['{server.url}'], index: audit, backoff_base: 0.2, backoff_max: 1}}
""")

    # No attestation by the clock until the reload below asks for them: the test decides when a attests.
    write_config(3600)
    agent = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: len({d["labels"]["shipper_chain"] for d in _docs(server)}) == 3
                   and _in_flight(http_port)[0] == 0, 120, "the three start attestations stored")
        # The output is held on c's event (503 at every attempt), so what follows queues behind it: b's
        # links, then an attestation of a sealed after them. Released, the output sends both in one
        # request; the store takes a's attestation and answers 429 for every attempt of b's links.
        c_line = record(1000) + b"\n"
        with open(tmp_path / "c.log", "ab") as f:
            f.write(c_line)
        wait_until(c_held.is_set, 120, "c's event sent and held (503)")
        n = 3
        b_lines = b"".join(record(i) + b"\n" for i in range(n))
        with open(tmp_path / "b.log", "ab") as f:
            f.write(b_lines)
        wait_until(lambda: _in_flight(http_port)[1] == len(c_line) + len(b_lines), 120,
                   "b's links sealed and queued behind c's event")
        queued = _in_flight(http_port)[0]
        # a attests now (b and c do not while their batches are in flight); one at a time: the attestation
        # waits for its own acknowledgement, so this is the only one until b's links are stored.
        write_config(1)
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: _in_flight(http_port)[0] > queued, 120, "a's attestation queued behind b's links")
        holding[0] = False
        snapshot: list[dict] = []

        def seen() -> bool:
            docs = _docs(server)
            if _b_seen_sealed_beyond_stored(docs):
                snapshot.extend(docs)
            return bool(snapshot)

        wait_until(seen, 120, "an attestation of a that saw b's retried links stored")
        busy[0] = False  # the store takes b's links now
        wait_until(lambda: sum(d["labels"]["shipper_chain"] == "h/b" and "user" in d for d in _docs(server)) == n,
                   120, "b's links stored")
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
