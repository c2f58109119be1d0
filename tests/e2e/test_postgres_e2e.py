"""`shipper run` (a real process, stdout output) on a real PostgreSQL while concurrent transactions
insert user_events out of id order and the agent is stopped and started again: every row once."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import orjson
import pytest

from tests.sources.test_postgres_source import insert, table_ids
from tests.support import wait_until


def shipper(cfg, out, err, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg), *args],
                            stdout=out, stderr=err, env={**os.environ, "PYTHONUNBUFFERED": "1"})


@pytest.mark.slow
def test_shipper_restarts_while_transactions_commit_out_of_order(pg_server, pg_db, tmp_path, assert_ecs):
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
sources:
  - name: cml
    type: postgres
    parser: cloudera_ai
    dsn: "{pg_server.socket_dsn(pg_db)}"
    poll_interval: 0.1
    batch_size: 17
    gap_grace: 0.3
outputs:
  - type: stdout
""")
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(seed: int):
        rnd = random.Random(seed)
        try:
            with pg_server.connect(pg_db) as conn:
                while not stop.is_set():
                    if rnd.random() < 0.5:
                        conn.execute("SELECT txid_current()")  # an early xid, a late id: the hard case
                        time.sleep(rnd.uniform(0, 0.1))
                    insert(conn, rnd.randint(1, 4), event=rnd.choice(["user login", "project created", "file downloaded"]))
                    time.sleep(rnd.uniform(0, 0.4))
                    conn.rollback() if rnd.random() < 0.15 else conn.commit()
        except BaseException as e:
            errors.append(e)

    late = pg_server.connect(pg_db)  # the lowest id, committed only after the first run: surely out of order
    insert(late, 1)
    writers = [threading.Thread(target=writer, args=(i,)) for i in range(3)]
    for w in writers:
        w.start()
    out_path, err_path = tmp_path / "out.jsonl", tmp_path / "err.log"
    with open(out_path, "ab") as out, open(err_path, "ab") as err:
        try:
            for n in range(1, 4):
                p = shipper(cfg, out, err)
                # SIGTERM once it runs (before its handlers are set, a SIGTERM just ends the process)
                wait_until(lambda: err_path.read_text().count("msg=started") >= n, timeout=60, what="the agent up")
                time.sleep(2.0)
                if n == 1:
                    wait_until(lambda: out_path.stat().st_size > 0, timeout=60, what="rows above the late one")
                    late.commit()
                    late.close()
                p.send_signal(signal.SIGTERM)
                assert p.wait(60) == 0
        finally:
            stop.set()
            for w in writers:
                w.join(30)
        assert not errors, errors
        p = shipper(cfg, out, err, "--once")  # what was committed after the last stop
        assert p.wait(120) == 0, err_path.read_text()[-3000:]
    events = [orjson.loads(line) for line in out_path.read_bytes().splitlines()]
    truth = table_ids(pg_server, pg_db)
    counts = Counter(int(ev["event"]["id"]) for ev in events)
    assert {i: c for i, c in counts.items() if c > 1} == {}
    assert sorted(counts) == truth
    assert len(truth) > 30
    for ev in events[:50]:
        assert_ecs(ev, "cloudera_ai")
        assert "tags" not in ev or "_parse_failure" not in ev["tags"]
    shipped_order = [int(ev["event"]["id"]) for ev in events]
    assert shipped_order != sorted(shipped_order), "expected at least one row committed out of id order"


def test_kill_9_at_random_moments_and_a_truncated_table_ship_every_row_exactly_once(pg_server, pg_db, tmp_path):
    """Writers commit out of id order; the agent is killed (-9) at random moments; midway the table is truncated
    and refilled past the cursor in one transaction. The Elasticsearch peer holds each row once: the first
    table's rows as `<id>`, the new table's as `<id>-r1`."""
    from tests.peers.bulk_server import BulkServer

    rnd = random.Random()
    seed = rnd.randrange(10**6)
    rnd.seed(seed)
    es = BulkServer().start()
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
sources:
  - name: cml
    type: postgres
    parser: cloudera_ai
    dsn: "{pg_server.socket_dsn(pg_db)}"
    poll_interval: 0.1
    batch_size: 13
    gap_grace: 0.3
outputs:
  - {{type: elasticsearch, hosts: ['{es.url}'], backoff_base: 0.05, backoff_max: 0.5, flush_interval: 0.1,
      batch_size: 20, request_timeout: 5}}
""")
    stop, paused = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def writer(seed: int):
        wr = random.Random(seed)
        try:
            with pg_server.connect(pg_db) as conn:
                while not stop.is_set():
                    if paused.is_set():
                        time.sleep(0.05)
                        continue
                    if wr.random() < 0.5:
                        conn.execute("SELECT txid_current()")  # an early xid, a late id
                    insert(conn, wr.randint(1, 3))
                    time.sleep(wr.uniform(0, 0.2))
                    conn.rollback() if wr.random() < 0.15 else conn.commit()
        except BaseException as e:
            errors.append(e)

    def stored() -> Counter:
        with es._lock:
            return Counter(d["event"]["id"] for d in es.docs.values())

    writers = [threading.Thread(target=writer, args=(seed + i,)) for i in range(2)]
    for w in writers:
        w.start()
    out_path, err_path = tmp_path / "out.log", tmp_path / "err.log"
    old_ids: list[int] = []
    with open(out_path, "ab") as out, open(err_path, "ab") as err:
        p = shipper(cfg, out, err)
        try:
            for round_ in range(6):
                time.sleep(rnd.uniform(0.2, 1.5))
                p.kill()  # kill -9: no drain, no checkpoint flush
                p.wait(30)
                if round_ == 2:  # the table is truncated and refilled past the cursor while the agent is down
                    paused.set()
                    time.sleep(0.5)  # the writers' open transactions end
                    old_ids = table_ids(pg_server, pg_db)
                    p = shipper(cfg, out, err)
                    wait_until(lambda: set(stored()) >= {str(i) for i in old_ids}, timeout=90,
                               what=f"the first table's rows (seed {seed})")
                    p.kill()
                    p.wait(30)
                    with pg_server.connect(pg_db) as conn:
                        conn.execute("TRUNCATE user_events RESTART IDENTITY")
                        insert(conn, max(old_ids) + 20)
                        conn.commit()
                    paused.clear()
                p = shipper(cfg, out, err)
        finally:
            stop.set()
            for w in writers:
                w.join(30)
        assert not errors, errors
        new_ids = table_ids(pg_server, pg_db)
        want = Counter([str(i) for i in old_ids] + [f"{i}-r1" for i in new_ids])
        try:
            wait_until(lambda: set(stored()) >= set(want), timeout=120, what=f"every row (seed {seed})")
            time.sleep(1.0)
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(60)
            es.stop()
    got = stored()
    assert got == want, (seed, sorted(set(got) - set(want))[:20], sorted(set(want) - set(got))[:20])
    # each row was stored once under one id: a repeat would have been refused as a conflict or stored twice
    assert sum(got.values()) == len(es.docs)
    # once, or again after a kill that came before the new checkpoint was stored
    assert err_path.read_text().count("was truncated") >= 1, err_path.read_text()[-3000:]
