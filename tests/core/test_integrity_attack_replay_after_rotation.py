"""Attack on the chain's replay promise (issue 18), an honest trail: kill -9 while batches are in
flight, then logrotate renames the file before the agent is started again (a crash at night, the
daily rotation, a restart in the morning). The restarted agent reads what was not checkpointed
from the rotated file. docs/evidence.md: "the same events get the same sequence and hash", so that
a store that keeps the first copy (Elasticsearch `create` by _id) still holds an intact chain; and
a stdout capture of both runs holds the replay after the links it repeats, which is no reordering."""
from __future__ import annotations

import subprocess
import time

import orjson
import pytest

from tests.core.test_integrity import SHIPPER, append, record, run_once, setup, verify

pytestmark = pytest.mark.slow  # (tens of seconds: `make test` hands it out with the slow files, early)


@pytest.fixture(scope="module")
def trail(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("rotated")
    log, cfg = setup(tmp_path)
    append(log, [record(i) for i in range(20_000)])
    proc = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    head = proc.stdout.read(200_000)  # then read no more: the pipe fills, delivery blocks
    time.sleep(3)
    proc.kill()
    proc.wait(30)
    first = head + proc.stdout.read()
    first = first[: first.rfind(b"\n") + 1]  # a torn last line is no event
    log.rename(log.with_name(log.name + ".1"))  # logrotate's rename, and a new empty file
    log.write_bytes(b"")
    replay = run_once(cfg)
    return tmp_path, first, replay


def test_the_capture_of_both_runs_verifies(trail):
    tmp_path, first, replay = trail
    capture = tmp_path / "capture.jsonl"
    capture.write_bytes(first + replay)
    users = {e["user"]["name"] for e in map(orjson.loads, capture.read_bytes().splitlines()) if "user" in e}
    assert len(users) == 20_000  # every record delivered
    r = verify(tmp_path, capture)
    assert r.returncode == 0, r.stdout[:3000]


def test_a_store_keeping_the_first_copy_of_each_link_verifies(trail):
    tmp_path, first, replay = trail
    kept: dict[int, bytes] = {}
    for line in (first + replay).splitlines():
        kept.setdefault(orjson.loads(line)["event"]["sequence"], line)
    assert len(kept) >= 20_000
    store = tmp_path / "store.jsonl"
    store.write_bytes(b"".join(line + b"\n" for _, line in sorted(kept.items())))
    r = verify(tmp_path, store)
    assert r.returncode == 0, r.stdout[:3000]
