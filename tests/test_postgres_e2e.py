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

from tests.pg_cluster import pg_db, pg_server  # noqa: F401  (fixtures)
from tests.test_postgres_source import insert, table_ids


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

    writers = [threading.Thread(target=writer, args=(i,)) for i in range(3)]
    for w in writers:
        w.start()
    out_path, err_path = tmp_path / "out.jsonl", tmp_path / "err.log"
    with open(out_path, "ab") as out, open(err_path, "ab") as err:
        try:
            for _ in range(3):
                p = shipper(cfg, out, err)
                time.sleep(2.0)
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
