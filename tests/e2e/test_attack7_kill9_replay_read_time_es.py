"""Black-box attack 7 (operator): kill -9 of an agent shipping to Elasticsearch between the bulk request
that stored a batch and the checkpoint commit that would have counted it. README ("A crash therefore replays
and never skips: Elasticsearch answers the replay with 409s (counted as duplicates avoided)"; Known limits:
"With stdout and Fluentd, a kill -9 … repeats that batch on restart (Elasticsearch absorbs it as 409s)").
Found: events with no time of their own (a `json` record without one: `@timestamp` is the read time, tagged
`_read_time`) are read again at another time, so the replay's 409 read-back finds
"other content" under the _id and stores every one of them a second time, under an _id derived from that
content; the warning blames the product ("numbered its records again from an earlier id"). 100 of 100
replayed events stored twice, in 3 of 3 runs (a parse failure replayed with them was absorbed) (also in a chaos run of reloads
where an output replaced while down was sent its batches again). Records with their own time are absorbed.
Fixed: the read-back compares the fields of the event's content, not the read time of an event tagged
`_read_time`. The commit is held back by stopping the checkpoint writer (SIGSTOP), the frozen state_dir of
docs/operations.md, so the window is certain."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter

import pytest

from tests.peers.bulk_server import BulkServer
from tests.support import stop_process, wait_until, writer_pid
from tests.tail.attack_agent import free_port

pytestmark = pytest.mark.slow


def lines(first: int, count: int) -> str:
    return "".join(json.dumps({"seq": i, "msg": "no time of its own"}) + "\n" for i in range(first, first + count))


def test_kill9_replay_of_read_time_events_is_absorbed_by_elasticsearch(tmp_path):
    es = BulkServer(port=free_port()).start()
    log = tmp_path / "app.log"
    log.write_text(lines(0, 100))
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path}/state
sources:
  - {{name: app, type: file, paths: ["{log}"], parser: json}}
outputs:
  - {{type: elasticsearch, hosts: ["{es.url}"], flush_interval: 0.2}}
""")
    err = open(tmp_path / "agent.err", "wb")
    run = [sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)]
    agent = subprocess.Popen(run, stdout=subprocess.DEVNULL, stderr=err)
    writer = None
    try:
        wait_until(lambda: len(es.docs) >= 100, 90, "the first 100 events stored")
        writer = writer_pid(agent.pid)
        os.kill(writer, signal.SIGSTOP)  # the next checkpoint commit does not return
        with open(log, "a") as f:
            f.write(lines(100, 100) + "not json at all: a parse failure\n")
        wait_until(lambda: len(es.docs) >= 201, 90, "the next 101 events stored (their checkpoint held back)")
        agent.kill()
        agent.wait(30)
        os.kill(writer, signal.SIGKILL)
        writer = None
        agent = subprocess.Popen(run, stdout=subprocess.DEVNULL, stderr=err)
        # the restart reads lines 100..199 and the failure again and sends them: each answered 409; what the
        # read-back decides is delivered before the SIGTERM stop below ends
        wait_until(lambda: es.conflicts >= 101, 90, "the replay answered 409")
    finally:
        if writer is not None:
            os.kill(writer, signal.SIGKILL)
        stop_process(agent)
        err.close()
        es.stop()
    docs = list(es.docs.values())
    seqs = Counter((d.get("generic") or {}).get("seq") for d in docs)
    twice = sorted(k for k, v in seqs.items() if v > 1 and k is not None)
    failures = [d for d in docs if "_parse_failure" in (d.get("tags") or [])]
    assert set(range(200)) <= set(seqs)
    assert not twice and len(failures) == 1, (
        f"{len(twice)} events stored twice (e.g. {twice[:5]}), the parse failure {len(failures)} times; "
        + (tmp_path / "agent.err").read_text(errors="replace")[-600:])
