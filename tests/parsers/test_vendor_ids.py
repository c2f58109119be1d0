"""Gaps in a product's own numbering (shipper.vendor_ids): found, filled by late ids, reported once
after the grace period, carried across restarts; and end to end for Posit Connect's entry_id and for
Puppet's commit offsets against the activity API's total (the peer in tests/peers/)."""
from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from hypothesis import example, given, settings, strategies as st

from shipper.vendor_ids import VendorIdGaps
from tests.peers.puppet_activity_api import PuppetActivityAPI

pytestmark = pytest.mark.slow

SHIPPER = [sys.executable, "-m", "shipper.cli"]


def test_a_jump_opens_a_gap_a_late_id_fills_it_and_what_stays_open_is_reported_once():
    g = VendorIdGaps()
    g.observe(["1", "2", "6", "7", 12], now=0.0)
    assert [(lo, hi) for lo, hi, _ in g.open] == [(3, 5), (8, 11)]
    g.observe(["4", "9", "x", None, "-3"], now=1.0)  # late commits; junk ignored
    assert [(lo, hi) for lo, hi, _ in g.open] == [(3, 3), (5, 5), (8, 8), (10, 11)]
    assert g.due(now=100.0, grace=300) == []
    assert g.due(now=301.0, grace=300) == [(3, 3), (5, 5), (8, 8), (10, 11)]
    assert g.due(now=1000.0, grace=300) == [] and g.open == []


def test_a_claim_past_the_ids_seen_is_a_gap_until_they_come_and_a_restart_forgets_it():
    g = VendorIdGaps({"highest": 4})
    g.claim(9, now=0.0)  # "ten commits" while five were listed
    g.observe(range(5, 7), now=1.0)
    assert [(lo, hi) for lo, hi, _ in g.open] == [(7, 9)]
    g.claim(8, now=1.0)  # a total that went down claims nothing new
    assert g.due(now=301.0, grace=300) == [(7, 9)] and g.highest == 9
    g.claim(9, now=302.0)  # the same claim again is not a second gap
    assert g.open == []
    g.claim(12, now=303.0)
    g.restart(3)  # the numbering moved (pruned): what was open named other places
    assert g.open == [] and g.highest == 2
    g.observe(range(3, 6), now=304.0)
    assert g.due(now=10_000.0, grace=0) == []


def test_the_state_goes_on_after_a_restart():
    g = VendorIdGaps()
    g.observe([1, 5], now=0.0)
    again = VendorIdGaps(orjson.loads(orjson.dumps(g.state())))
    again.observe([6, 3], now=0.0)
    assert again.highest == 6 and [(lo, hi) for lo, hi, _ in again.open] == [(2, 2), (4, 4)]


_ID = st.one_of(st.integers(0, 60).map(str), st.integers(0, 60), st.sampled_from(
    ["", "x", "-3", " 7", "7 ", "007", "1_0", "\u0661", "+5", "9" * 19, "1" + "0" * 19, "1" + "0" * 18]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.lists(_ID, max_size=6),  # anything
                          st.tuples(st.integers(0, 60), st.integers(0, 8), st.booleans())
                          .map(lambda t: [str(t[0] + i).zfill(3 if t[2] else 1) for i in range(t[1])])),  # a run as text
                max_size=8),
       st.one_of(st.none(), st.integers(0, 60)))
@example([["9" * 19, "1" + "0" * 19]], None)  # 20 digits: not an id to _as_int
@example([["\u0661"], ["1", "2"]], None)  # not ASCII
@example([["61", "62", "", "63"]], 60)
@example([["61", "61", "63", "64"]], 60)  # from the next to 3 past it, but not one by one
@example([["-1", "0", "1"]], -2)  # a sign: not an id to _as_int
@example([["007", "8"], ["9"]], None)  # a leading zero: the loop's
def test_a_batch_of_ids_in_order_is_taken_as_the_loop_takes_it(batches, highest):
    # observe takes a list of text numbers that go on from the highest one by one without its loop
    # (_next_in_order); an iterator takes the loop: the two keep the same state and report the same
    fast, loop = (VendorIdGaps({"highest": highest, "open": [[3, 4]]} if highest is not None else None) for _ in range(2))
    for t, ids in enumerate(batches):
        assert fast.observe(list(ids), now=float(t)) == loop.observe(iter(ids), now=float(t))
        assert fast.state() == loop.state() and fast.open == loop.open


def test_a_serial_batch_takes_no_loop():
    g = VendorIdGaps({"highest": 9})
    assert g._next_in_order([str(i) for i in range(10, 1010)]) and g.highest == 1009
    for ids in (["1010", "1012"], ["1010", ""], ["1010", 1011], ["1010", "1" + "0" * 19], ["١٠١٠"]):
        assert not g._next_in_order(ids) and g.highest == 1009


