"""The integrity chain (shipper.integrity) and `shipper verify`: a trail shipped with a key verifies;
one event removed, altered, moved, or checked with the wrong key does not, and verify names it."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from shipper.integrity import Chain, Key
from shipper.verify import Link, verify_chain

pytestmark = pytest.mark.slow

SHIPPER = [sys.executable, "-m", "shipper.cli"]
KEY = "an integrity key of some length, 0123456789abcdef"


def record(n: int) -> bytes:
    return orjson.dumps({"timestamp": "2026-01-02 03:04:05", "action-type": "FILESYSTEM", "action": "EDIT",
                         "performing-user": f"user{n}", "file-path": f"/f/{n}", "remote-address": f"10.0.{n % 250}.1"})


def setup(tmp_path: Path, parse_workers: int | str = 0, state: str = "state") -> tuple[Path, Path]:
    log = tmp_path / "useraction.log"
    if not log.exists():
        log.write_bytes(b"")
    (tmp_path / "key").write_text(KEY + "\n")
    (tmp_path / "key").chmod(0o600)
    cfg = tmp_path / f"shipper-{state}.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / state}
integrity: {{key_file: key}}
sources:
  - name: dm
    type: file
    paths: [{log}]
    parser: datameer
    parse_workers: {parse_workers}
outputs:
  - type: stdout
""")
    return log, cfg


def append(log: Path, lines: list[bytes]) -> None:
    with open(log, "ab") as f:
        f.write(b"".join(l + b"\n" for l in lines))


def run_once(cfg: Path) -> bytes:
    r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout


def verify(tmp_path: Path, *files: Path, key: str = KEY, output: str | None = None) -> subprocess.CompletedProcess:
    kf = tmp_path / "verify.key"
    kf.write_text(key)
    return subprocess.run(SHIPPER + ["verify", "--key-file", str(kf), *(["--output", output] if output else []),
                                     *map(str, files)],
                          capture_output=True, text=True, timeout=120)


def shipped(tmp_path: Path, n: int = 30) -> tuple[Path, list[bytes]]:
    log, cfg = setup(tmp_path)
    append(log, [record(i) for i in range(n)] + [b"{not json", b"\x00\xff binary"])
    out = run_once(cfg)
    capture = tmp_path / "trail.jsonl"
    capture.write_bytes(out)
    return capture, out.splitlines()


@pytest.fixture(scope="module")
def one_trail(tmp_path_factory) -> bytes:
    """What one `run --once` shipped (shipped()): the tests that only verify it, or a copy they alter, share it (an
    agent run each cost ~0.5 s of CPU)."""
    capture, _ = shipped(tmp_path_factory.mktemp("one_trail"))
    return capture.read_bytes()


@pytest.fixture
def trail(tmp_path, one_trail) -> tuple[Path, list[bytes]]:
    """(tmp_path/trail.jsonl holding one_trail, its lines), as shipped(tmp_path) gives them."""
    capture = tmp_path / "trail.jsonl"
    capture.write_bytes(one_trail)
    return capture, one_trail.splitlines()


def events_of(lines: list[bytes]) -> list[dict]:
    return [orjson.loads(l) for l in lines]


def test_a_shipped_trail_verifies_and_its_events_carry_the_chain(tmp_path, trail):
    capture, lines = trail
    evs = events_of(lines)
    # start attestation, 32 events (2 of them parse failures), stop attestation
    assert [e["event"]["sequence"] for e in evs] == list(range(1, 35))
    assert evs[0]["event"]["dataset"] == "shipper.attestation" and evs[0]["event"]["reason"] == "start"
    assert evs[-1]["event"]["reason"] == "stop"
    assert evs[-1]["shipper"]["attestation"]["events"] == 32  # between the two attestations
    assert sum("_parse_failure" in (e.get("tags") or ()) for e in evs) == 2
    assert len({e["labels"]["shipper_chain"] for e in evs}) == 1
    assert all(e["event"]["hash"].count(":") == 1 for e in evs)
    r = verify(tmp_path, capture)
    assert r.returncode == 0, r.stdout
    assert "sequences 1-34, 34 links: intact" in r.stdout


def test_a_removed_event_is_named_as_a_missing_range(tmp_path, trail):
    capture, lines = trail
    capture.write_bytes(b"\n".join(lines[:10] + lines[12:]) + b"\n")
    r = verify(tmp_path, capture)
    assert r.returncode == 1
    assert "missing: sequences 11-12" in r.stdout


def test_an_altered_event_is_named_by_sequence_and_place(tmp_path, trail):
    capture, lines = trail
    evs = events_of(lines)
    evs[7]["user"]["name"] = "someone-else"
    capture.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in evs))
    r = verify(tmp_path, capture)
    assert r.returncode == 1
    assert f"altered: sequence 8 at {capture}:8 does not match its hash" in r.stdout


