"""`shipper run` (a real process, stdout output) on Azurite while records are appended in rounds to
hourly blobs of several categories, a new hour begins, and the agent is stopped (SIGTERM) and killed
(SIGKILL) and started again: every logId arrives; nothing repeats after a clean stop. And a missing
container and refused credentials in /health and `--once`."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from tests.azurite import ACCOUNT, DATABRICKS_ROOT, KEY, azurite, hour_blob  # noqa: F401  (fixture)
from tests.support import wait_until
from tests.test_azure_blob import record

SHIPPER = [sys.executable, "-m", "shipper.cli"]


def config(tmp: Path, az, containers: str, port: int | None = None, **extra) -> Path:
    (tmp / "key").write_text(KEY + "\n")
    (tmp / "key").chmod(0o600)
    lines = [f"state_dir: {tmp / 'state'}"]
    if port:
        lines.append(f'http: {{listen: "127.0.0.1:{port}"}}')
    lines += ["sources:", "  - name: dbx", "    type: azure_blob", "    parser: databricks",
              f"    account_url: {az.url}", f'    containers: ["{containers}"]', f"    account_name: {ACCOUNT}",
              f"    account_key_file: {tmp / 'key'}", "    poll_interval: 0.3", "    batch_size: 7",
              "    backoff_initial: 0.1", "    backoff_max: 0.5"]
    lines += [f"    {k}: {v}" for k, v in extra.items()]
    lines += ["outputs:", "  - type: stdout"]
    cfg = tmp / "shipper.yaml"
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


def ids_in(path: Path) -> list[str]:
    out = []
    for line in path.read_bytes().splitlines():
        if line.strip():
            out.append(orjson.loads(line)["event"]["id"])
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_rounds_of_appends_with_stops_kills_and_a_new_hour(azurite, tmp_path):
    stem = uuid.uuid4().hex[:6]
    cats = [f"insights-logs-{stem}{c}" for c in ("accounts", "clusters", "jobs")]
    cfg = config(tmp_path, azurite, f"insights-logs-{stem}*")
    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    written: list[str] = []

    def round_(n: int, h: datetime) -> None:
        for cat in cats:
            recs = [record(category=cat[len("insights-logs-") + 6:]) for _ in range(n)]
            written.extend(orjson.loads(r)["properties"]["logId"] for r in recs)
            azurite.append(cat, hour_blob(DATABRICKS_ROOT, h.year, h.month, h.day, h.hour), b"".join(recs))

    runs: list[tuple[Path, str]] = []  # (stdout file, how the run ended)
    round_(20, hour)
    for i, how in enumerate(["term", "kill", "term", "kill", "term", "last"]):
        out = tmp_path / f"out{i}.ndjson"
        with open(out, "wb") as fo, open(tmp_path / f"err{i}.log", "wb") as fe:
            proc = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=fo, stderr=fe,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
            try:
                if i == 2:
                    hour += timedelta(hours=1)  # a new hour begins; late records still land in the previous one
                    round_(5, hour - timedelta(hours=1))
                round_(15, hour)
                seen = lambda: set().union(*(ids_in(p) for p, _ in runs), ids_in(out))  # noqa: E731
                wait_until(lambda: set(written) <= seen(), 120, f"run {i}: every record written so far")
                round_(3, hour)  # more while it runs: in flight or not yet read when it stops
                time.sleep(0.2)
                if how == "kill":
                    proc.kill()
                    proc.wait(30)
                elif how == "term":
                    proc.send_signal(signal.SIGTERM)
                    assert proc.wait(60) == 0, (tmp_path / f"err{i}.log").read_text()[-3000:]
                else:
                    wait_until(lambda: set(written) <= seen(), 120, "the last records")
                    proc.send_signal(signal.SIGTERM)
                    assert proc.wait(60) == 0
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(30)
        runs.append((out, how))

    everything = Counter(i for p, _ in runs for i in ids_in(p))
    assert set(everything) == set(written), f"missing: {set(written) - set(everything)}"
    # After a clean stop the next run starts exactly where it ended: no repeat across that boundary.
    for (prev, how), (nxt, _) in zip(runs, runs[1:]):
        if how == "term":
            assert not set(ids_in(prev)) & set(ids_in(nxt)), f"{prev.name} → {nxt.name}: repeated after a clean stop"
    # Within a run nothing repeats; only a kill may make the next run repeat what was not yet checkpointed.
    for p, _ in runs:
        c = Counter(ids_in(p))
        assert not [k for k, v in c.items() if v > 1], p.name


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, orjson.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, orjson.loads(e.read())


@pytest.mark.slow
def test_missing_container_in_health_and_once_exits_naming_it(azurite, tmp_path):
    name = f"insights-logs-missing{uuid.uuid4().hex[:6]}"
    port = free_port()
    cfg = config(tmp_path, azurite, name, port=port)
    r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    assert r.returncode == 1 and name in r.stderr.decode() and b"container not found" in r.stderr
    with open(tmp_path / "err.log", "wb") as fe:
        proc = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=fe)
        try:
            def failing():
                try:
                    code, doc = get(f"http://127.0.0.1:{port}/health")
                except OSError:
                    return None
                return doc.get("sources_failing", {}).get("dbx")
            wait_until(failing, 60, "/health naming the failing source")
            assert "container not found" in str(failing()) and name in str(failing())
            azurite.container(name)
            wait_until(lambda: failing() is None, 60, "/health clear once the container exists")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    err = (tmp_path / "err.log").read_text()
    assert err.count("container not found") >= 1 and KEY not in err


@pytest.mark.slow
def test_refused_key_once_exits_1_without_the_key(azurite, tmp_path):
    cfg = config(tmp_path, azurite, "insights-logs-*")
    wrong = "bm90LXRoZS1rZXk=" * 5
    (tmp_path / "key").write_text(wrong + "\n")
    t0 = time.monotonic()
    r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    err = r.stderr.decode()
    assert r.returncode == 1 and "403" in err and "credentials were refused" in err, err[-2000:]
    assert wrong not in err and wrong not in r.stdout.decode()
    assert time.monotonic() - t0 < 100  # gave up after a few attempts, no hang
