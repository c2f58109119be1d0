"""Permanent refusals against transient trouble, end to end with the real `shipper` command and the
strict Forward peer: a wrong shared key is logged once, shown in /health and `shipper status`, and
not counted as progress; `run --once` ends (refusal or --timeout) with exit 1 naming what was not
delivered; `shipper run` exits 1 when a stop leaves batches undelivered; `check --outputs` probes."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.peers.forward_server import ForwardServer
from tests.support import free_port, wait

SHIPPER = [sys.executable, "-m", "shipper.cli"]
KEY = "the-real-key"


def write_lines(path: Path, start: int, n: int) -> None:
    with open(path, "ab") as f:
        for i in range(start, start + n):
            f.write(json.dumps({"@timestamp": "2026-01-02T03:04:05Z", "message": f"m{i}", "n": i}).encode() + b"\n")


def config(tmp_path: Path, fluentd: str, extra: str = "") -> Path:
    for name, value in (("key", KEY), ("wrong", "not-" + KEY)):
        (tmp_path / name).write_text(value + "\n")
        (tmp_path / name).chmod(0o600)
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
shutdown_timeout: 2
{extra}
sources:
  - {{name: audit, type: file, paths: ['{tmp_path / "audit.log"}'], parser: json, poll_interval: 0.2}}
outputs:
  - {{type: fluentd, {fluentd}, backoff_base: 0.05, backoff_max: 0.3, flush_interval: 0.1, ack_timeout: 2}}
""")
    return cfg


def ns(peer) -> list[int]:
    return [r[2]["generic"]["n"] for r in peer.records]


def test_once_with_a_wrong_key_ends_at_once_naming_the_refusal_and_keeps_the_data(tmp_path):
    peer = ForwardServer(shared_key=KEY).start()
    try:
        write_lines(tmp_path / "audit.log", 0, 50)
        cfg = config(tmp_path, f"port: {peer.port}, shared_key_file: wrong")
        t0 = time.monotonic()
        r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
        err = r.stderr.decode()
        assert r.returncode == 1, err
        assert time.monotonic() - t0 < 60, "a refusal does not wait for the 300 s deadline"
        assert "shared_key mismatch" in err and "output fluentd:" in err and "not delivered" in err, err
        assert KEY not in err
        assert err.count("output refused by the server") == 1, err
        assert peer.records == []
        # Nothing was checkpointed: with the right key everything goes, once.
        cfg = config(tmp_path, f"port: {peer.port}, shared_key_file: key")
        r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
        assert r.returncode == 0, r.stderr.decode()
        assert ns(peer) == list(range(50))
    finally:
        peer.stop()


def test_once_with_the_server_down_gives_up_at_its_timeout(tmp_path):
    write_lines(tmp_path / "audit.log", 0, 10)
    cfg = config(tmp_path, f"port: {free_port()}")
    r = subprocess.run(SHIPPER + ["run", "--once", "--timeout", "3", "-c", str(cfg)], capture_output=True, timeout=120)
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert "timeout after 3s (--timeout)" in err and re.search(r"output fluentd: [1-9]\d* batches", err), err
    assert "Connection refused" in err, "the transient reason is named too"
    r = subprocess.run(SHIPPER + ["run", "--timeout", "3", "-c", str(cfg)], capture_output=True, timeout=60)
    assert r.returncode == 2 and "--timeout goes with --once" in r.stderr.decode()


def test_daemon_stop_with_undelivered_batches_exits_1_and_a_clean_stop_exits_0(tmp_path):
    write_lines(tmp_path / "audit.log", 0, 10)
    port = free_port()
    cfg = config(tmp_path, f"port: {port}")
    log = tmp_path / "agent.log"
    with open(log, "wb") as err:
        agent = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=err)
        # It has read the lines and cannot deliver them (nothing listens).
        assert wait(lambda: "fluentd delivery failed" in log.read_text(), 60), log.read_text()
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 1, log.read_text()
    assert "stopped with batches undelivered" in log.read_text()
    assert re.search(r"output fluentd: [1-9]\d* batches", log.read_text()), log.read_text()
    peer = ForwardServer(port=port).start()
    try:
        agent = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait(lambda: len(peer.records) >= 10, 60)
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 0
        assert ns(peer) == list(range(10))
    finally:
        peer.stop()


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
    except OSError:
        return 0, {}