def test_a_forged_hash_on_an_altered_event_breaks_its_successor(tmp_path, trail):
    capture, lines = trail
    evs = events_of(lines)
    evs[7]["user"]["name"] = "someone-else"
    evs[7]["event"]["hash"] = evs[7]["event"]["hash"][:-4] + "0000"
    capture.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in evs))
    r = verify(tmp_path, capture)
    assert r.returncode == 1
    assert "altered: sequence 8 " in r.stdout and "altered: sequence 9 " in r.stdout


def test_moved_events_are_named_as_reordered(tmp_path, trail):
    capture, lines = trail
    lines[5], lines[9] = lines[9], lines[5]
    capture.write_bytes(b"\n".join(lines) + b"\n")
    r = verify(tmp_path, capture)
    assert r.returncode == 1
    assert "reordered: sequence 6" in r.stdout


def test_the_wrong_key_is_named(tmp_path, trail):
    capture, _ = trail
    r = verify(tmp_path, capture, key="another key")
    assert r.returncode == 1
    assert "sealed with an unknown key" in r.stdout


def test_a_trail_without_its_last_attestation_is_judged_only_up_to_the_one_before(tmp_path, trail):
    capture, lines = trail
    capture.write_bytes(b"\n".join(lines[:-1]) + b"\n")  # the stop attestation cut off
    r = verify(tmp_path, capture)
    assert r.returncode == 0, r.stdout
    assert "sequences 1-1" in r.stdout and "32 links outside the attested span, not judged" in r.stdout


def test_the_chain_goes_on_across_runs(tmp_path):
    log, cfg = setup(tmp_path)
    append(log, [record(i) for i in range(10)])
    first = run_once(cfg)
    append(log, [record(i) for i in range(10, 25)] + [b"{broken"])
    second = run_once(cfg)
    third = run_once(cfg)  # nothing new: one attestation says the agent was there
    evs = events_of((second + third).splitlines())
    assert evs[0]["event"]["sequence"] == events_of(first.splitlines())[-1]["event"]["sequence"] + 1
    reasons = [e["event"].get("reason") for e in events_of(third.splitlines())]
    assert reasons[-1] == "stop" and set(reasons) <= {"resume", "stop"}
    capture = tmp_path / "all.jsonl"
    capture.write_bytes(first + second + third)
    r = verify(tmp_path, capture)
    assert r.returncode == 0, r.stdout
    assert "duplicates" not in r.stdout and "replays" not in r.stdout


def test_a_kill_9_replay_seals_the_same_links_again(tmp_path):
    """What was written but not checkpointed at a kill -9 is read and sealed again: the same events
    must get the same sequence and hash (else a store that de-duplicates by _id keeps the first
    copies and the chain breaks after them). The agent is blocked writing into a full pipe, many
    batches sealed and queued, when it is killed."""
    log, cfg = setup(tmp_path)
    append(log, [record(i) for i in range(20_000)])
    proc = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    head = proc.stdout.read(200_000)  # then read no more: the pipe fills, delivery blocks
    time.sleep(3)
    proc.kill()
    proc.wait(30)
    rest = proc.stdout.read()
    captured = (head + rest)
    captured = captured[: captured.rfind(b"\n") + 1]  # a torn last line is no event
    before = {(e["event"]["sequence"], e["event"]["hash"]) for e in events_of(captured.splitlines())}
    replay = run_once(cfg)
    after = events_of(replay.splitlines())
    again = {(e["event"]["sequence"], e["event"]["hash"]) for e in after}
    seqs_before = {s for s, _ in before}
    overlap = {(s, h) for s, h in again if s in seqs_before}
    assert len(overlap) >= 100, "the replay should cover what was written before the kill"
    assert overlap <= before, "a replayed link got another hash"
    capture = tmp_path / "all.jsonl"
    capture.write_bytes(captured + replay)
    r = verify(tmp_path, capture)
    assert r.returncode == 0, r.stdout
    assert "exact copies" in r.stdout
    users = {e["user"]["name"] for e in events_of((captured + replay).splitlines()) if "user" in e}
    assert len(users) == 20_000  # every record delivered


def test_parse_workers_seal_the_same_chain_as_the_source_thread(tmp_path):
    lines = [record(i) for i in range(3000)]
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    log_a, cfg_a = setup(a, parse_workers=0)
    log_b, cfg_b = setup(b, parse_workers=2)
    append(log_a, lines)
    append(log_b, lines)

    def links(out: bytes) -> list:
        # the file's path is part of each event (log.file.path): same name in both folders
        return [(e["event"]["sequence"], e["user"]) for e in events_of(out.splitlines())
                if e["event"].get("dataset") != "shipper.attestation"]

    out_a, out_b = run_once(cfg_a), run_once(cfg_b)
    assert links(out_a) == links(out_b) and len(links(out_a)) == 3000
    (a / "t.jsonl").write_bytes(out_a)
    (b / "t.jsonl").write_bytes(out_b)
    assert verify(a, a / "t.jsonl").returncode == 0
    assert verify(b, b / "t.jsonl").returncode == 0


