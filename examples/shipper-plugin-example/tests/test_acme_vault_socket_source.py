"""The acme_vault_socket source in a running agent: records a sender pushes while reloads restart the
source reach the archive exactly once, and no send fails (the bound socket is handed over); a stop
takes the socket away; a record longer than max_record_bytes is shipped cut and flagged."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import orjson

SHIPPER = [sys.executable, "-m", "shipper.cli"]


def record(i: int) -> bytes:
    return orjson.dumps({"time": "2026-03-01T10:00:00Z", "request_id": f"r-{i}", "actor": "alice",
                         "operation": "secret.read", "path": f"kv/{i}", "status": "ok"})


def config(folder: Path, tags: list[str]) -> str:
    return f"""\
state_dir: state
shutdown_timeout: 30
sources:
  - {{name: vault, type: acme_vault_socket, parser: acme_vault, path: vault.sock, tags: {orjson.dumps(tags).decode()},
     max_record_bytes: 2048}}
outputs:
  - {{type: acme_archive, path: archive.ndjson, fsync: false}}
"""


def wait(what: str, pred: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"not in {timeout} s: {what}"
        time.sleep(0.05)


def archived(folder: Path) -> list[dict]:
    path = folder / "archive.ndjson"
    data = path.read_bytes() if path.exists() else b""
    return [orjson.loads(line) for line in data.split(b"\n")[:-1]]  # (a batch being appended: whole lines only)


def test_records_sent_while_reloads_restart_the_source_arrive_once_and_no_send_fails(tmp_path):
    conf = tmp_path / "shipper.yaml"
    conf.write_text(config(tmp_path, ["r0"]))
    sock_path = tmp_path / "vault.sock"
    err_path = tmp_path / "agent.err"
    with err_path.open("wb") as err:
        agent = subprocess.Popen(SHIPPER + ["run", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=err)
    sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sender.settimeout(120)  # a full queue blocks the vault's send: it waits, as the real device does
    failures: list[str] = []

    def send(lo: int, hi: int) -> None:
        for i in range(lo, hi):
            try:
                sender.sendto(record(i), str(sock_path))
            except OSError as e:  # the socket gone or refused: the vault would drop the record
                failures.append(f"r-{i}: {e}")

    def reloaded() -> int:
        return err_path.read_text().count("msg=reloaded")

    try:
        wait("the socket bound", sock_path.exists)
        send(0, 500)
        wait("the first records archived", lambda: len(archived(tmp_path)) >= 500)
        for n, tags in ((1, ["r1"]), (2, ["r2"])):
            conf.write_text(config(tmp_path, tags))  # a changed block: the source restarts
            agent.send_signal(signal.SIGHUP)
            thread = threading.Thread(target=send, args=(n * 1000 - 500, n * 1000 + 500))
            thread.start()  # sending on while the reload stops one source object and starts the next
            wait(f"reload {n}", lambda n=n: reloaded() >= n)
            thread.join(180)
            assert not thread.is_alive()
        send(2500, 2600)  # after the second reload: read by the third object
        oversized = orjson.dumps({"request_id": "big", "path": "x" * 5000})
        sender.sendto(oversized, str(sock_path))
        assert not failures, failures[:5]
        wait("every record archived", lambda: len(archived(tmp_path)) >= 2601, 60)  # (lost ones: never)
    finally:
        sender.close()
        agent.send_signal(signal.SIGTERM)
        code = agent.wait(120)
    errors = err_path.read_text()
    assert code == 0, errors
    assert "Traceback" not in errors, errors
    assert reloaded() == 2 and "sources_restarted=vault" in errors, errors
    events = archived(tmp_path)
    ids = [e["event"]["id"] for e in events if "_record_truncated" not in e.get("tags", [])]
    assert sorted(ids, key=lambda s: int(s[2:])) == [f"r-{i}" for i in range(2600)]  # each once
    assert "r2" in events[-2]["tags"]  # the successor of the last reload read them
    # the cut record: shipped, flagged, its first max_record_bytes kept
    [cut] = [e for e in events if "_record_truncated" in e.get("tags", [])]
    assert "_parse_failure" in cut["tags"] and len(cut["event"]["original"]) == 2048
    assert not sock_path.exists()  # a stop takes the socket away: the vault's sends fail, not vanish