def test_refusal_in_health_status_and_watchdog_then_a_reload_with_the_right_key(tmp_path):
    peer = ForwardServer(shared_key=KEY).start()
    http = free_port()
    write_lines(tmp_path / "audit.log", 0, 20)
    cfg = config(tmp_path, f"port: {peer.port}, shared_key_file: wrong", extra=f'http: {{listen: "127.0.0.1:{http}"}}')
    log = open(tmp_path / "agent.log", "wb")
    env = dict(os.environ, SHIPPER_STALL_SECONDS="2")
    agent = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=log, env=env)
    try:
        url = f"http://127.0.0.1:{http}/health"
        assert wait(lambda: "shared_key mismatch" in (get(url)[1].get("outputs", {}).get("fluentd", {}).get("last_error") or ""), 60)
        code, doc = get(url)
        assert code == 503 and doc["outputs"]["fluentd"]["healthy"] is False
        assert "refused by the server" in doc["reason"] and KEY not in json.dumps(doc)
        # The refusal is not progress: the watchdog finding shows up (SHIPPER_STALL_SECONDS=2).
        assert wait(lambda: any("fluentd" in s and "refused: " in s and "shared_key mismatch" in s
                                for s in get(url)[1].get("stalled", [])), 30), get(url)
        st = subprocess.run(SHIPPER + ["status", "-c", str(cfg)], capture_output=True, timeout=60).stdout.decode()
        assert "UNHEALTHY" in st and "shared_key mismatch" in st, st
        # The operator fixes the key and reloads: the replaced output delivers everything once.
        cfg.write_text(cfg.read_text().replace("shared_key_file: wrong", "shared_key_file: key"))
        agent.send_signal(signal.SIGHUP)
        assert wait(lambda: len(peer.records) >= 20, 60)
        assert wait(lambda: get(url)[0] == 200, 30), get(url)
        assert ns(peer) == list(range(20))
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(60)
        log.close()
        peer.stop()
    text = (tmp_path / "agent.log").read_text()
    assert text.count("output refused by the server") == 1, text
    assert KEY not in text


@pytest.mark.parametrize("fix", ["key_file_fixed_in_place", "config_names_the_right_file"])
def test_a_reload_after_a_refusal_delivers_at_once(tmp_path, fix):
    """The refusal's backoff is 30 s and shutdown_timeout here 120 s: a SIGHUP after fixing the key
    must not wait for either. Fixed in place, the output is kept and tries again at once, reading the
    file again; named in the config, the output is replaced and the batches the refused one held are
    not waited for. Either way every line goes once."""
    peer = ForwardServer(shared_key=KEY).start()
    write_lines(tmp_path / "audit.log", 0, 20)
    cfg = config(tmp_path, f"port: {peer.port}, shared_key_file: wrong", extra="")
    cfg.write_text(cfg.read_text().replace("shutdown_timeout: 2", "shutdown_timeout: 120"))
    log = open(tmp_path / "agent.log", "wb")
    agent = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=log)
    try:
        assert wait(lambda: peer.handshake_failures == ["shared_key mismatch"], 60)
        assert wait(lambda: "output refused by the server" in (tmp_path / "agent.log").read_text(), 30)
        if fix == "key_file_fixed_in_place":
            (tmp_path / "wrong").write_text(KEY + "\n")
        else:
            cfg.write_text(cfg.read_text().replace("shared_key_file: wrong", "shared_key_file: key"))
        agent.send_signal(signal.SIGHUP)
        hup = time.monotonic()
        assert wait(lambda: len(peer.records) >= 20, 60)
        # Well under the 30 s refusal backoff, and 120 s shutdown_timeout, the old code waited for.
        assert time.monotonic() - hup < 20, f"delivered {time.monotonic() - hup:.0f} s after the reload"
        assert sorted(ns(peer)) == list(range(20)) and peer.handshake_failures == ["shared_key mismatch"]
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(60)
        log.close()
        peer.stop()
    assert "not delivered in time" not in (tmp_path / "agent.log").read_text()


def test_check_outputs_probes_each_output(tmp_path):
    from tests.peers.bulk_server import BulkServer

    peer = ForwardServer(shared_key=KEY, hostname="agg-7").start()
    es = BulkServer(flavour="opensearch").start()
    try:
        cfg = config(tmp_path, f"port: {peer.port}, shared_key_file: key")
        cfg.write_text(cfg.read_text() + f"  - {{type: stdout}}\n  - {{type: elasticsearch, hosts: ['{es.url}']}}\n")
        r = subprocess.run(SHIPPER + ["check", "--outputs", "-c", str(cfg)], capture_output=True, timeout=60)
        out = r.stdout.decode()
        assert r.returncode == 0, out + r.stderr.decode()
        assert f"127.0.0.1:{peer.port}: connected, shared-key handshake passed (server 'agg-7')" in out, out
        assert "stdout is " in out and "open for writing" in out
        assert "  server: " in out and "opensearch" in out.lower(), "a probe's mapping shown as key: value lines"
        cfg.write_text(cfg.read_text().replace("shared_key_file: key", "shared_key_file: wrong"))
        r = subprocess.run(SHIPPER + ["check", "--outputs", "-c", str(cfg)], capture_output=True, timeout=60)
        out = r.stdout.decode()
        assert r.returncode == 1 and "FAILED: the server refused the handshake: shared_key mismatch" in out, out
        assert peer.records == []
        r = subprocess.run(SHIPPER + ["check", "-c", str(cfg)], capture_output=True, timeout=60)
        assert r.returncode == 0 and "FAILED" not in r.stdout.decode(), "without --outputs nothing is probed"
    finally:
        peer.stop()
        es.stop()
