"""`shipper run` (a real process, stdout output) on Azurite while records are appended in rounds to
hourly blobs of several categories, a new hour begins, and the agent is stopped (SIGTERM) and killed
(SIGKILL) and started again: every logId arrives; nothing repeats after a clean stop. And a missing
container and refused credentials in /health and `--once`."""
from __future__ import annotations

import os
import signal
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

from tests.azurite import ACCOUNT, DATABRICKS_ROOT, KEY, hour_blob
from tests.sources.test_azure_blob import record
from tests.support import free_port, wait_until

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
    data = path.read_bytes()
    data = data[: data.rfind(b"\n") + 1]  # a line the running agent is still writing is read next time
    for line in data.splitlines():
        if line.strip():
            out.append(orjson.loads(line)["event"]["id"])
    return out


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


@pytest.mark.slow
def test_kills_at_random_moments_into_elasticsearch_store_each_log_id_once(azurite, tmp_path):
    """kill -9 while blobs grow, each time with a bulk request stored but not yet answered: what is
    read again is sent again with the same `_id` (from logId), so the Elasticsearch peer keeps exactly
    one document per logId and answers the repeats 409."""
    import random
    import threading

    from shipper.ids import vendor_stable_id
    from tests.peers.bulk_server import BulkServer

    stem = uuid.uuid4().hex[:6]
    cats = [f"insights-logs-{stem}{c}" for c in ("accounts", "jobs")]
    es = BulkServer(flavour="es9").start()
    store = es.bulk

    answered: list[int] = []
    stored = threading.Event()

    def slow_answer(body, default_index):  # stored at once, answered late: a kill in between means a replay
        result = store(body, default_index)
        answered.append(1)
        stored.set()
        time.sleep(1.0)
        return result

    es.bulk = slow_answer
    cfg = config(tmp_path, azurite, f"insights-logs-{stem}*")
    text = cfg.read_text().replace("outputs:\n  - type: stdout\n",
                                   f"outputs:\n  - {{type: elasticsearch, hosts: ['{es.url}'], backoff_base: 0.05, "
                                   f"backoff_max: 0.5, flush_interval: 0.1, batch_size: 50, request_timeout: 5}}\n")
    cfg.write_text(text)
    written: list[str] = []
    stop = threading.Event()
    rnd = random.Random(17)

    def writer():
        h = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
        while not stop.is_set():
            cat = rnd.choice(cats)
            recs = [record(category="jobs") for _ in range(rnd.randint(1, 30))]
            written.extend(orjson.loads(r)["properties"]["logId"] for r in recs)
            azurite.append(cat, hour_blob(DATABRICKS_ROOT, h.year, h.month, h.day, h.hour), b"".join(recs))
            time.sleep(rnd.uniform(0, 0.05))

    w = threading.Thread(target=writer)
    w.start()
    try:
        for i in range(4):
            with open(tmp_path / f"err{i}.log", "wb") as fe:
                proc = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=fe)
                try:
                    # After a random number of bulk requests, kill while one is stored and not yet answered.
                    target = len(answered) + rnd.randint(1, 4)
                    wait_until(lambda: len(answered) >= target - 1, 60, f"run {i} shipping")
                    stored.clear()
                    assert stored.wait(60), f"run {i}: a request stored"  # wakes at once: the answer is 1 s away
                finally:
                    proc.kill()
                    proc.wait(30)
    finally:
        stop.set()
        w.join(30)
    es.bulk = store  # the last run catches up at full speed
    proc = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=subprocess.DEVNULL,
                            stderr=open(tmp_path / "err-last.log", "wb"))
    try:
        want = {vendor_stable_id("dbx", i) for i in written}
        wait_until(lambda: set(es.ids()) >= want, 120, "every logId stored")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        es.stop()
    assert len(written) == len(set(written))
    assert sorted(es.ids()) == sorted(want)  # one document per logId, however often it was sent
    assert es.conflicts > 0  # replays did happen (stored, killed before the ack) and were absorbed
