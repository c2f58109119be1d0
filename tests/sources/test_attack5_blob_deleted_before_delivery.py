"""Black-box attack 5: the storage account deletes an hourly blob (a lifecycle-management rule, the
diagnostic setting's retention) that the agent had read while its output was down. The stop said
"not delivered (read again next run)"; by the next run the blob is gone. docs/operations.md promises
for a blob deleted and re-created that "if the old one was not read to its end, a warning says so and
`shipper_losses` counts it"; README: "Loss is loud". Found: the next run reads nothing and says
nothing: 5 of 5 records lost without a word for a blob never delivered before, and 5 of 10 for a
blob whose first 5 records were delivered (its checkpoint names it); "0 bytes lost", exit 0."""
from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.azurite import ACCOUNT, DATABRICKS_ROOT, KEY, hour_blob
from tests.peers.forward_server import ForwardServer
from tests.sources.test_azure_blob import record
from tests.support import wait_settled, wait_until

pytestmark = pytest.mark.slow

SHIPPER = [sys.executable, "-m", "shipper.cli"]


def run_once(cfg: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(SHIPPER + ["run", "--once", *extra, "-c", str(cfg)], capture_output=True, text=True,
                          timeout=300)


def agent_config(tmp_path, azurite, container: str, sock, batch_size: int | None = None):
    """One azure_blob source on Azurite's container (a key file), one Fluentd output on a socket."""
    (tmp_path / "key").write_text(KEY + "\n")
    (tmp_path / "key").chmod(0o600)
    batch = f", batch_size: {batch_size}" if batch_size else ""
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
sources:
  - {{name: dbx, type: azure_blob, parser: databricks, account_url: '{azurite.url}', containers: ['{container}'],
      account_name: {ACCOUNT}, account_key_file: {tmp_path / 'key'}, poll_interval: 0.3{batch}}}
outputs:
  - {{type: fluentd, socket: '{sock}'}}
""")
    return cfg


@pytest.mark.parametrize("delivered_before", [0, 5], ids=["never_delivered", "half_delivered"])
def test_a_blob_deleted_before_its_records_were_delivered_is_named_as_lost(azurite, tmp_path, delivered_before):
    container = f"insights-logs-gone{uuid.uuid4().hex[:8]}"
    now = datetime.now(timezone.utc)
    name = hour_blob(DATABRICKS_ROOT, now.year, now.month, now.day, now.hour)
    sock = tmp_path / "fluentd.sock"
    cfg = agent_config(tmp_path, azurite, container, sock)
    delivered = 0
    if delivered_before:
        azurite.append(container, name, b"".join(record() for _ in range(delivered_before)))
        peer = ForwardServer(unix_path=str(sock), mode="unix").start()
        try:
            assert run_once(cfg).returncode == 0
        finally:
            peer.stop()
        delivered = len(peer.records)
        assert delivered == delivered_before
    azurite.append(container, name, b"".join(record() for _ in range(5)))
    down = run_once(cfg, "--timeout", "3")  # Fluentd down: read, not delivered, "read again next run"
    assert down.returncode == 1 and "read again next run" in down.stderr, down.stderr[-2000:]
    azurite.container(container).get_blob_client(name).delete_blob()
    peer = ForwardServer(unix_path=str(sock), mode="unix").start()
    try:
        last = run_once(cfg)
    finally:
        peer.stop()
    assert delivered + len(peer.records) < delivered_before + 5, "the deleted records were delivered after all"
    said = [line for line in last.stderr.splitlines()
            if ("level=warning" in line or "level=error" in line) and ("lost" in line or "loss" in line)]
    assert said, f"records read but never delivered are gone with their blob and nothing names the loss: " \
                 f"{last.stderr[-1500:]}"
    assert any("5 line(s)" in line and name in line for line in said), said  # which blob, how many


def test_a_blob_deleted_while_the_agent_waits_on_its_output_is_named_as_lost(azurite, tmp_path):
    container = f"insights-logs-gone{uuid.uuid4().hex[:8]}"
    now = datetime.now(timezone.utc)
    name = hour_blob(DATABRICKS_ROOT, now.year, now.month, now.day, now.hour)
    (tmp_path / "key").write_text(KEY + "\n")
    (tmp_path / "key").chmod(0o600)
    sock = tmp_path / "fluentd.sock"
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
shutdown_timeout: 3
sources:
  - {{name: dbx, type: azure_blob, parser: databricks, account_url: '{azurite.url}', containers: ['{container}'],
      account_name: {ACCOUNT}, account_key_file: {tmp_path / 'key'}, poll_interval: 0.3, batch_size: 10, read_ahead: 1}}
outputs:
  - {{type: fluentd, socket: '{sock}', batch_size: 10, max_in_flight_batches: 1}}
""")
    azurite.append(container, name, b"".join(record() for _ in range(5)))
    peer = ForwardServer(unix_path=str(sock), mode="unix").start()
    log = tmp_path / "agent.log"
    with open(log, "wb") as err:
        agent = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=err)
    delivered: list = []
    try:
        wait_until(lambda: len(peer.records) >= 5, 90, "the first 5 records")
        peer.stop()  # Fluentd goes down; 6 MB more arrive, more than the agent reads while it waits
        delivered += peer.records
        azurite.append(container, name, b"".join(record(pad=2000) for _ in range(3000)))
        wait_until(lambda: "fluentd delivery failed" in log.read_text(), 90, "the agent to be held up by Fluentd")
        azurite.container(container).get_blob_client(name).delete_blob()
        peer = ForwardServer(unix_path=str(sock), mode="unix").start()
        wait_settled(lambda: len(peer.records), 120, "deliveries to settle after the blob was deleted")
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(60)
        peer.stop()
    delivered += peer.records
    assert len(delivered) < 3005, "every record was delivered: nothing was lost"
    said = [line for line in log.read_text().splitlines()
            if ("level=warning" in line or "level=error" in line) and ("lost" in line or "loss" in line)]
    assert said, f"{3005 - len(delivered)} records of a deleted blob never delivered and nothing names the loss: " \
                 f"{log.read_text()[-1500:]}"



