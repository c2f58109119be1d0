"""A re-read after a reload seals again, with the same links, what its predecessor sealed (shipper.integrity
Chain.replay, docs/evidence.md "Replays"): each output's trail verifies, whether it stored the predecessor's
links (and is not sent them again) or is sent the whole re-read; what is new to the re-read (a row committed late
with a lower id) follows the predecessor's last link. And a trail so made still shows a removed, altered or moved
line."""
from __future__ import annotations

import orjson

from shipper.integrity import Chain, Key
from shipper.verify import Link, verify_chain

KEY = Key.from_text("an integrity key of some length, 0123456789abcdef")
HOST = {"name": "h"}


def row(i: int, action: str = "a") -> dict:
    return {"event": {"action": action, "id": str(i)}, "user": {"name": f"u{i}"}}


def predecessor() -> tuple[Chain, dict, dict, list[dict]]:
    """A chain whose start attestation is checkpointed, then rows 2-7 sealed (sequences 2-7) and not."""
    chain = Chain(KEY, "h/s")
    att = chain.seal(chain.attestation("start", {}, HOST, {}))
    chain.acked_seq = chain.seq  # its checkpoint
    saved = chain.state()
    return chain, att, saved, [chain.seal(row(i), str(i)) for i in range(2, 8)]


def report(docs: list[dict]):
    """shipper verify's judgement of a trail stored in this order (a file: a moved line is told)."""
    stored = [orjson.loads(orjson.dumps(d)) for d in docs]
    return verify_chain("h/s", [Link(d["event"]["sequence"], d["event"]["hash"], d, f"trail:{n + 1}")
                                for n, d in enumerate(stored)], [KEY])


def re_read(handed: dict, saved: dict, order: list[int]) -> tuple[Chain, list[dict]]:
    """What the successor emits, in order, reading `order` (as its runner does: an event new to the replay is
    held back until every old link was met, then sealed after them)."""
    chain = Chain.resume(KEY, "h/s", saved)
    assert chain.replay(handed)
    out, held = [], []
    for i in order:
        if chain.replay_last is None:
            out.append(chain.seal(row(i), str(i)))
            continue
        ready, met = chain.replayed(row(i), str(i))
        out += [doc for doc, _ in ready]
        if not met:
            held.append(i)
        if not chain.pending:
            out += [doc for doc, _ in chain.end_replay()]
            out += [chain.seal(row(j), str(j)) for j in held]
    return chain, out


def met_again(chain: Chain, i: int) -> list[dict]:
    ready, met = chain.replayed(row(i), str(i))
    assert met
    return [doc for doc, _ in ready]


def test_the_re_read_gives_every_event_met_again_its_link_and_seals_a_late_one_after_them():
    first_run, att, saved, first = predecessor()
    chain, again = re_read(first_run.hand_over(), saved, [1, 2, 3, 4, 5, 6, 7, 8])
    assert again[:6] == first  # the same links (sequence and hash) for rows 2-7
    assert [(d["event"]["id"], d["event"]["sequence"]) for d in again[6:]] == [("1", 8), ("8", 9)]
    end = chain.seal(chain.attestation("stop", {}, HOST, {}))
    # stdout stored rows 2-4 before the reload (5-7 were taken back): it is sent 5-7 and the new ones, in order
    stdout = [att, *first[:3], *again[3:], end]
    assert report(stdout).intact, report(stdout).problems
    # the replaced output is sent the whole re-read
    assert report([att, *again, end]).intact
    # an output that had stored all of rows 2-7 is sent only the new ones
    assert report([att, *first, *again[6:], end]).intact


def test_a_trail_made_by_a_replay_still_shows_a_removed_an_altered_and_a_moved_line():
    first_run, att, saved, first = predecessor()
    chain, again = re_read(first_run.hand_over(), saved, [1, 2, 3, 4, 5, 6, 7, 8])
    end = chain.seal(chain.attestation("stop", {}, HOST, {}))
    stdout = [att, *first[:3], *again[3:], end]  # lines 1-10; sequence 5 (row 5) at line 5, 8 (row 1) at line 8
    removed = stdout[:4] + stdout[5:]
    assert "missing: sequences 5" in report(removed).problems
    altered = [*stdout[:7], {**stdout[7], "user": {"name": "someone else"}}, *stdout[8:]]
    assert any(p.startswith("altered: sequence 8") for p in report(altered).problems), report(altered).problems
    # the late row moved before the links sealed before it: a move, not the agent's order
    moved = [*stdout[:4], stdout[7], *stdout[4:7], *stdout[8:]]
    assert any(p.startswith("reordered: sequence 5 ") for p in report(moved).problems), report(moved).problems
    # and a replayed link moved after the late one
    moved_back = [*stdout[:4], *stdout[5:8], stdout[4], *stdout[8:]]
    assert any(p.startswith("reordered: sequence 5 ") for p in report(moved_back).problems)