def test_a_missing_key_file_is_a_config_error_naming_the_key(tmp_path):
    _, cfg = setup(tmp_path)
    (tmp_path / "key").unlink()
    r = subprocess.run(SHIPPER + ["check", "-c", str(cfg)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "integrity.key_file" in r.stderr and "cannot read integrity key file" in r.stderr
    assert KEY not in r.stderr + r.stdout


# --- the chain and verify in-process: every single removal or alteration is found ---------------

_json = st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.text(max_size=8)
                     | st.floats(allow_nan=False, allow_infinity=False),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                     max_leaves=8)
_event = st.fixed_dictionaries({"event": st.fixed_dictionaries({"action": st.text(max_size=6)}),
                                "x": _json})


def _sealed(events: list[dict]) -> tuple[Key, list[Link]]:
    key = Key.from_text("k")
    chain = Chain(key, "h/s")
    links = []
    docs = [chain.seal(chain.attestation("start", {}, {"name": "h"}, {}))]
    docs += [chain.seal(e) for e in events]
    docs.append(chain.seal(chain.attestation("stop", {}, {"name": "h"}, {})))
    for i, d in enumerate(docs):
        stored = orjson.loads(orjson.dumps(d))  # as a reader gets it back
        links.append(Link(stored["event"]["sequence"], stored["event"]["hash"], stored, f"f:{i + 1}"))
    return key, links


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_event, min_size=1, max_size=6), st.data())
def test_property_any_one_removal_or_alteration_is_found(events, data):
    key, links = _sealed(events)
    assert verify_chain("h/s", links, [key]).intact
    i = data.draw(st.integers(0, len(links) - 1))
    removed = links[:i] + links[i + 1:]
    rep = verify_chain("h/s", removed, [key])
    assert not rep.intact or i in (0, len(links) - 1)  # an end cut off shrinks the attested span
    if 0 < i < len(links) - 1:
        assert f"missing: sequences {i + 1}" in rep.problems
    altered = [Link(l.seq, l.hash, orjson.loads(orjson.dumps(l.doc)), l.where) for l in links]
    altered[i].doc["tampered"] = True
    rep = verify_chain("h/s", altered, [key])
    assert any(p.startswith(f"altered: sequence {i + 1} ") for p in rep.problems)


def test_verify_reports_the_losses_the_agent_declared():
    key = Key.from_text("k")
    chain = Chain(key, "h/s")
    docs = [chain.seal({"event": {"dataset": "shipper.attestation"}}),
            chain.seal({"event": {"action": "x"}}),
            chain.seal({"event": {"dataset": "shipper.attestation"},
                        "shipper": {"attestation": {"losses": 2, "bytes_lost": 100,
                                                    "outputs": {"es": {"dead_lettered": 3}}}}})]
    links = [Link(d["event"]["sequence"], d["event"]["hash"], d, f"f:{i}") for i, d in enumerate(docs)]
    rep = verify_chain("h/s", links, [key])
    assert not rep.intact and not rep.problems
    assert any("declared 2 losses (100 bytes known)" in l for l in rep.losses)
    assert any("output es dead-lettered 3 events" in l for l in rep.losses)


def test_verify_reads_large_trails_in_parts_across_processes_with_the_same_answer(tmp_path, monkeypatch):
    """Files cut into parts read by several processes: links at the parts' edges are proven across
    them, lines are numbered in their file, an altered link is found in any part."""
    from shipper import verify_read

    key = Key.from_text("k")
    chain = Chain(key, "h/s")
    docs = [chain.seal({"event": {"dataset": "shipper.attestation"}})]
    docs += [chain.seal({"event": {"action": "a"}, "n": i, "f": i / 3}) for i in range(6000)]
    docs.append(chain.seal({"event": {"dataset": "shipper.attestation"}}))
    docs[100]["n"] = -1
    docs[4500]["f"] = 0.5
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    one.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs[:3000]))
    two.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs[3000:]))
    monkeypatch.setattr(verify_read, "PART", 40_000)  # ~400 links a part
    monkeypatch.setattr(verify_read, "IN_PROCESS", 0)
    answers = []
    for workers in (1, 2):
        chains, problems, unchained = verify_read.read_links([str(two), str(one)], [key], workers)
        assert not problems and not unchained and list(chains) == ["h/s"]
        answers.append(verify_chain("h/s", chains["h/s"], [key]))
    assert answers[0].problems == answers[1].problems == [
        f"altered: sequence 101 at {one}:101 does not match its hash",
        f"altered: sequence 4501 at {two}:1501 does not match its hash"]
    assert answers[0].first == answers[1].first == 1 and answers[0].last == answers[1].last == 6002