def test_lines_read_while_the_output_was_down_from_a_blob_still_there_are_delivered_once_and_no_loss_is_said(
        azurite, tmp_path):
    """The other side: the blob stays, the next run reads its lines again, delivers each once, warns of no
    loss and forgets what it noted of them (no read notes left in the state)."""
    import sqlite3

    container = f"insights-logs-kept{uuid.uuid4().hex[:8]}"
    now = datetime.now(timezone.utc)
    name = hour_blob(DATABRICKS_ROOT, now.year, now.month, now.day, now.hour)
    sock = tmp_path / "fluentd.sock"
    cfg = agent_config(tmp_path, azurite, container, sock, batch_size=2)
    ids = [str(uuid.uuid4()) for _ in range(5)]
    azurite.append(container, name, b"".join(record(log_id=i) for i in ids))
    down = run_once(cfg, "--timeout", "3")
    assert down.returncode == 1 and "read again next run" in down.stderr, down.stderr[-2000:]
    peer = ForwardServer(unix_path=str(sock), mode="unix").start()
    try:
        last = run_once(cfg)
    finally:
        peer.stop()
    assert last.returncode == 0, last.stderr[-2000:]
    assert sorted(r[2]["event"]["id"] for r in peer.records) == sorted(ids)
    assert not [line for line in last.stderr.splitlines() if ("level=warning" in line or "level=error" in line)
                and ("lost" in line or "loss" in line)], last.stderr[-2000:]
    db = sqlite3.connect(tmp_path / "state" / "checkpoints.sqlite")
    try:
        keys = [k for (k,) in db.execute("SELECT key FROM checkpoints WHERE source='dbx'")]
    finally:
        db.close()
    assert any(k.startswith("blob:") for k in keys) and not [k for k in keys if k.startswith("read:")], keys
