"""Key rotation and a leaked old key (issue 18): after a rotation the new key seals every later link,
so a link sealed again with the retired key after the new one took over is named; the agent's own
replays across a rotation (one place under both keys) are not."""
from __future__ import annotations

import orjson

from shipper.integrity import Chain, Key
from shipper.verify import Link, verify_chain

OLD, NEW = Key.from_text("the old key, 0123456789"), Key.from_text("the new key, 0123456789")


def _links(docs: list[dict]) -> list[Link]:
    stored = [orjson.loads(orjson.dumps(d)) for d in docs]
    return [Link(d["event"]["sequence"], d["event"]["hash"], d, f"f:{i + 1}") for i, d in enumerate(stored)]


def _rotated_chain() -> tuple[Chain, list[dict]]:
    chain = Chain(OLD, "h/s")
    docs = [chain.seal({"event": {"dataset": "shipper.attestation", "reason": "start"}})]
    docs += [chain.seal({"event": {"action": "a"}, "n": i}) for i in range(5)]
    chain.key = NEW  # a reload with the next key: the chain goes on
    docs += [chain.seal({"event": {"action": "a"}, "n": i}) for i in range(5, 10)]
    return chain, docs


def test_a_rotated_chain_verifies_and_names_its_key_spans():
    chain, docs = _rotated_chain()
    docs.append(chain.seal({"event": {"dataset": "shipper.attestation", "reason": "stop"}}))
    rep = verify_chain("h/s", _links(docs), [OLD, NEW])
    assert rep.intact, rep.problems
    assert f"keys: {OLD.id} sequences 1-6, {NEW.id} sequences 7-12" in rep.notes


def test_a_tail_forged_with_the_retired_key_is_named():
    chain, docs = _rotated_chain()
    chain.key = OLD  # the old key leaked: the forger appends links and a closing attestation with it
    docs.append(chain.seal({"event": {"action": "a"}, "user": {"name": "mallory"}}))
    docs.append(chain.seal({"event": {"dataset": "shipper.attestation", "reason": "stop"}}))
    rep = verify_chain("h/s", _links(docs), [OLD, NEW])
    assert not rep.intact
    assert f"key order: sequence 12 is sealed with key {OLD.id}, which a later key had replaced (a retired key " \
           "used again)" in rep.problems, rep.problems


def test_a_replay_across_a_rotation_is_no_return_of_the_old_key():
    """Links 4-6 sealed with the old key were stored but not acknowledged; the agent restarted with
    the new key and sealed them again from its checkpoint (3): both copies are stored."""
    chain = Chain(OLD, "h/s")
    docs = [chain.seal({"event": {"dataset": "shipper.attestation", "reason": "start"}})]
    docs += [chain.seal({"event": {"action": "a"}, "n": i}) for i in range(5)]
    again = Chain(NEW, "h/s", docs[2]["event"]["sequence"], docs[2]["event"]["hash"])
    docs += [again.seal({"event": {"action": "a"}, "n": i}) for i in range(2, 8)]
    docs.append(again.seal({"event": {"dataset": "shipper.attestation", "reason": "stop"}}))
    rep = verify_chain("h/s", _links(docs), [OLD, NEW])
    assert rep.intact, rep.problems
    assert rep.replays == 3