def test_an_idle_source_attests_every_interval_and_a_reload_rotates_the_key(tmp_path):
    import os
    import signal

    from tests.support import wait_until

    log, cfg = setup(tmp_path)
    cfg.write_text(cfg.read_text().replace("integrity: {key_file: key}", "integrity: {key_file: key, attest_interval: 1}"))
    out = tmp_path / "out.jsonl"
    with open(out, "wb") as f:
        proc = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=f, stderr=subprocess.DEVNULL)
    try:
        def reasons() -> list:
            return [e["event"].get("reason") for e in events_of(out.read_bytes().splitlines())]

        wait_until(lambda: reasons().count("interval") >= 2, 60, "two interval attestations of an idle source")
        idle = [e for e in events_of(out.read_bytes().splitlines()) if e["event"].get("reason") == "interval"]
        assert all(e["shipper"]["attestation"]["events"] == 0 for e in idle[1:])
        (tmp_path / "key").write_text("the next key, 0123456789\n")
        os.kill(proc.pid, signal.SIGHUP)
        time.sleep(2)
        append(log, [record(i) for i in range(5)])
        wait_until(lambda: sum(1 for e in events_of(out.read_bytes().splitlines()) if "user" in e) == 5, 60,
                   "the records after the reload")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    evs = events_of(out.read_bytes().splitlines())
    assert evs[-1]["event"]["reason"] == "stop"
    assert len({e["event"]["hash"].split(":")[0] for e in evs}) == 2  # two key ids
    (tmp_path / "old.key").write_text(KEY)
    (tmp_path / "new.key").write_text("the next key, 0123456789")
    both = subprocess.run(SHIPPER + ["verify", "--key-file", str(tmp_path / "old.key"), "--key-file",
                                     str(tmp_path / "new.key"), str(out)], capture_output=True, text=True)
    assert both.returncode == 0, both.stdout
    assert verify(tmp_path, out).returncode == 1  # the old key alone does not know the new links


def test_verify_reads_the_trail_back_from_a_search_server_and_names_a_deleted_and_an_altered_event(tmp_path):
    """Against osmem-server (an independent OpenSearch reimplementation from PyPI, see README): ship
    with integrity, verify from the store, then delete one document and alter another there."""
    import json
    import urllib.request

    from osmem_server import OsmemServer

    server = OsmemServer.start(addr="127.0.0.1:0", japanese=False)
    try:
        url = server.url
        log, cfg = setup(tmp_path)
        append(log, [record(i) for i in range(40)])
        cfg.write_text(cfg.read_text().replace("  - type: stdout", f"""  - type: opensearch
    name: store
    hosts: ['{url}']
    index: 'audit-{{dataset}}'"""))
        r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        kf = tmp_path / "verify.key"
        kf.write_text(KEY)

        def verify_store() -> subprocess.CompletedProcess:
            return subprocess.run(SHIPPER + ["verify", "--key-file", str(kf), "-c", str(cfg), "--output", "store"],
                                  capture_output=True, text=True, timeout=120)

        def call(method: str, path: str, body: dict | None = None) -> dict:
            req = urllib.request.Request(url + path, method=method, data=json.dumps(body).encode() if body else None,
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req) as a:
                return json.loads(a.read() or b"null")

        call("POST", "/_refresh")
        ok = verify_store()
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "sequences 1-42, 42 links: intact" in ok.stdout
        hits = call("POST", "/audit-*/_search", {"size": 100, "query": {"match_all": {}}})["hits"]["hits"]
        by_seq = {h["_source"]["event"]["sequence"]: h for h in hits}
        gone, changed = by_seq[10], by_seq[20]
        call("DELETE", f"/{gone['_index']}/_doc/{gone['_id']}")
        doc = changed["_source"]
        doc["user"]["name"] = "nobody"
        call("PUT", f"/{changed['_index']}/_doc/{changed['_id']}", doc)
        call("POST", "/_refresh")
        bad = verify_store()
        assert bad.returncode == 1, bad.stdout
        assert "missing: sequences 10" in bad.stdout
        assert f"altered: sequence 20 at {changed['_index']}/{changed['_id']}" in bad.stdout
    finally:
        server.close()


def test_verify_refuses_an_output_that_cannot_read_back(tmp_path):
    _, cfg = setup(tmp_path)
    kf = tmp_path / "verify.key"
    kf.write_text(KEY)
    r = subprocess.run(SHIPPER + ["verify", "--key-file", str(kf), "-c", str(cfg), "--output", "stdout"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "output type 'stdout' cannot read back what it stored" in r.stderr