@settings(max_examples=200, deadline=None)
@given(st.sets(st.integers(1, 200), min_size=1), st.randoms())
def test_property_what_is_reported_is_exactly_what_never_came(seen, rnd):
    ids = sorted(seen)
    late = [i for i in ids if rnd.random() < 0.3]
    first = [i for i in ids if i not in late]
    g = VendorIdGaps()
    g.observe(first, now=0.0)
    g.observe(late, now=1.0)
    reported = g.due(now=10_000.0, grace=1.0)
    missing = {n for lo, hi in reported for n in range(lo, hi + 1)}
    order = first + late
    expected = {n for n in range(order[0], max(order) + 1) if n not in seen}  # below the first id: not a gap
    assert missing == expected


def line(entry_id: int) -> bytes:
    return orjson.dumps({"time": "2024-05-01T10:00:00Z", "level": "info", "msg": "x", "action": "user_login",
                         "entry_id": entry_id, "actor_id": 1, "actor_description": "Al (al)"})


def run_posit(tmp_path: Path, ids, key: str = "k" * 32) -> subprocess.CompletedProcess:
    """`shipper run --once` over a Posit Connect log of these entry ids, integrity on, gaps named at once."""
    log = tmp_path / "audit.log"
    log.write_bytes(b"\n".join(line(i) for i in ids) + b"\n")
    (tmp_path / "key").write_text(key)
    (tmp_path / "key").chmod(0o600)
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
integrity: {{key_file: key}}
sources:
  - {{name: posit, type: file, paths: ['{log}'], parser: posit_connect, vendor_id_grace: 0}}
outputs:
  - type: stdout
""")
    return subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, text=True, timeout=120)


def test_posit_entry_ids_that_skip_are_warned_counted_and_attested(tmp_path: Path):
    r = run_posit(tmp_path, [1, 2, 3, 7, 8, 9])
    assert r.returncode == 0, r.stderr
    assert "missing_ids=4-6" in r.stderr and "count=3" in r.stderr
    stop = [orjson.loads(l) for l in r.stdout.splitlines()][-1]
    assert stop["shipper"]["attestation"]["vendor_id_gaps"] == {"ids": 3, "ranges": [[4, 6]]}
    out = tmp_path / "trail.jsonl"
    out.write_text(r.stdout)
    (tmp_path / "v.key").write_text("k" * 32)
    v = subprocess.run(SHIPPER + ["verify", "--key-file", str(tmp_path / "v.key"), str(out)],
                       capture_output=True, text=True, timeout=60)
    assert v.returncode == 0, v.stdout  # a question for the product's database, not a broken chain
    assert "note: the product's own ids skip 3 numbers never read (4-6)" in v.stdout


def run_puppet(tmp_path: Path, api: PuppetActivityAPI, grace: float) -> subprocess.CompletedProcess:
    """`shipper run --once` over the activity API peer's rbac and classifier services, integrity on."""
    (tmp_path / "token").write_text("good-token")
    (tmp_path / "key").write_text("k" * 32)
    (tmp_path / "key").chmod(0o600)
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
integrity: {{key_file: key}}
sources:
  - {{name: pe, type: http_poll, url: '{api.url('v2')}', token_file: token, ca_file: '{api.ca_file}',
     services: [rbac, classifier], page_size: 3, vendor_id_grace: {grace}}}
outputs:
  - type: stdout
