"""A re-read after a reload holds back what is new to it until it met every link its predecessor sealed
(docs/evidence.md "Replays after a reload"). One of those events is gone before the re-read (its row deleted):
the re-read must not wait for it for ever. Once nothing is in flight and no old link came for an attest_interval
(at least 5 s), it says so and goes on: the late row it held ships, attestations go on, stdout's trail (which
stored the deleted row before) verifies, and Elasticsearch's, which never got it, names that one link missing.

attest_interval is long here: an attestation appended while Elasticsearch is down waits for its checkpoint, and
no later link is sealed meanwhile (docs/evidence.md, Attestations), so rows 22-31 would reach stdout only once
Elasticsearch is back. With attest_interval 1 that happened under load (3 of 3 at load ~20, 2 of 2 at load ~45:
"timed out waiting for rows 22-31 at stdout"): an interval attestation in flight when Elasticsearch stopped."""
from __future__ import annotations

import base64
import os
import re
import signal
import subprocess

import orjson
import pytest

from tests.e2e.test_attack11_pg_reseal_after_reload_holes import SHIPPER, row_ids, write_config
from tests.peers.bulk_server import BulkServer
from tests.sources.test_postgres_source import insert
from tests.support import wait_until

pytestmark = pytest.mark.slow

# No interval attestation before the re-read (see above); the re-read waits this long for the deleted row's link
ATTEST_INTERVAL = 20


def test_a_re_read_that_never_meets_an_old_link_goes_on_and_ships_what_it_held(pg_server, pg_db, tmp_path):
    (tmp_path / "key").write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    (tmp_path / "key").chmod(0o600)
    dsn = pg_server.socket_dsn(pg_db)
    es = BulkServer(flavour="es9").start()
    es_port = es.port
    trail, log = tmp_path / "stdout.jsonl", tmp_path / "agent.log"
    cfg = write_config(tmp_path, dsn, es_port, 5, attest_interval=ATTEST_INTERVAL)
    with open(trail, "wb") as out, open(log, "wb") as err:
        agent = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=out, stderr=err)
    late = pg_server.connect(pg_db)

    def at_stdout() -> list[dict]:
        return [orjson.loads(x) for x in trail.read_bytes().splitlines()]

    try:
        with pg_server.connect(pg_db) as conn:
            insert(conn, 20)
            conn.commit()
        wait_until(lambda: len(row_ids(es.docs.values())) >= 20, 90, "the first 20 rows in Elasticsearch")
        es.stop()
        insert(late, 1)  # row 21, committed during the reload
        with pg_server.connect(pg_db) as conn:
            insert(conn, 10)  # rows 22-31
            conn.commit()
        wait_until(lambda: set(range(22, 32)) <= set(row_ids(at_stdout())), 60, "rows 22-31 at stdout")
        wait_until(lambda: "elasticsearch unreachable or failing" in log.read_text(), 60, "the agent held up")
        with pg_server.connect(pg_db) as conn:  # gone before the re-read
            conn.execute("DELETE FROM user_events WHERE id = 25")
            conn.commit()
        write_config(tmp_path, dsn, es_port, 6, attest_interval=ATTEST_INTERVAL)
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: "msg=reloading" in log.read_text(), 60, "the reload")
        late.commit()
        wait_until(lambda: "the re-read seals the events its predecessor sealed" in log.read_text(), 60, "the re-read")
        stored = dict(es.docs)
        es = BulkServer(port=es_port, flavour="es9")
        es.docs = stored
        es.start()
        wait_until(lambda: "did not meet 1 events its predecessor had sealed" in log.read_text(), ATTEST_INTERVAL + 60,
                   "the re-read going on without the deleted row")
        wait_until(lambda: 21 in row_ids(at_stdout()) and 21 in row_ids(es.docs.values()), 60,
                   "the late row at both outputs")
        last = max(d["event"]["sequence"] for d in at_stdout())
    finally:
        late.close()
        agent.send_signal(signal.SIGTERM)
        agent.wait(60)
        es.stop()
    docs = at_stdout()
    # attestations go on after the re-read: the stop's, after its last link
    assert any(d["event"].get("reason") == "stop" and d["event"]["sequence"] > last for d in docs)
    assert sorted(row_ids(docs)) == list(range(1, 32))  # row 25 once, as stored before the reload
    verify = subprocess.run(SHIPPER + ["verify", "--key-file", str(tmp_path / "key"), "--output", "out", str(trail)],
                            capture_output=True, text=True, timeout=300)
    assert verify.returncode == 0, f"verify of stdout's trail: {verify.stdout[-1500:]}"
    assert set(row_ids(es.docs.values())) == set(range(1, 32)) - {25}
    export = tmp_path / "es.jsonl"
    export.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in es.docs.values()))
    verify = subprocess.run(SHIPPER + ["verify", "--key-file", str(tmp_path / "key"), "--output", "es", str(export)],
                            capture_output=True, text=True, timeout=300)
    gone = next(d["event"]["sequence"] for d in docs if d["event"].get("id") == "25")
    assert verify.returncode == 1 and re.search(rf"missing: sequences {gone}\b", verify.stdout), verify.stdout
