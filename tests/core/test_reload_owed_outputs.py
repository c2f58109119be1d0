"""Issue 23: an output a reload gives a source, storing where none of its outputs did, is owed the source's
batches not completed at that reload (ReloadPlan.owed_outputs, AckTracker.owe): none of them is checkpointed
without it, and once the outputs that have them are done they are taken back, each output's stored events noted,
and read again for the rest (tests/e2e/test_reload_added_output_owed_in_flight.py over a real agent)."""
from __future__ import annotations

from types import SimpleNamespace

from shipper.acks import AckTracker
from shipper.config import load_config
from shipper.reload import plan_reload
from shipper.reload_apply import _owe_added

FD = "{{type: fluentd, name: {name}, host: 127.0.0.1, port: {port}{more}}}"


def fd(name: str, port: int = 24224, more: str = "") -> str:
    return FD.format(name=name, port=port, more=more)


def config(tmp_path, outputs: list[str], name: str, tags: str = "[t0]"):
    path = tmp_path / name
    path.write_text(f"state_dir: {tmp_path}/state\nsources:\n"
                    f"  - {{name: app, type: file, paths: ['{tmp_path}/app.log'], parser: json, tags: {tags}}}\n"
                    "outputs:\n" + "".join(f"  - {o}\n" for o in outputs))
    return load_config(str(path))


def plan(tmp_path, old: list[str], new: list[str], tags: str = "[t0]"):
    return plan_reload(config(tmp_path, old, "old.yaml"), config(tmp_path, new, "new.yaml", tags))


def test_an_output_added_or_given_another_server_is_owed(tmp_path):
    assert plan(tmp_path, [fd("a")], [fd("a"), fd("b", port=2)]).owed_outputs == {"app": ["b"]}
    # A name kept for another server stores anew; its old server is gone.
    assert plan(tmp_path, [fd("a")], [fd("a", port=2)]).owed_outputs == {"app": ["a"]}


def test_an_output_that_stores_where_one_of_the_source_did_is_not_owed(tmp_path):
    assert plan(tmp_path, [fd("a")], [fd("a")], tags="[t1]").owed_outputs == {}  # the source changed alone
    assert plan(tmp_path, [fd("a")], [fd("a2")]).owed_outputs == {}  # renamed
    assert plan(tmp_path, [fd("a")], [fd("a", more=", batch_size: 10")]).owed_outputs == {}  # how it delivers
    assert plan(tmp_path, [fd("a"), fd("b", port=2)], [fd("b"), fd("a", port=2)]).owed_outputs == {}  # swapped


def test_an_output_the_source_is_not_routed_to_is_not_owed(tmp_path):
    p = plan(tmp_path, [fd("a")], [fd("a"), fd("b", port=2, more=", match: 'other.*'")])
    assert (p.owed_outputs, p.sources_kept) == ({}, ["app"])


def test_owed_batches_do_not_complete_and_are_taken_back_whole():
    committed: list[dict] = []
    tracker = AckTracker(lambda fragment: committed.append(fragment) or True)
    first = tracker.register(2, {"pos": 1}, ["e1"])
    second = tracker.register(2, {"pos": 2}, ["e2"])
    tracker.owe({"added"})
    settled: list[int] = []
    for seq in (first, second):
        tracker.ack(seq, "up", settle=lambda seq=seq: settled.append(seq))
        assert tracker.unfinished() == set(), "taken back while down still sends it, down would send it twice"
        tracker.ack(seq, "down", settle=lambda seq=seq: settled.append(seq))
    assert tracker.wait_saved(5) and committed == [], "checkpointed without the added output"
    # Settled at once: held, down's window would fill with batches that cannot commit, and it would send no more.
    assert sorted(settled) == [first, first, second, second]
    assert tracker.unfinished() == {first, second}
    assert tracker.delivered_to() == {"up": ["e1", "e2"], "down": ["e1", "e2"]}


def test_owed_no_more_the_batches_complete():
    committed: list[dict] = []
    tracker = AckTracker(lambda fragment: committed.append(fragment) or True)
    tracker.owe({"added"})
    seq = tracker.register(1, {"pos": 1}, ["e1"])
    tracker.ack(seq, "up")
    tracker.owe(set())  # (a later reload removed the output)
    assert tracker.wait_saved(5) and committed == [{"pos": 1}] and tracker.in_flight() == 0


def _runner(tracker: AckTracker, rereads: bool = True):
    return SimpleNamespace(tracker=tracker, cfg=SimpleNamespace(name="app"), source=SimpleNamespace(rereads=rereads),
                           pipeline=SimpleNamespace(output_configs={}))


