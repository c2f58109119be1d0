"""Attack 6 (hostile network): the `_mget` read-back of 409s answers a `_source` that lacks a field, as it does
when the index template has `_source.excludes` or the shipper's role has field-level security (it needs
`read` for the read-back, docs/operations.md, and an operator may grant it on a few fields). README: "A crash
therefore replays and never skips: Elasticsearch answers the replay with 409s (counted as duplicates avoided)".
Found: a replay (checkpoints lost, or a kill -9) of 10 events whose stored `_source` lacks `message` stores all
10 again under derived ids (20 documents for 10 events), with a warning that blames the product for reusing
its ids after a restore. With the whole `_source` (control) the replay adds nothing. Now only the fields both
have are compared; a stored `_source` lacking every compared field leaves the 409 unchecked, said once."""
from __future__ import annotations

import pytest

from tests.posit_reuse import AUDIT_LOG, after_restore, es_after_first_run, run_once

pytestmark = pytest.mark.slow  # (tens of seconds: `make test` hands it out with the slow files, early)


def test_a_replay_against_a_filtered_source_adds_no_document(tmp_path):
    with es_after_first_run(tmp_path) as es:
        for doc in es.docs.values():  # what `_source: {excludes: ["message"]}` keeps of each
            assert doc.pop("message", None), "the events carry a message to exclude"
        replay = run_once(tmp_path, es, "state-lost")  # the checkpoints lost: everything sent again
    assert replay.returncode == 0, replay.stderr[-2000:]
    ids = sorted(int(d["event"]["id"]) for d in es.docs.values())
    assert ids == list(range(1, 11)), f"{len(ids)} documents for 10 events after the replay: {ids}; " \
                                      f"{replay.stderr[-1200:]}"
    assert "duplicates avoided 10" in replay.stderr, replay.stderr[-1500:]


def test_a_restore_read_back_through_a_filtered_source_still_stores_the_new_events(tmp_path):
    """The product numbered its records again (mallory's entries 5..14 after alice's 1..10): the fields the
    stored `_source` still has (the time, the user) tell the events apart without `message`."""
    log = tmp_path / AUDIT_LOG
    with es_after_first_run(tmp_path) as es:
        for doc in es.docs.values():
            assert doc.pop("message", None)
        with log.open("a") as f:
            f.write("".join(after_restore()))
        second = run_once(tmp_path, es, "state")
    assert second.returncode == 0, second.stderr[-2000:]
    users = sorted((int(d["event"]["id"]), d["user"]["name"]) for d in es.docs.values())
    assert users == sorted([(i, "alice") for i in range(1, 11)] + [(i, "mallory") for i in range(5, 15)]), users
    assert "numbered its records again" in second.stderr, second.stderr[-1500:]


def test_a_read_back_with_nothing_to_compare_is_counted_unchecked_and_said_once(tmp_path):
    with es_after_first_run(tmp_path) as es:
        for doc in es.docs.values():  # a role that may read only event.id
            kept = {"event": {"id": doc["event"]["id"]}}
            doc.clear()
            doc.update(kept)
        replay = run_once(tmp_path, es, "state-lost")
    assert replay.returncode == 0, replay.stderr[-2000:]
    assert len(es.docs) == 10, f"{len(es.docs)} documents for 10 events after the replay; {replay.stderr[-1200:]}"
    assert "duplicates avoided 10" in replay.stderr, replay.stderr[-1500:]
    said = [line for line in replay.stderr.splitlines() if "were read back without" in line]
    assert len(said) == 1, replay.stderr[-1500:]
    assert "@timestamp" in said[0] and "message" in said[0] and "user.name" in said[0], said[0]