def test_a_second_reload_during_the_re_read_hands_on_the_same_links():
    first_run, att, saved, first = predecessor()
    middle = Chain.resume(KEY, "h/s", saved)
    assert middle.replay(first_run.hand_over())
    assert middle.replayed(row(1), "1") == ([], False)  # new to the replay: held back by its runner
    assert met_again(middle, 2) + met_again(middle, 3) == first[:2]
    # reloaded again before it met the rest (nothing of it checkpointed): its successor gets every link
    chain, again = re_read(middle.hand_over(), saved, [1, 2, 3, 4, 5, 6, 7])
    assert again[:6] == first and again[6]["event"]["sequence"] == 8
    # reloaded once it had ended the replay and sealed the late row, not yet checkpointed: that link too
    assert middle.replayed(row(9), "9") == ([], False)
    for i in (4, 5, 6, 7):
        met_again(middle, i)
    assert middle.end_replay() == []
    late = middle.seal(row(1), "1")
    _, again = re_read(middle.hand_over(), saved, [1, 2, 3, 4, 5, 6, 7])
    assert again == [*first, late]


def test_old_links_met_out_of_their_order_go_out_in_it_and_a_replay_given_up_sends_what_it_met():
    first_run, att, saved, first = predecessor()
    chain = Chain.resume(KEY, "h/s", saved)
    assert chain.replay(first_run.hand_over())
    assert met_again(chain, 4) == [] and met_again(chain, 3) == []  # due after 2
    assert met_again(chain, 2) == first[:3]
    assert met_again(chain, 6) == []
    # given up before row 5 came (a row deleted, say): row 6 goes out with its link, 5 is not waited for
    assert [doc for doc, _ in chain.end_replay()] == [first[4]]
    assert met_again(chain, 5) == [first[3]]  # met later after all: its own link, at once
    assert chain.seal(row(1), "1")["event"]["sequence"] == 8


def test_an_event_read_again_with_other_content_is_sealed_anew_never_with_the_old_link():
    first_run, att, saved, first = predecessor()
    chain = Chain.resume(KEY, "h/s", saved)
    assert chain.replay(first_run.hand_over())
    assert chain.replayed(row(2, action="b"), "2") == ([], False)  # (a reload changed its tags, say)
    assert "2" not in chain.pending  # met: the replay does not wait for it
    assert [doc for i in range(3, 8) for doc in met_again(chain, i)] == first[1:]
    assert chain.end_replay() == []
    assert chain.seal(row(2, action="b"), "2")["event"]["sequence"] == 8


def test_links_already_checkpointed_are_not_handed_over_and_a_foreign_head_takes_none():
    first_run, att, saved, first = predecessor()
    first_run.acked_seq = 4  # rows 2-4 checkpointed
    handed = first_run.hand_over()
    assert handed is not None and [link[1] for link in handed["links"]] == [5, 6, 7]
    resumed = Chain.resume(KEY, "h/s", {"chain": "h/s", "seq": 4, "head": first[2]["event"]["hash"]})
    assert resumed.replay(handed) and met_again(resumed, 5) == [first[3]]
    # a head the links do not follow (the state saved elsewhere): nothing taken, the chain seals as before
    assert not Chain.resume(KEY, "h/s", saved).replay(handed)
    assert not Chain.resume(KEY, "h/s", {"chain": "h/s", "seq": 4, "head": "x"}).replay(handed)
    first_run.acked_seq = 7
    assert first_run.hand_over() is None



def test_an_attestation_among_the_links_not_checkpointed_is_re_issued_in_its_place():
    """A reload stopped the source while an attestation sealed between rows waited for its checkpoint (an output
    down; the wait given up, the source's next batch sealed after it). The re-read never meets an attestation
    again: it re-issues the predecessor's own document in its place. Only the event links were handed over before:
    the re-read sent rows 5-6 right after row 4, and each trail said "missing: sequences 5" with nothing missing."""
    chain = Chain(KEY, "h/s")
    att = chain.seal(chain.attestation("start", {}, HOST, {}))
    chain.acked_seq = chain.seq  # its checkpoint
    saved = chain.state()
    first = [chain.seal(row(i), str(i)) for i in (2, 3, 4)]
    prev = chain.head
    interval = chain.seal(chain.attestation("interval", {}, HOST, {}))
    chain.keep_attestation("att-5", prev, interval)
    first += [interval, *(chain.seal(row(i), str(i)) for i in (5, 6))]  # sequences 2-4, 5 (attestation), 6-7
    handed = orjson.loads(orjson.dumps(chain.hand_over()))  # as saved with the successor's state
    successor, again = re_read(handed, saved, [1, 2, 3, 4, 5, 6, 7])
    assert again[:6] == first and [d["event"]["sequence"] for d in again[6:]] == [8, 9]  # the late row 1, row 7
    end = successor.seal(successor.attestation("stop", {}, HOST, {}))
    assert report([att, *again, end]).intact, report([att, *again, end]).problems  # sent the whole re-read
    # stdout stored rows 2-4 and the attestation before the reload: it is sent the rest
    assert report([att, *first[:4], *again[4:], end]).intact
    # reloaded again before the re-read met the rows around it: handed on once more, and re-issued in its place
    middle = Chain.resume(KEY, "h/s", saved)
    assert middle.replay(handed) and met_again(middle, 2) == first[:1]
    _, once_more = re_read(orjson.loads(orjson.dumps(middle.hand_over())), saved, [2, 3, 4, 5, 6])
    assert once_more == first
    # checkpointed, it is handed over no more
    chain.acked_seq = 5
    handed = chain.hand_over()
    assert handed is not None and [link[1] for link in handed["links"]] == [6, 7] and "attestations" not in handed
