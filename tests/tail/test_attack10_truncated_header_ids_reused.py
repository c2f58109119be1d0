"""Black-box attack 10 (ids): a log that starts with a header line (a Log4j layout header, a CSV header: the
README's own example of "a shared first line") is truncated in place and written again — Log4j 1.2
`MaxBackupIndex=0`, `copytruncate` without a copy, an operator's `: > app.log` — while the agent follows it.

Found (by hand 2 of 2 with the daemon, and with this test, 3 of 3; when the agent saw the file empty before
it was written again, as after a Log4j rollover whose next line comes a moment later): the events written after the truncation get the
*same* stable ids as the old events at the same byte offsets (100 of 100 numbered events here: the line of seq
300 carries the id of seq 100, 301 that of 101, ...). The stable id is what a reader drops repeats by: stdout's
`id_field`, Fluentd's `_shipper_id` for fluent-plugin-elasticsearch's `id_key` (README: "so a Fluentd →
Elasticsearch tier drops replays"). Such a tier stores none of the 100 new events, and nothing says so (the
agent warns only about the truncation window). The elasticsearch output itself stores both (its `_mget` check
sees the stored event is another): the loss is downstream of stdout and Fluentd.

Promised (README, "How delivery works"): the id hashes the source, the content's fingerprint and the byte
offset so that distinct events never share one, and a replay is the only repeat of an id.

Fixed (session 13): the content written after a truncation in place is named after the one it replaced
(shipper/tail/identity.py file_id's `after`), kept across restarts by the inode's placeholder; the in-process
cases (truncated while stopped, a replay of the same bytes, an inode reused) are tests/tail/test_ids_generations.py."""
from __future__ import annotations

import json
import time
from collections import defaultdict

from tests.support import wait
from tests.tail.attack_agent import Agent, exactly_once, numbered

HEADER = '{"layout": "header"}\n'


def read_position(agent: Agent, log) -> int | None:
    files = ((agent.get("/status")[1].get("sources", {}).get("app") or {}).get("status") or {}).get("files") or []
    return next((f["position"] for f in files if f["path"] == str(log)), None)


def test_events_after_a_truncation_in_place_get_ids_of_their_own(tmp_path):
    log = tmp_path / "app.log"
    log.write_text(HEADER + "".join(numbered(i) for i in range(100, 200)))
    agent = Agent(tmp_path, [log])
    agent.cfg.write_text(agent.cfg.read_text().replace("  - type: stdout", "  - {type: stdout, id_field: _shipper_id}"))
    agent.start()
    try:
        assert agent.wait_delivered(range(100, 200), 60), exactly_once(agent.seqs(), range(100, 200))
        with open(log, "r+") as f:
            f.truncate(0)
        assert wait(lambda: read_position(agent, log) == 0, 30), agent.get("/status")  # it saw the file empty
        time.sleep(2)  # the scenario: the writer's next line comes a moment after its rollover
        with open(log, "a") as f:  # the writer goes on at the start of the file, header first
            f.write(HEADER + "".join(numbered(i) for i in range(300, 400)))
        assert agent.wait_delivered(range(300, 400), 60), exactly_once(agent.seqs(), range(300, 400))
    finally:
        agent.stop()
    seqs_of = defaultdict(set)
    for line in (tmp_path / "out1.jsonl").read_text().splitlines():
        event = json.loads(line)
        seq = event.get("generic", {}).get("seq")
        if seq is not None:
            seqs_of[event["_shipper_id"]].add(seq)
    shared = {i: sorted(s) for i, s in seqs_of.items() if len(s) > 1}
    assert not shared, f"{len(shared)} ids carried by two different events, e.g. {list(shared.values())[:3]}"
