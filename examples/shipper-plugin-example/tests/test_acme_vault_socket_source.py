"""The acme_vault_socket source in a running agent: records a sender pushes while reloads restart the
source reach the archive exactly once, and no send fails (the bound socket is handed over); a stop
takes the socket away; a record longer than max_record_bytes is shipped cut and flagged. With the
archive down, what a reload or a stop cannot deliver in time is named lost, with its count: every
record the sender pushed either arrived or was counted in a warning, never both, never neither."""
from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Callable

import orjson

SHIPPER = [sys.executable, "-m", "shipper.cli"]


def record(i: int) -> bytes:
    return orjson.dumps({"time": "2026-03-01T10:00:00Z", "request_id": f"r-{i}", "actor": "alice",
                         "operation": "secret.read", "path": f"kv/{i}", "status": "ok"})


def config(folder: Path, tags: list[str], shutdown_timeout: float = 30, archive: str = "archive.ndjson",
           in_flight: int = 8, http_port: int | None = None) -> str:
    http = f"http: {{listen: '127.0.0.1:{http_port}'}}\n" if http_port else ""
    return f"""\
state_dir: state
shutdown_timeout: {shutdown_timeout}
{http}sources:
  - {{name: vault, type: acme_vault_socket, parser: acme_vault, path: vault.sock, tags: {orjson.dumps(tags).decode()},
     max_record_bytes: 2048, batch_size: 10}}
outputs:
  - {{name: archive, type: acme_archive, path: {archive}, fsync: false, max_in_flight_batches: {in_flight}}}
"""


def wait(what: str, pred: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"not in {timeout} s: {what}"
        time.sleep(0.05)


def archived(folder: Path, name: str = "archive.ndjson") -> list[dict]:
    path = folder / name
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


# --- the archive down: what cannot be delivered in time is named lost, with its count ---------------

LOST = re.compile(r'msg="[^"]*are lost: this source cannot read them again".*? events=(\d+)')


def named_lost(log: str) -> int:
    """Events the agent warned lost (the warnings' counts added up)."""
    return sum(int(n) for n in LOST.findall(log))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def metric(port: int, sample: str) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return None
    m = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


class Sender:
    """The vault: pushes records r-lo .. r-hi-1 in a thread, blocking while the socket's queue is full
    (as the real device does), and counts those the kernel took (sent) and those refused."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.settimeout(120)
        self.sent: list[str] = []
        self.failures: list[str] = []

    def send(self, lo: int, hi: int) -> None:
        for i in range(lo, hi):
            try:
                self.sock.sendto(record(i), self.path)
            except OSError as e:
                self.failures.append(f"r-{i}: {e}")
            else:
                self.sent.append(f"r-{i}")

    def send_in_thread(self, lo: int, hi: int) -> threading.Thread:
        thread = threading.Thread(target=self.send, args=(lo, hi))
        thread.start()
        return thread


def test_a_reload_with_the_archive_down_names_what_it_takes_back_and_delivers_the_rest(tmp_path):
    """The archive's folder gone, the output retries its first batch while more queue up; a reload
    restarting the source (shutdown_timeout 2 s) takes back the queued batches: the agent cannot read
    pushed records again, so it names them lost with their count. The batch being sent is delivered
    once the folder is back, then the successor reads on from the handed-over socket."""
    port = free_port()
    conf = tmp_path / "shipper.yaml"
    conf.write_text(config(tmp_path, ["r0"], shutdown_timeout=2, archive="out/archive.ndjson", in_flight=4,
                           http_port=port))
    (tmp_path / "out").mkdir()
    err_path = tmp_path / "agent.err"
    with err_path.open("wb") as err:
        agent = subprocess.Popen(SHIPPER + ["run", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=err)
    vault = Sender(tmp_path / "vault.sock")
    out = tmp_path / "out"
    try:
        wait("the socket bound", (tmp_path / "vault.sock").exists)
        vault.send(0, 20)
        wait("the first records archived", lambda: len(archived(out)) >= 20)
        out.rename(tmp_path / "away")  # the archive is down: every append fails (ENOENT), retried
        thread = vault.send_in_thread(20, 220)
        # One batch being sent, three queued behind it: the output's in-flight limit (4) reached.
        wait("the archive's queue full", lambda: metric(port, 'shipper_in_flight_batches{output="archive"}') == 4)
        conf.write_text(config(tmp_path, ["r1"], shutdown_timeout=2, archive="out/archive.ndjson", in_flight=4,
                               http_port=port))
        agent.send_signal(signal.SIGHUP)
        wait("the reload", lambda: "msg=reloaded" in err_path.read_text())
        wait("the loss named", lambda: named_lost(err_path.read_text()) > 0)
        assert metric(port, 'shipper_losses_total{source="vault"}') == 1
        (tmp_path / "away").rename(out)  # back: the batch being sent completes, the successor starts
        thread.join(180)
        assert not thread.is_alive()
        vault.send(220, 250)  # read by the successor
        wait("every record archived or named lost",
             lambda: len(archived(out)) + named_lost(err_path.read_text()) >= 250, 120)
    finally:
        vault.sock.close()
        agent.send_signal(signal.SIGTERM)
        code = agent.wait(120)
    errors = err_path.read_text()
    assert code == 0, errors
    assert "Traceback" not in errors, errors
    assert not vault.failures, vault.failures[:5]
    assert "read again from the checkpoint" not in errors  # (it cannot be: the records were pushed)
    ids = [e["event"]["id"] for e in archived(out)]
    assert len(ids) == len(set(ids))  # none twice
    lost = named_lost(errors)
    assert lost >= 3  # three whole batches were queued untouched when the reload took them back
    assert len(ids) + lost == len(vault.sent) == 250  # every record pushed arrived or was named lost
    assert set(ids) <= set(vault.sent)
    assert "r1" in archived(out)[-1]["tags"]  # the successor read the last ones


def test_a_stop_with_the_archive_down_names_every_record_it_received_lost(tmp_path):
    """The archive's folder missing, a stop (shutdown_timeout 2 s) cannot deliver: the records the
    vault pushed, those the source had emitted and those still queued in the socket, are all named
    lost; the agent does not claim it will read them again."""
    conf = tmp_path / "shipper.yaml"
    conf.write_text(config(tmp_path, ["r0"], shutdown_timeout=2, archive="out/archive.ndjson", in_flight=50))
    err_path = tmp_path / "agent.err"
    with err_path.open("wb") as err:
        agent = subprocess.Popen(SHIPPER + ["run", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=err)
    vault = Sender(tmp_path / "vault.sock")
    try:
        wait("the socket bound", (tmp_path / "vault.sock").exists)
        vault.send(0, 25)
        wait("the archive failing", lambda: "cannot append" in err_path.read_text())
    finally:
        vault.sock.close()
        agent.send_signal(signal.SIGTERM)
        code = agent.wait(120)
    errors = err_path.read_text()
    assert code == 1, errors  # a stop that could not deliver fails (systemd shows it)
    assert "Traceback" not in errors, errors
    assert len(vault.sent) == 25 and not vault.failures
    assert named_lost(errors) == 25, errors
    assert "they are read again next start" not in errors  # (they cannot be: the records were pushed)
    assert not (tmp_path / "vault.sock").exists()
    assert not (tmp_path / "out").exists()  # nothing was delivered
