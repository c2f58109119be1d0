"""A JSON record with no time of its own gets the time it was read as `@timestamp` (parser `json`).
A replay after kill -9 reads it again at another time: were that time sealed, the replayed link
would differ from the first copy, and a store keeping the first copy of each link (Elasticsearch
`create` by _id) would hold links whose successors were sealed over other hashes, "altered".
docs/evidence.md: a read time is never sealed (the event is tagged `_read_time`, which is sealed)."""
from __future__ import annotations

import subprocess
import time

import orjson
import pytest

from tests.core.test_integrity import SHIPPER, append, run_once, setup, verify

pytestmark = pytest.mark.slow  # (tens of seconds: `make test` hands it out with the slow files, early)


def test_a_replay_after_kill_9_of_records_without_a_time_keeps_their_links(tmp_path):
    log, cfg = setup(tmp_path)
    cfg.write_text(cfg.read_text().replace("parser: datameer", "parser: json"))
    # half the records carry their own time (sealed), half none (the read time, unsealed)
    append(log, [orjson.dumps({"user": f"u{i}", "pad": "x" * 40, **({"timestamp": "2026-01-02T03:04:05Z"} if i % 2 else {})})
                 for i in range(20_000)])
    proc = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        head = proc.stdout.read(200_000)  # then read no more: the pipe fills, sealed batches wait unacknowledged
        time.sleep(3)
    finally:
        proc.kill()
        proc.wait(30)
    first = head + proc.stdout.read()
    proc.stdout.close()
    first = first[: first.rfind(b"\n") + 1]  # a torn last line is no event
    replay = run_once(cfg)

    def links(data: bytes) -> dict[int, dict]:
        return {e["event"]["sequence"]: e for e in map(orjson.loads, data.splitlines())}

    a, b = links(first), links(replay)
    again = [s for s in a.keys() & b.keys() if "user" in a[s]["generic"] and "timestamp" not in a[s]["generic"]]
    assert again, "the replay repeated no record without a time: the kill came after every checkpoint"
    for s in again:  # read twice at different times; sealed the same
        assert a[s]["@timestamp"] != b[s]["@timestamp"] and a[s]["event"]["hash"] == b[s]["event"]["hash"]
        assert "_read_time" in a[s]["tags"]
    timed = [e for e in a.values() if "timestamp" in e.get("generic", {})]
    assert timed and all(e["@timestamp"] == "2026-01-02T03:04:05.000Z" and "tags" not in e for e in timed)

    kept: dict[int, bytes] = {}
    for line in (first + replay).splitlines():
        kept.setdefault(orjson.loads(line)["event"]["sequence"], line)
    assert len({orjson.loads(line)["generic"]["user"] for line in kept.values() if b'"generic"' in line}) == 20_000
    store = tmp_path / "store.jsonl"
    store.write_bytes(b"".join(line + b"\n" for _, line in sorted(kept.items())))
    r = verify(tmp_path, store)
    assert r.returncode == 0, r.stdout[:3000]

    # the tag is sealed: taking it away (to pass the read time off as the record's own) is an alteration
    evs = [orjson.loads(line) for _, line in sorted(kept.items())]
    (i, ev), = [(i, e) for i, e in enumerate(evs) if e["event"]["sequence"] == min(again)]
    del ev["tags"]
    store.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in evs))
    r = verify(tmp_path, store)
    assert r.returncode == 1 and f"altered: sequence {ev['event']['sequence']} " in r.stdout, r.stdout[:3000]
