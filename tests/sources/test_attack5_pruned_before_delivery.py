"""Black-box attack 5: Puppet Enterprise's activity service prunes its oldest commits while the output is
down. The source read them, the output never acknowledged them, and the stop says "not delivered (read
again next run)". By the next start they are gone from the API. For files, data deleted before it could
be delivered is "loud: a warning names the file and the bytes lost" (README); docs/operations.md, http_poll:
"commits stamped before the oldest remembered one … are not read: a warning says how many, and
shipper_losses counts it". Found: the next run ships what is left and says nothing of the pruned commits
it had read: with no checkpoint yet, 3 of 10 lost without a word; with 5 shipped before, 2 of 10 lost and
the only warning says the history moved and the remembered commits are skipped; "0 bytes lost", exit 0."""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.peers.forward_server import ForwardServer
from tests.peers.puppet_activity_api import PuppetActivityAPI
from tests.support import wait_settled, wait_until

pytestmark = pytest.mark.slow

SHIPPER = [sys.executable, "-m", "shipper.cli"]


def run_once(cfg: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(SHIPPER + ["run", "--once", *extra, "-c", str(cfg)], capture_output=True, text=True,
                          timeout=300)


def agent_config(tmp_path, api, sock, page_size: int):
    """One http_poll source on the Puppet API's rbac service (a token file), one Fluentd output on a socket."""
    (tmp_path / "token").write_text("good-token\n")
    (tmp_path / "token").chmod(0o600)
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
sources:
  - {{name: pe, type: http_poll, parser: puppet_enterprise, url: '{api.url("v2")}', token_file: {tmp_path / 'token'},
      services: [rbac], page_size: {page_size}, poll_interval: 0.5}}
outputs:
  - {{type: fluentd, socket: '{sock}'}}
""")
    return cfg


@pytest.mark.parametrize("shipped_before, pruned", [(0, 3), (5, 7)], ids=["no_checkpoint_yet", "after_5_shipped"])
def test_commits_pruned_before_they_were_delivered_are_named_as_lost(tmp_path, shipped_before, pruned):
    sock = tmp_path / "fluentd.sock"
    stored: list[str] = []
    with PuppetActivityAPI(tmp_path, tls=False) as api:
        cfg = agent_config(tmp_path, api, sock, page_size=10)
        for i in range(shipped_before):
            api.add("rbac", [f"change {i}"])
        if shipped_before:
            peer = ForwardServer(unix_path=str(sock), mode="unix").start()
            try:
                assert run_once(cfg).returncode == 0
            finally:
                peer.stop()
            stored += [r[2]["message"] for r in peer.records]
        for i in range(shipped_before, 10):
            api.add("rbac", [f"change {i}"])
        down = run_once(cfg, "--timeout", "3")  # Fluentd down: read, not delivered, "read again next run"
        assert down.returncode == 1 and "read again next run" in down.stderr, down.stderr[-2000:]
        api.prune_oldest("rbac", pruned)  # the activity database's retention deletes its oldest commits
        peer = ForwardServer(unix_path=str(sock), mode="unix").start()
        try:
            last = run_once(cfg)
        finally:
            peer.stop()
        stored += [r[2]["message"] for r in peer.records]
    missing = sorted(set(f"change {i}" for i in range(10)) - set(stored))
    assert missing, "the pruned commits were delivered after all: nothing to name"
    said = [line for line in last.stderr.splitlines()
            if ("level=warning" in line or "level=error" in line) and ("lost" in line or "loss" in line)]
    assert said, f"{len(missing)} commits read but never delivered are gone and nothing names the loss: " \
                 f"{missing}; stderr: {last.stderr[-1500:]}"
    assert any(f"{len(missing)} commit(s)" in line for line in said), said  # how many, not only that


def test_commits_pruned_while_the_agent_waits_on_its_output_are_named_as_lost(tmp_path):
    sock = tmp_path / "fluentd.sock"
    with PuppetActivityAPI(tmp_path, tls=False) as api:
        for i in range(5):
            api.add("rbac", [f"change {i}"])
        (tmp_path / "token").write_text("good-token\n")
        (tmp_path / "token").chmod(0o600)
        cfg = tmp_path / "shipper.yaml"
        cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
shutdown_timeout: 3
sources:
  - {{name: pe, type: http_poll, parser: puppet_enterprise, url: '{api.url("v2")}', token_file: {tmp_path / 'token'},
      services: [rbac], page_size: 10, poll_interval: 0.3, batch_size: 10}}
outputs:
  - {{type: fluentd, socket: '{sock}', batch_size: 10, max_in_flight_batches: 1}}
""")
        peer = ForwardServer(unix_path=str(sock), mode="unix").start()
        log = tmp_path / "agent.log"
        with open(log, "wb") as err:
            agent = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=err)
        delivered: list[str] = []
        try:
            wait_until(lambda: len(peer.records) >= 5, 90, "the first 5 commits")
            peer.stop()  # Fluentd goes down while 500 more commits are made
            delivered += [r[2]["message"] for r in peer.records]
            for i in range(5, 505):
                api.add("rbac", [f"change {i}"])
            wait_until(lambda: "fluentd delivery failed" in log.read_text(), 90, "the agent to be held up by Fluentd")
            api.prune_oldest("rbac", 300)  # retention deletes the 300 oldest, most of them not read yet
            peer = ForwardServer(unix_path=str(sock), mode="unix").start()
            wait_settled(lambda: len(peer.records), 120, "deliveries to settle after the pruning")
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(60)
            peer.stop()
        delivered += [r[2]["message"] for r in peer.records]
    missing = set(f"change {i}" for i in range(505)) - set(delivered)
    assert missing, "every commit was delivered: nothing was lost"
    said = [line for line in log.read_text().splitlines()
            if ("level=warning" in line or "level=error" in line) and ("lost" in line or "loss" in line)]
    assert said, f"{len(missing)} commits pruned before they were read and nothing names the loss: " \
                 f"{log.read_text()[-1500:]}"



def test_commits_read_while_the_output_was_down_and_still_listed_are_delivered_once_and_no_loss_is_said(tmp_path):
    """The other side: nothing pruned, the next run reads them again, delivers each once, warns of no loss and
    forgets what it noted of them (no read notes left in the state)."""
    import sqlite3

    sock = tmp_path / "fluentd.sock"
    with PuppetActivityAPI(tmp_path, tls=False) as api:
        cfg = agent_config(tmp_path, api, sock, page_size=4)
        for i in range(10):
            api.add("rbac", [f"change {i}"])
        down = run_once(cfg, "--timeout", "3")
        assert down.returncode == 1 and "read again next run" in down.stderr, down.stderr[-2000:]
        peer = ForwardServer(unix_path=str(sock), mode="unix").start()
        try:
            last = run_once(cfg)
        finally:
            peer.stop()
    assert last.returncode == 0, last.stderr[-2000:]
    assert sorted(r[2]["message"] for r in peer.records) == sorted(f"change {i}" for i in range(10))
    assert not [line for line in last.stderr.splitlines() if ("level=warning" in line or "level=error" in line)
                and ("lost" in line or "loss" in line)], last.stderr[-2000:]
    db = sqlite3.connect(tmp_path / "state" / "checkpoints.sqlite")
    try:
        keys = [k for (k,) in db.execute("SELECT key FROM checkpoints WHERE source='pe'")]
    finally:
        db.close()
    assert "service:rbac" in keys and not [k for k in keys if k.startswith("read:")], keys
