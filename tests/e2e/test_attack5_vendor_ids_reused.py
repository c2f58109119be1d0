"""Black-box attack 5: a Posit Connect whose database was restored from a backup (or reinstalled) numbers
its audit entries again from an earlier `entry_id`, so new, different events carry ids already shipped.
The Elasticsearch `_id` is a hash of `id_namespace` and the vendor id (README, "How delivery works"), and
`create` of an existing `_id` answers 409, taken as a replay. docs/operations.md names exactly this for
the postgres source ("a silent loss of exactly the events an auditor is asked about after a restore")
and gives re-read rows a new id there; the file source does nothing of the kind. Found: the new events
whose ids were used before are answered 409 and counted as "duplicates avoided"; the run says
"shipped 20", exits 0, and not one line says that 6 events are not in the store."""
from __future__ import annotations

import subprocess

import pytest

from tests.peers.bulk_server import BulkServer
from tests.posit_reuse import AUDIT_LOG, SHIPPER, after_restore, before_restore, entry, run_once

pytestmark = pytest.mark.slow


def test_new_events_that_reuse_vendor_ids_are_stored_or_named(tmp_path):
    (tmp_path / AUDIT_LOG).write_text("".join(before_restore() + after_restore()))
    es = BulkServer(flavour="es9").start()
    try:
        r = run_once(tmp_path, es, "state")
    finally:
        es.stop()
    assert r.returncode in (0, 1), r.stderr[-2000:]
    stored = {(d["user"]["name"], d["event"]["id"]) for d in es.docs.values()}
    expected = {("alice", str(i)) for i in range(1, 11)} | {("mallory", str(i)) for i in range(5, 15)}
    lost = sorted(expected - stored, key=lambda k: (k[0], int(k[1])))
    warned = [line for line in r.stderr.splitlines() if "level=warning" in line or "level=error" in line]
    assert not lost or warned, f"{len(lost)} events never stored and nothing said: {lost}; stderr: {r.stderr[-1500:]}"


def test_two_installations_shipped_under_one_source_name_are_both_stored_or_named(tmp_path):
    # README: id_namespace "default: its name, so two installations' id 42 never collide"; the same config on
    # two hosts (config management, the example's source name) gives both installations one namespace.
    es = BulkServer(flavour="es9").start()
    runs = []
    try:
        for host, who in (("posit-prod", "alice"), ("posit-staging", "bob")):
            d = tmp_path / host
            d.mkdir()
            (d / "audit.json").write_text("".join(entry(i, who) for i in range(1, 11)))
            (d / "shipper.yaml").write_text(f"""
state_dir: {d / 'state'}
host_name: {host}
sources:
  - {{name: posit_connect, type: file, paths: ['{d / "audit.json"}'], parser: posit_connect}}
outputs:
  - {{type: elasticsearch, name: es, hosts: ['{es.url}'], index: 'audit-posit', backoff_base: 0.05}}
""")
            runs.append(subprocess.run(SHIPPER + ["run", "--once", "-c", str(d / "shipper.yaml")],
                                       capture_output=True, text=True, timeout=300))
    finally:
        es.stop()
    assert all(r.returncode in (0, 1) for r in runs), [r.stderr[-1000:] for r in runs]
    stored = {(d["host"]["name"], d["event"]["id"]) for d in es.docs.values()}
    lost = sorted({(h, str(i)) for h in ("posit-prod", "posit-staging") for i in range(1, 11)} - stored)
    warned = [line for r in runs for line in r.stderr.splitlines() if "level=warning" in line or "level=error" in line]
    assert not lost or warned, f"{len(lost)} events never stored and nothing said: {lost}; " \
                               f"stderr: {runs[-1].stderr[-1500:]}"



def test_reused_vendor_ids_are_stored_under_a_derived_id_once_and_a_replay_adds_nothing(tmp_path):
    (tmp_path / AUDIT_LOG).write_text("".join(before_restore() + after_restore()))
    es = BulkServer(flavour="es9").start()
    try:
        first = run_once(tmp_path, es, "state")
        stored = sorted((d["user"]["name"], int(d["event"]["id"])) for d in es.docs.values())
        replay = run_once(tmp_path, es, "state-lost")  # the checkpoints lost: everything sent again
        again = sorted((d["user"]["name"], int(d["event"]["id"])) for d in es.docs.values())
    finally:
        es.stop()
    assert first.returncode == 0, first.stderr[-2000:]
    assert stored == sorted([("alice", i) for i in range(1, 11)] + [("mallory", i) for i in range(5, 15)])
    assert [line for line in first.stderr.splitlines() if "level=warning" in line and "6 event(s) answered 409" in line]
    assert again == stored, "a replay stored the events of reused ids a second time"
    assert replay.returncode == 0 and "duplicates avoided 20" in replay.stderr, replay.stderr[-2000:]
    assert not es.errors


def test_a_409_that_cannot_be_read_back_is_named_once(tmp_path):
    (tmp_path / AUDIT_LOG).write_text("".join(before_restore() + after_restore()))
    es = BulkServer(flavour="es9").start()
    # a writer-only API key (create_doc): documents may not be read
    es.answer_with["/_mget"] = (403, {"error": {"type": "security_exception", "reason": "action [indices:data/read/mget] "
                                                "is unauthorized"}, "status": 403}, "application/json")
    try:
        r = run_once(tmp_path, es, "state")
    finally:
        es.stop()
    assert r.returncode == 0, r.stderr[-2000:]
    said = [line for line in r.stderr.splitlines() if "level=warning" in line and "cannot be read back" in line]
    assert len(said) == 1 and "403" in said[0], r.stderr[-2000:]