""")
    return subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, text=True, timeout=120)


def shipped(r: subprocess.CompletedProcess) -> tuple[list[str], dict]:
    """The commits' messages shipped, and the stop attestation's vendor_id_gaps."""
    docs = [orjson.loads(l) for l in r.stdout.splitlines()]
    events = [d["message"] for d in docs if d["event"].get("kind") != "state"]
    atts = [d for d in docs if d["event"].get("kind") == "state"]
    assert atts, r.stdout
    return events, atts[-1]["shipper"]["attestation"]["vendor_id_gaps"]


def add(api: PuppetActivityAPI, service: str, names: list[str]) -> list:
    return [api.add(service, [n]) for n in names]


def test_puppet_commits_the_total_counts_but_no_page_lists_are_warned_counted_and_attested(tmp_path: Path):
    with PuppetActivityAPI(tmp_path) as api:
        rbac = add(api, "rbac", [f"r{i}" for i in range(7)])
        add(api, "classifier", ["c0", "c1", "c2"])
        api.unlist(rbac[3:5])  # the server dropped two commits from its listing, its total still counts them
        r = run_puppet(tmp_path, api, grace=0)
        assert r.returncode == 0, r.stderr
        events, gaps = shipped(r)
        assert sorted(events) == ["c0", "c1", "c2", "r0", "r1", "r2", "r5", "r6"]
        warned = [l for l in r.stderr.splitlines() if "skip numbers never seen" in l]
        assert len(warned) == 1 and "service rbac commit offsets" in warned[0] and "5-6" in warned[0], r.stderr
        assert gaps == {"ids": 2, "ranges": [],
                        "numbered": [{"numbering": "service rbac commit offsets", "first": 5, "last": 6}]}
        (tmp_path / "trail.jsonl").write_text(r.stdout)
        v = subprocess.run(SHIPPER + ["verify", "--key-file", str(tmp_path / "key"), str(tmp_path / "trail.jsonl")],
                           capture_output=True, text=True, timeout=60)
        assert v.returncode == 0, v.stdout  # a question for the product's database, not a broken chain
        assert "skip 2 numbers never read (5-6 of the service rbac commit offsets)" in v.stdout
        again = run_puppet(tmp_path, api, grace=0)  # reported once: a restart does not report it again
        assert again.returncode == 0 and "skip numbers never seen" not in again.stderr, again.stderr
        assert shipped(again) == ([], {"ids": 0, "ranges": []})
        add(api, "rbac", ["r7", "r8"])  # the total stays two ahead of the listing: nothing more is missing
        more = run_puppet(tmp_path, api, grace=0)
        assert more.returncode == 0 and "skip numbers never seen" not in more.stderr, more.stderr
        assert shipped(more) == (["r7", "r8"], {"ids": 0, "ranges": []})
        api.relist()  # the two come back, late (sorted among those shipped: the history moved, they are read)
        back = run_puppet(tmp_path, api, grace=0)
        assert back.returncode == 0 and "skip numbers never seen" not in back.stderr, back.stderr
        assert shipped(back) == (["r3", "r4"], {"ids": 0, "ranges": []})
        add(api, "rbac", ["r9"])
        api.unlist(add(api, "rbac", ["r10"]))  # the total is caught up with: one more missing is a new gap
        last = run_puppet(tmp_path, api, grace=0)
        assert last.returncode == 0, last.stderr
        assert shipped(last) == (["r9"], {"ids": 1, "ranges": [], "numbered": [
            {"numbering": "service rbac commit offsets", "first": 10, "last": 10}]}), last.stderr


def test_puppet_commits_that_come_late_or_a_history_that_moved_are_not_gaps(tmp_path: Path):
    with PuppetActivityAPI(tmp_path) as api:
        add(api, "rbac", ["r0", "r1", "r2", "r3"])
        first = run_puppet(tmp_path, api, grace=0)
        assert first.returncode == 0 and sorted(shipped(first)[0]) == ["r0", "r1", "r2", "r3"], first.stderr

        def late_then_listed(names: list[str], meanwhile=lambda: None) -> subprocess.CompletedProcess:
            """Commits counted before the listing shows them: a gap open within the grace period (a run
            saves it), then listed (`meanwhile` changes the history first): the next run, with no grace
            left, finds it filled."""
            api.unlist(add(api, "rbac", names))
            early = run_puppet(tmp_path, api, grace=300)
            assert early.returncode == 0 and shipped(early) == ([], {"ids": 0, "ranges": []}), early.stderr
            api.relist()
            meanwhile()
            r = run_puppet(tmp_path, api, grace=0)
            assert r.returncode == 0, r.stderr
            assert "skip numbers never seen" not in r.stderr and shipped(r)[1] == {"ids": 0, "ranges": []}, r.stderr
            return r

        assert shipped(late_then_listed(["r4", "r5"]))[0] == ["r4", "r5"]

        def history_moves():
            # The server's clock stepped back for one commit (it sorts among those shipped) and the oldest
            # two were pruned (every offset shifts down): the offsets the open gap named are not those now.
            newest = api._clock
            api._clock = newest - timedelta(seconds=3)
            add(api, "rbac", ["stepped back"])
            api._clock = newest
            api.prune_oldest("rbac", 2)

        moved = late_then_listed(["r6", "r7"], history_moves)
        assert sorted(shipped(moved)[0]) == ["r6", "r7", "stepped back"]


def test_puppet_offset_gaps_are_counted_in_the_same_metric_as_the_parsers_ids(tmp_path: Path):
    """The running agent (in this process, to read its metrics): offsets the total counts and no page
    lists, past the grace period, add to shipper_vendor_id_gaps for the source, once."""
    from shipper import metrics
    from shipper.config import parse_config
    from shipper.pipeline import Pipeline
    from tests.support import wait

    def gaps() -> float:
        return metrics.REGISTRY.get_sample_value("shipper_vendor_id_gaps_total", {"source": "pe_metric"}) or 0.0

    with PuppetActivityAPI(tmp_path) as api:
        rbac = add(api, "rbac", [f"r{i}" for i in range(5)])
        api.unlist(rbac[1:4])
        (tmp_path / "token").write_text("good-token")
        before = gaps()
        config = parse_config(f"""
state_dir: {tmp_path / 'state'}
sources:
  - {{name: pe_metric, type: http_poll, url: '{api.url('v2')}', token_file: token, ca_file: '{api.ca_file}',
     services: [rbac], poll_interval: 0.1, vendor_id_grace: 0.5}}
outputs:
  - type: stdout
""", str(tmp_path / "shipper.yaml"), tmp_path)
        pipeline = Pipeline(config)
        pipeline.start()
        try:
            assert wait(lambda: gaps() == before + 3, 60), gaps() - before
            polls = len(api.event_requests())
            assert wait(lambda: len(api.event_requests()) > polls + 5, 60)  # polls after it: counted once
            assert gaps() == before + 3
        finally:
            pipeline.stop(20)