def test_what_an_earlier_reload_owed_goes_on_renamed_and_ends_with_its_output(tmp_path):
    first = plan(tmp_path, [fd("a")], [fd("a"), fd("b", port=2)])
    r = _runner(AckTracker(lambda fragment: True))
    _owe_added(r, first, config(tmp_path, [fd("a"), fd("b", port=2)], "new.yaml"))  # type: ignore[arg-type]
    assert r.tracker.owed() == {"b"}
    # A second reload during the wait changes the source alone: b is still owed (else its batches complete).
    second = plan_reload(config(tmp_path, [fd("a"), fd("b", port=2)], "old.yaml"),
                         new := config(tmp_path, [fd("a"), fd("b", port=2)], "new.yaml", "[t1]"))
    _owe_added(r, second, new)  # type: ignore[arg-type]
    assert r.tracker.owed() == {"b"}
    third = plan_reload(config(tmp_path, [fd("a"), fd("b", port=2)], "old.yaml", "[t1]"),
                        new := config(tmp_path, [fd("a"), fd("b2", port=2)], "new.yaml", "[t1]"))
    _owe_added(r, third, new)  # type: ignore[arg-type]
    assert r.tracker.owed() == {"b2"}
    fourth = plan_reload(config(tmp_path, [fd("a"), fd("b2", port=2)], "old.yaml", "[t1]"),
                         new := config(tmp_path, [fd("a")], "new.yaml", "[t1]"))
    _owe_added(r, fourth, new)  # type: ignore[arg-type]
    assert r.tracker.owed() == set()


def test_a_source_that_cannot_read_again_is_owed_nothing(tmp_path):
    p = plan(tmp_path, [fd("a")], [fd("a"), fd("b", port=2)])
    r = _runner(AckTracker(lambda fragment: True), rereads=False)
    _owe_added(r, p, config(tmp_path, [fd("a"), fd("b", port=2)], "new.yaml"))  # type: ignore[arg-type]
    assert r.tracker.owed() == set()


def test_a_name_given_to_another_server_is_not_noted_for_what_its_old_server_stored():
    tracker = AckTracker(lambda fragment: True)
    seq = tracker.register(2, {"pos": 1}, ["e1"])
    tracker.ack(seq, "up")
    tracker.stores_elsewhere({"up": "w-old"})  # (a reload pointed "up" at another server, none renamed to keep the old one)
    tracker.owe({"up"})
    tracker.ack(seq, "down")
    assert tracker.delivered_to() == {"down": ["e1"]}, "the re-read would not send e1 to up's new server"


def test_what_a_name_s_old_server_acknowledged_during_the_wait_is_noted_for_where_it_stores():
    # issue 23 (flip back): "up" given to another server; its old server comes back during the wait and stores
    # e1 and e2. A later reload that gives "up" back to it must find them noted for that where.
    tracker = AckTracker(lambda fragment: True)
    tracker.stores_elsewhere({"up": "w-old"})
    seq = tracker.register(2, {"pos": 1}, ["e1", "e2"])
    tracker.ack(seq, "up")
    tracker.stores_elsewhere({"up": "w-new"})  # (a later reload during the same wait: the first server's where stays)
    tracker.owe({"up"})
    assert tracker.delivered_to() == {}
    assert tracker.delivered_elsewhere() == {"w-old": ["e1", "e2"]}


def test_the_name_of_a_renamed_server_kept_for_another_keeps_its_acks_for_the_rename(tmp_path):
    # up -> up2 (its server), and "up" given to a new server: what up stored is noted for up2 (rename_outputs).
    p = plan(tmp_path, [fd("up"), fd("down", port=2)], [fd("up2"), fd("down", port=2), fd("up", port=3)])
    assert p.outputs_renamed == {"up": "up2"} and p.owed_outputs == {"app": ["up"]}
    r = _runner(AckTracker(lambda fragment: True))
    seq = r.tracker.register(2, {"pos": 1}, ["e1"])
    r.tracker.ack(seq, "up")
    _owe_added(r, p, config(tmp_path, [fd("up2"), fd("down", port=2), fd("up", port=3)], "new.yaml"))  # type: ignore[arg-type]
    assert r.tracker.delivered_to() == {"up": ["e1"]}


def test_a_stop_waits_for_no_batch_that_can_no_longer_complete():
    """A stop's wait (AckTracker.wait_delivered, no deadline here) ends at once, not delivered, once every output
    that has the batches is done and they are owed to an added output, or stranded by a closed one; the e2e case:
    tests/e2e/test_reload_stop_in_wait_for_added_output.py."""
    owed = AckTracker(lambda fragment: True)
    seq = owed.register(2, {"pos": 1}, ["e1"])
    owed.owe({"added"})
    owed.ack(seq, "up")
    assert not owed.wait_delivered(0.0), "down still sends it: waited for"
    owed.ack(seq, "down")
    assert owed.wait_delivered(None) is False and owed.events_in(owed.unfinished()) == (1, 1)
    stranded = AckTracker(lambda fragment: True)
    seq = stranded.register(2, {"pos": 1}, ["e1"])
    stranded.ack(seq, "up")
    stranded.strand(seq, ["closed"])
    assert stranded.wait_delivered(None) is False
    done = AckTracker(lambda fragment: True)
    done.ack(done.register(1, {"pos": 1}, ["e1"]), "up")
    assert done.wait_delivered(None) is True
