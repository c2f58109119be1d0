"""A second reload while the re-read after a first one waits for an old link it never meets (a row deleted,
docs/evidence.md "Replays after a reload"): the re-read's batches, held by a Fluentd output that was down, were
delivered meanwhile, but their checkpoints wait for the batch that ends the re-read. The second reload's re-read
starts again from the saved checkpoint: what the first re-read delivered is not sent to Fluentd again. Found
(pgholes13, attack 11's shape with Fluentd as the down output, 4 runs in 10): 4 to 40 events stored twice in
Fluentd, unnamed, each an exact copy of its link."""
from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
from collections import Counter
from pathlib import Path

import orjson
import pytest

from tests.e2e.test_attack11_pg_reseal_after_reload_holes import SHIPPER, row_ids
from tests.peers.forward_server import ForwardServer
from tests.sources.test_postgres_source import insert
from tests.support import wait_until

pytestmark = pytest.mark.slow

# The re-read ends without the deleted row's link once no old link came for attest_interval (at least 5 s) with
# nothing in flight: long enough here that the first re-read cannot end before the second reload
ATTEST_INTERVAL = 20


def write_config(tmp_path: Path, dsn: str, fd_port: int, in_flight: int) -> Path:
    """Each reload replaces the Fluentd output by changing max_in_flight_batches: a key that is not part of where it
    stores (OutputConfig.where: a change of batch_size makes the start drop the output's note, since f7ea6c0)."""
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
shutdown_timeout: 3
integrity: {{key_file: {tmp_path / 'key'}, attest_interval: {ATTEST_INTERVAL}}}
sources:
  - {{name: cml, type: postgres, parser: cloudera_ai, dsn: "{dsn}", poll_interval: 0.2, batch_size: 5, gap_grace: 0.5}}
outputs:
  - {{type: stdout, name: out}}
  - {{type: fluentd, name: fd, host: 127.0.0.1, port: {fd_port}, backoff_base: 0.05, backoff_max: 0.5,
      batch_size: 5, max_in_flight_batches: {in_flight}}}
""")
    return cfg


def test_a_second_reload_during_a_re_read_sends_fluentd_nothing_it_stored(pg_server, pg_db, tmp_path):
    (tmp_path / "key").write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    (tmp_path / "key").chmod(0o600)
    dsn = pg_server.socket_dsn(pg_db)
    fd = ForwardServer().start()
    trail, log = tmp_path / "stdout.jsonl", tmp_path / "agent.log"
    cfg = write_config(tmp_path, dsn, fd.port, 8)
    with open(trail, "wb") as out, open(log, "wb") as err:
        agent = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=out, stderr=err)

    def at_stdout() -> list[dict]:
        return [orjson.loads(x) for x in trail.read_bytes().splitlines()]

    def at_fd() -> list[dict]:
        return [r[2] for r in list(fd.records)]

    try:
        with pg_server.connect(pg_db) as conn:
            insert(conn, 20)
            conn.commit()
        wait_until(lambda: set(range(1, 21)) <= set(row_ids(at_fd())), 90, "the first 20 rows in Fluentd")
        fd.stop()
        with pg_server.connect(pg_db) as conn:
            insert(conn, 10)  # rows 21-30
            conn.commit()
        wait_until(lambda: set(range(21, 31)) <= set(row_ids(at_stdout())), 60, "rows 21-30 at stdout")
        wait_until(lambda: "fluentd delivery failed" in log.read_text(), 60, "the agent held up by Fluentd")
        with pg_server.connect(pg_db) as conn:  # gone before the re-read: it waits for that link
            conn.execute("DELETE FROM user_events WHERE id = 25")
            conn.commit()
        write_config(tmp_path, dsn, fd.port, 6)
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: "the re-read seals the events its predecessor sealed" in log.read_text(), 60, "the re-read")
        fd.start()
        # (rows 26-30 wait for row 25's link, which goes first: they go out when the re-read gives up on it)
        wait_until(lambda: {21, 22, 23, 24} <= set(row_ids(at_fd())), 60, "rows 21-24 of the re-read in Fluentd")
        write_config(tmp_path, dsn, fd.port, 7)
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: log.read_text().count("the re-read seals the events its predecessor sealed") >= 2, 60,
                   "the second re-read")
        # the first re-read had not ended (it would have said so): its batches were delivered, not checkpointed
        assert log.read_text().count("did not meet 1 events") == 0
        wait_until(lambda: "did not meet 1 events" in log.read_text(), ATTEST_INTERVAL * 4,
                   "the second re-read going on without the deleted row")
        with pg_server.connect(pg_db) as conn:
            insert(conn, 5)  # rows 31-35
            conn.commit()
        every = set(range(1, 36)) - {25}
        wait_until(lambda: every <= set(row_ids(at_fd())) and every | {25} <= set(row_ids(at_stdout())), 60,
                   "every row at both outputs")
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(60)
        fd.stop()
    twice = sorted(i for i, n in Counter(row_ids(at_fd())).items() if n > 1)
    assert not twice, f"stored twice in Fluentd, unnamed: rows {twice}"
    assert sorted(row_ids(at_stdout())) == sorted(every | {25})
    verify = subprocess.run(SHIPPER + ["verify", "--key-file", str(tmp_path / "key"), "--output", "out", str(trail)],
                            capture_output=True, text=True, timeout=300)
    assert verify.returncode == 0, f"verify of stdout's trail: {verify.stdout[-1500:]}"
    export = tmp_path / "fd.jsonl"
    export.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in at_fd()))
    verify = subprocess.run(SHIPPER + ["verify", "--key-file", str(tmp_path / "key"), "--output", "fd", str(export)],
                            capture_output=True, text=True, timeout=300)
    gone = next(d["event"]["sequence"] for d in at_stdout() if d["event"].get("id") == "25")
    # Fluentd never got row 25 (deleted before the re-read): that link, and only it, is missing there
    assert verify.returncode == 1 and re.search(rf"missing: sequences {gone}\b", verify.stdout), verify.stdout
    assert "exact copies" not in verify.stdout, verify.stdout
