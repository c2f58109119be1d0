"""`shipper verify`: is every chain in a shipped trail intact from its first to its last attestation?

Reads JSON lines as shipped (a stdout capture, Fluentd out_file's `time<TAB>tag<TAB>json`, an
export) and checks each chain (shipper.integrity): every link's HMAC under a known key, no
sequence number missing between the first and the last attestation, no link out of order, and no
loss declared by the agent itself in an attestation. A link's hash covers the previous link's
stored hash, so each link is checked on its own against its predecessor: files are read in parts
by several processes (shipper.verify_read) and only what judges the chain is kept (Seen).
"""
from __future__ import annotations

import hashlib
import hmac
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Iterator

from shipper.integrity import DATASET, Key, canonical_of, hashed_part, mac_hex, sorted_json

# The Fluentd output adds the event's stable id under this key after sealing (its `id_field`
# default, for fluent-plugin-elasticsearch's id_key): not part of what was sealed.
FLUENTD_ID_FIELD = "_shipper_id"
_STABLE_ID = re.compile(r"[0-9a-f]{32}")


@dataclass
class Link:
    """A stored event as read back (from a store, or built by a test): judged as a Seen."""
    seq: int
    hash: str
    doc: dict
    where: str


class Seen:
    """What verify keeps of one link: enough to judge its chain without the event itself (a
    million events as dicts cost gigabytes and the garbage collector's time). `valid` is True once
    its hash is proven to seal it after a predecessor, False when it cannot be (not JSON the agent
    could seal), None while undecided; only then is `canon` (what the hash covers) kept."""
    __slots__ = ("seq", "hash", "file", "line", "digest", "valid", "canon", "att", "eid")

    def __init__(self, seq: int, hash: str, file: str, line: int | None, digest: bytes | None,
                 valid: bool | None, canon: bytes | None, att: dict | None, eid: object):
        self.seq, self.hash, self.file, self.line = seq, hash, file, line
        self.digest, self.valid, self.canon, self.att, self.eid = digest, valid, canon, att, eid

    def __reduce__(self):  # to and from the reading processes as a plain tuple of fields
        return Seen, (self.seq, self.hash, self.file, self.line, self.digest, self.valid, self.canon, self.att,
                      self.eid)

    @property
    def where(self) -> str:
        return self.file if self.line is None else f"{self.file}:{self.line}"

    @property
    def is_attestation(self) -> bool:
        return self.att is not None


def chain_fields(doc: dict) -> tuple[str, int, str] | None:
    """(chain, sequence, hash) of a chained event; None for one without a chain."""
    ev = doc.get("event")
    labels = doc.get("labels")
    if ev.__class__ is not dict or labels.__class__ is not dict:
        return None
    chain, seq, digest = labels.get("shipper_chain"), ev.get("sequence"), ev.get("hash")
    if chain.__class__ is not str or not isinstance(seq, int) or isinstance(seq, bool) or digest.__class__ is not str:
        return None
    return chain, seq, digest


def seen_of(doc: dict, chain_seq_hash: tuple[str, int, str], file: str, line: int | None) -> Seen:
    """An undecided Seen of a stored event (its canonical form kept)."""
    _, seq, digest = chain_seq_hash
    canon = _canonical(_sealed_part(doc))
    return Seen(seq, digest, file, line, _digest(canon), None if canon is not None else False, canon,
                _attestation(doc), doc["event"].get("id"))


def _canonical(doc: dict, sorted_bytes: bytes | None = None) -> bytes | None:
    try:
        return canonical_of(doc, sorted_bytes)
    except (TypeError, ValueError, RecursionError):  # not JSON the agent could have sealed: altered
        return None


def _digest(canon: bytes | None) -> bytes | None:
    """Tells exact copies apart from altered ones without keeping the canonical form."""
    return None if canon is None else hashlib.blake2b(canon).digest()


def _attestation(doc: dict) -> dict | None:
    return doc if doc["event"].get("dataset") == DATASET else None


def _link_where(where: str) -> tuple[str, int | None]:
    file, _, line = where.rpartition(":")
    return (file, int(line)) if file and line.isdigit() else (where, None)


def seals(hash: str, canon: bytes | None, prevs: Iterable[str], secrets: dict[str, bytes]) -> bool:
    """Does `hash` seal the canonical form `canon` after one of `prevs` (previous links' hashes)?"""
    key_id, _, mac = hash.partition(":")
    secret = secrets.get(key_id)
    if secret is None or canon is None:
        return False
    try:
        return any(hmac.compare_digest(mac_hex(secret, p, canon), mac) for p in prevs)
    except (TypeError, ValueError):  # a hash that is not text
        return False


def prevs_of(seq: int, att: dict | None, hashes_before: Iterable[str]) -> list[str]:
    """What a link may follow: the first link "", any other the hashes stored at the sequence
    before it; an attestation also the previous hash it stores."""
    prevs = [""] if seq == 1 else list(hashes_before)
    if att is not None:
        prev = ((att.get("shipper") or {}).get("attestation") or {}).get("previous_hash")
        if isinstance(prev, str):
            prevs.append(prev)
    return prevs


class Settler:
    """Proves links against the predecessors seen so far, as they are read: in a trail in order,
    a link's predecessor came just before it, so it is settled at once and its canonical form
    dropped. The rest wait for `settle_rest` (and what is still open for verify_chain).

    At once means first with orjson's sorted output of the event, without the walk that tells
    whether it is RFC 8785's (integrity.canonical_of): if the hash seals those bytes, they are the
    bytes the agent sealed, whatever the walk would say (an HMAC match proves equal input). Only
    when they do not is the exact canonical form made."""

    def __init__(self, secrets: dict[str, bytes]):
        self.secrets = secrets
        self.hashes: dict[str, dict[int, list[str]]] = defaultdict(dict)
        self.open: list[tuple[str, Seen]] = []

    def add(self, doc: dict, fields: tuple[str, int, str], file: str, line: int | None) -> Seen:
        chain, seq, hash = fields
        by_seq = self.hashes[chain]
        by_seq.setdefault(seq, []).append(hash)
        att = _attestation(doc)
        prevs = prevs_of(seq, att, by_seq.get(seq - 1, ()))
        sealed = _sealed_part(doc)
        fast = sorted_json(sealed)
        if seals(hash, fast, prevs, self.secrets):
            return Seen(seq, hash, file, line, _digest(fast), True, None, att, doc["event"].get("id"))
        canon = _canonical(sealed, fast)  # (for a plain event, the bytes just written)
        valid: bool | None = None if canon is not None else False
        if canon is not None and canon != fast and seals(hash, canon, prevs, self.secrets):
            valid, canon = True, None
        s = Seen(seq, hash, file, line, _digest(canon or fast), valid, canon, att, doc["event"].get("id"))
        if valid is None:
            self.open.append((chain, s))
        return s

    def settle_rest(self) -> None:
        for chain, s in self.open:
            if seals(s.hash, s.canon, prevs_of(s.seq, s.att, self.hashes[chain].get(s.seq - 1, ())), self.secrets):
                s.valid, s.canon = True, None
        self.open = []


@dataclass
class ChainReport:
    chain: str
    links: int = 0
    first: int | None = None  # first and last attested sequence
    last: int | None = None
    duplicates: int = 0
    replays: int = 0  # same place, other content, both sealed with the key (the agent's own replay)
    outside: int = 0  # links before the first or after the last attestation: not judged
    last_attested: str = ""  # the last attestation's end and reason: links after it can be cut unseen
    first_attested: str = ""  # the first one's: links before it can be cut unseen (the head)
    after: list[int] = field(default_factory=list)  # the sequences in the input after the last attestation
    before: list[int] = field(default_factory=list)  # and before the first
    spans: list[tuple[int, str, str, float]] = field(default_factory=list)  # interval attestations: seq, start, end, s
    problems: list[str] = field(default_factory=list)
    losses: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # said by the agent, not failures (vendor id gaps)
    # The outputs its attestations name, and the other chains each of them carried:
    # output -> chain -> [(attestation's sequence, the other chain's sequence then, where, whether that
    # is the acknowledged sequence or only the sealed one)]
    outputs: set[str] = field(default_factory=set)
    beside: dict[str, dict[str, list[tuple[int, int, str, bool]]]] = field(default_factory=dict)

    @property
    def intact(self) -> bool:
        return not self.problems and not self.losses


def links_of(documents: Iterable[tuple[str, dict]], keys: list[Key]) -> tuple[dict[str, list[Seen]], int]:
    """Chains by id from (where, event) pairs (a store read back), and the number of events
    without a chain."""
    chains: dict[str, list[Seen]] = defaultdict(list)
    settler = Settler({k.id: k.secret for k in keys})
    unchained = 0
    for where, doc in documents:
        fields = chain_fields(doc)
        if fields is None:
            unchained += 1
            continue
        chains[fields[0]].append(settler.add(doc, fields, where, None))
    return chains, unchained


def _sealed_part(doc: dict) -> dict:
    """What the link's hash covers (hashed_part). The fields it leaves out, log.file.path, event.ingested
    and a parse failure's @timestamp, hold a string (or null) as the agent writes them: any other value there is content
    riding along unsealed, so it stays in and the link fails its hash."""
    part = hashed_part(_as_sealed(doc))
    log = doc.get("log")
    if isinstance(log, dict) and isinstance(log.get("file"), dict) and not isinstance(log["file"].get("path"), (str, type(None))):
        part["log"] = log
    if "@timestamp" in doc and "@timestamp" not in part and not isinstance(doc["@timestamp"], (str, type(None))):
        part["@timestamp"] = doc["@timestamp"]
    ev = doc.get("event")
    if isinstance(ev, dict) and "ingested" in ev and not isinstance(ev["ingested"], str):
        part["event"] = {**part["event"], "ingested": ev["ingested"]}  # the store writes a date string
    return part


def _as_sealed(doc: dict) -> dict:
    # Only a stable id (shipper.ids: 32 hex digits) is what the output adds: any other value under
    # that name is content nobody sealed, left in so that the link does not match its hash.
    value = doc.get(FLUENTD_ID_FIELD)
    if isinstance(value, str) and _STABLE_ID.fullmatch(value):
        doc = {k: v for k, v in doc.items() if k != FLUENTD_ID_FIELD}
    return doc


def verify_chain(chain: str, links: list[Seen] | list[Link], keys: list[Key], ordered: bool = True,
                 output: str | None = None) -> ChainReport:
    """`ordered`: the links come in the order they were stored (a file), so a moved one is told;
    a store read back has no such order (its sequence numbers are the order). `output`: the output
    whose store the links are (--output): another output's dead letters are not this store's loss."""
    seens = [ln if isinstance(ln, Seen) else seen_of(ln.doc, (chain, ln.seq, ln.hash), *_link_where(ln.where))
             for ln in links]
    rep = ChainReport(chain, links=len(seens))
    secrets = {k.id: k.secret for k in keys}
    # Reordering: within one file (files may be given in any order), a link placed after a later
    # one of its chain, at a place no link took before (a copy or the agent's replay of a link
    # comes after the links it repeats). Told once the attestations say the store keeps order.
    reordered = []
    seen: set[int] = set()
    highest: dict[str, int] = defaultdict(int)
    for ln in seens if ordered else ():
        top = highest[ln.file]
        if ln.seq < top:
            if ln.seq not in seen:
                reordered.append(f"reordered: sequence {ln.seq} at {ln.where} comes after sequence {top}")
        else:
            highest[ln.file] = ln.seq
        seen.add(ln.seq)
    by_seq: dict[int, list[Seen]] = {}
    for ln in seens:
        same = by_seq.get(ln.seq)
        if same is None:
            by_seq[ln.seq] = [ln]
        # An exact copy: the same hash and the same canonical form (Python's == takes 1 for 1.0)
        elif ln.digest is not None and any(o.hash == ln.hash and o.digest == ln.digest for o in same):
            rep.duplicates += 1
        else:
            same.append(ln)
    key_ids = {ln.hash.split(":", 1)[0] for ln in seens}
    unknown = sorted(key_ids - set(secrets))
    for key_id in unknown:
        rep.problems.append(f"sealed with an unknown key (id {_short(key_id)})")
    # Links not proven while read: each against every stored predecessor
    for seq, same in by_seq.items():
        for ln in same:
            if ln.valid is None:
                ln.valid = seals(ln.hash, ln.canon, prevs_of(seq, ln.att, (p.hash for p in by_seq.get(seq - 1, ()))),
                                 secrets)
                ln.canon = None
    if reordered and not _unordered_store(seens, output):
        rep.problems.extend(reordered)
    forks = _forks(by_seq)
    for seq, same in sorted(by_seq.items()):
        for ln in same:
            checkable = seq == 1 or (seq - 1) in by_seq or len(prevs_of(seq, ln.att, ())) > 0
            vouched = _vouched_by(ln, by_seq.get(seq + 1, ())) if not ln.valid and forks and forks[0] < seq else None
            if vouched is not None and ln.hash.split(":", 1)[0] in secrets:
                rep.problems.append(f"forked: sequence {seq}{_event_id(ln)} at {ln.where} does not follow the link at "
                                    f"sequence {seq - 1} in the input, but the attestation at sequence {seq + 1} "
                                    f"({vouched.where}) was sealed after it: it is on another branch of the chain "
                                    f"(see fork, below) whose link before it is not in the input (a store keeps one copy "
                                    "of an event), so its content cannot be checked")
            elif not ln.valid and checkable and ln.hash.split(":", 1)[0] in secrets:
                rep.problems.append(f"altered: sequence {seq}{_event_id(ln)} at {ln.where} does not match its hash")
            elif not ln.valid and not checkable and ln.hash.split(":", 1)[0] in secrets:
                # Its hash folds in the missing link's: neither its content nor its place is proven
                rep.problems.append(f"unproven: sequence {seq}{_event_id(ln)} at {ln.where} follows a missing link, "
                                    "so its hash cannot be checked (it may be altered too)")
    rep.notes.extend(_fork_notes(forks, by_seq, any(p.startswith("forked: ") for p in rep.problems)))
    if len(key_ids) > 1:
        _key_order(rep, by_seq)
    attested = sorted(ln.seq for same in by_seq.values() for ln in same if ln.is_attestation and ln.valid)
    # A chain starts once: a replay never makes its start again (it is sealed before it leaves), so
    # a second one is a chain begun anew under the same name (state_dir lost, or two agents with
    # the same host and source names): its links are not linked to the first one's.
    starts = [ln for ln in by_seq.get(1, ()) if ln.att is not None and ln.valid
              and (ln.att.get("event") or {}).get("reason") == "start"]
    for ln in starts[1:]:
        rep.problems.append(f"started again: a second start of the chain at {ln.where} (the agent's state was "
                            f"lost, or two agents share the name {chain}): the two are not linked")
    if not attested:
        rep.problems.append("no attestation in the input: its completeness cannot be told")
        return rep
    rep.first, rep.last = attested[0], attested[-1]
    last = next(ln for ln in by_seq[rep.last] if ln.att is not None and ln.valid)
    last_ev = (last.att or {}).get("event") or {}
    rep.last_attested = f"{_short(last_ev.get('end'))} ({_short(last_ev.get('reason'))})"
    first_ev = (next(ln for ln in by_seq[rep.first] if ln.att is not None and ln.valid).att or {}).get("event") or {}
    rep.first_attested = f"{_short(first_ev.get('end'))} ({_short(first_ev.get('reason'))})"
    rep.after = sorted(s for s in by_seq if s > rep.last)
    rep.before = sorted(s for s in by_seq if s < rep.first)
    previous: dict | None = None  # the attestation before, for the time no attestation covers
    expected = rep.first  # the places present, in order (not every number between: a sealed
    for seq in sorted(s for s in by_seq if rep.first <= s <= rep.last):  # attestation may stand at 2^63)
        if seq > expected:
            rep.problems.append(f"missing: sequences {_range(expected, seq - 1)}")
        expected = seq + 1
        good = [ln for ln in by_seq[seq] if ln.valid]
        rep.replays += max(0, len(good) - 1)
        for ln in good:
            if ln.att is not None:
                unread = _not_in_form(ln.att)
                if unread:
                    rep.problems.append(f"attestation at sequence {seq} ({ln.where}): {unread} is not in the form the "
                                        "agent writes, so what it declares cannot be read")
                    continue
                ev = ln.att.get("event") or {}
                # (not after a fork: an attestation whose own previous one stands before the one before it
                # in sequence follows another branch, whose time is its own)
                since = ((ln.att.get("shipper") or {}).get("attestation") or {}).get("previous_sequence")
                if previous is not None and ln is good[0] and not (_is_int(since) and since < previous["sequence"]):
                    rep.notes.extend(_not_running(previous, ev, seq))
                previous = {**ev, "sequence": seq} if ln is good[0] else previous
                span = _seconds(ev.get("start"), ev.get("end"))
                if ln is good[0] and ev.get("reason") == "interval" and span is not None:
                    rep.spans.append((seq, ev["start"], ev["end"], span))
                losses, elsewhere = _declared_losses(ln, output)
                rep.losses.extend(losses)
                rep.notes.extend(elsewhere)
                rep.notes.extend(_vendor_gaps(ln))
                for output, carried in _chains_beside(ln).items():
                    rep.outputs.add(output)
                    for other, (theirs, acked) in carried.items():
                        rep.beside.setdefault(output, {}).setdefault(other, []).append((seq, theirs, ln.where, acked))
    rep.notes.extend(_long_spans(rep.spans))
    rep.outside = sum(1 for ln in seens if ln.seq < rep.first or ln.seq > rep.last)
    return rep


def _unordered_store(seens: list[Seen], output: str | None) -> bool:
    """The chain's proven attestations say its store has no order of its own to keep (an index, whose
    export pages through it shard by shard): the output `output`, or without it every output they name."""
    ordered: dict[str, bool] = {}
    for ln in seens:
        outputs = (((ln.att or {}).get("shipper") or {}).get("attestation") or {}).get("outputs") if ln.valid else None
        for name, counts in outputs.items() if isinstance(outputs, dict) else ():
            ordered[name] = ordered.get(name, True) and not (isinstance(counts, dict) and counts.get("ordered") is False)
    if output is not None:
        return ordered.get(output) is False
    return bool(ordered) and not any(ordered.values())


def _forks(by_seq: dict[int, list[Seen]]) -> list[int]:
    """Places holding several different links that each prove to be sealed in their place: the chain
    sealed more than once from the link before (the agent's replays, or a fork), in order."""
    return sorted(seq for seq, same in by_seq.items() if len({ln.hash for ln in same if ln.valid}) > 1)


def _vouched_by(ln: Seen, after: Iterable[Seen]) -> Seen | None:
    """A proven attestation right after `ln` that names ln's hash as the one it was sealed after: ln's
    hash is then the agent's, whatever its content."""
    for a in after:
        if a.valid and a.att is not None:
            prev = ((a.att.get("shipper") or {}).get("attestation") or {}).get("previous_hash")
            if prev == ln.hash:
                return a
    return None


def _fork_notes(forks: list[int], by_seq: dict[int, list[Seen]], branch_unseen: bool) -> list[str]:
    """A fork named where two branches of the chain went on: two places in a row each with several
    proven links (both branches in the input), or a link shown to be on another branch (branch_unseen).
    A replay after a kill -9 seals one place twice but goes on from one of them only, and is not named."""
    out = []
    for seq in forks:
        if not (seq + 1 in forks or branch_unseen):
            continue
        links = [ln for ln in by_seq[seq] if ln.valid]
        ends = {id(ln): ((ln.att or {}).get("event") or {}).get("end") for ln in links
                if ((ln.att or {}).get("event") or {}).get("reason") == "resume"}
        resumed = [ln for ln in links if id(ln) in ends]
        where = ", ".join(ln.where + (f" (resume, {_short(ends[id(ln)])})" if id(ln) in ends else "") for ln in links[:5])
        why = ("the agent resumed the chain twice from the same saved state: its state was rolled back (a VM "
               "snapshot or a backup of its state_dir restored) or copied to another agent" if len(resumed) > 1 else
               "a reload that changed the source's tags while batches were in flight, or the agent's state rolled "
               "back (a VM snapshot or a backup of its state_dir restored)")
        out.append(f"fork: the chain was sealed more than once from sequence {seq - 1} on: sequence {seq} holds "
                   f"{len(links)} different links, each sealed in its place ({where}): {why}")
        break  # the first fork: the branches go on from there
    return out


def _key_order(rep: ChainReport, by_seq: dict[int, list[Seen]]) -> None:
    """A rotation replaces the key for good: a key sealing a link after a later key took over is
    one retired by a rotation, used again — a leaked old key forging the chain's tail, unless the
    old key was made current again (docs/evidence.md). Replays of one place under both keys (a
    restart across the rotation) are no return. The spans are printed: an auditor who knows when a
    key was rotated sees a chain that never changed keys."""
    spans: list[list] = []  # [key id, first sequence, last sequence]
    last_span: dict[str, list] = {}  # each key's latest span (only it can go on)
    retired: set[str] = set()
    current: set[str] = set()
    for seq in sorted(by_seq):
        keys = {ln.hash.split(":", 1)[0] for ln in by_seq[seq] if ln.valid}
        if not keys:
            continue
        for key_id in sorted(keys & retired):
            rep.problems.append(f"key order: sequence {seq} is sealed with key {_short(key_id)}, which a later key had "
                                f"replaced (a retired key used again)")
        retired |= current - keys
        current = keys
        for key_id in sorted(keys):
            span = last_span.get(key_id)
            if span is None or span[2] < seq - 1:
                span = last_span[key_id] = [key_id, seq, seq]
                spans.append(span)
            else:
                span[2] = seq
    if len({sp[0] for sp in spans}) > 1:
        told = [f"{_short(k)} sequences {_range(a, b)}" for k, a, b in (spans if len(spans) <= 20 else spans[:10])]
        if len(spans) > 20:  # keys changing back and forth (each return is named above)
            told += [f"… ({len(spans)} spans in all)"] + [f"{_short(k)} sequences {_range(a, b)}" for k, a, b in spans[-10:]]
        rep.notes.append("keys: " + ", ".join(told))


def _chains_beside(ln: Seen) -> dict[str, dict[str, tuple[int, bool]]]:
    """Per output an attestation names, the other chains it says that output carried: (the sequence every
    output of that chain had acknowledged then, True), or (the sequence it had sealed, False) from an
    attestation older than `acknowledged` — sealed links may still have been on their way (a 429 retried)."""
    outputs = (((ln.att or {}).get("shipper") or {}).get("attestation") or {}).get("outputs")
    if not isinstance(outputs, dict):
        return {}
    out = {}
    for name, counts in outputs.items():
        listed = counts.get("chains") if isinstance(counts, dict) else None
        out[name] = {c["chain"]: (c["acknowledged"], True) if _is_int(c.get("acknowledged")) else (c["sequence"], False)
                     for c in listed if isinstance(c, dict) and isinstance(c.get("chain"), str)
                     and _is_int(c.get("sequence"))} if isinstance(listed, list) else {}
    return out


def absent_chains(reports: dict[str, ChainReport], output: str | None = None) -> list[str]:
    return [_escaped(line) for line in _absent_chains(reports, output)]


def _absent_chains(reports: dict[str, ChainReport], output: str | None) -> list[str]:
    """Chains missing from the input altogether, the one loss no chain of its own can show. Each
    attestation names, per output of its source, the other chains that output carried, at their
    sequence then: one that went on sealing between two attestations in the input sent its links to
    that output meanwhile, so a store of that output without a single link of it was cut.

    Which output's store the input is: `output` when the auditor names it (--output); otherwise
    every output that each chain in the input went to. Where several could be and they carried
    different chains, the input cannot be judged complete (the same links of a chain make both
    stores): it is said, with what each would lack, and the auditor names the output."""
    judged = {name: rep for name, rep in reports.items() if rep.outputs}
    out: list[str] = []
    if output is not None:
        for name, rep in sorted(judged.items()):
            if output not in rep.outputs:
                named = _short(", ".join(sorted(rep.outputs)), 300)
                out.append(f"chain {_short(name)}: its attestations name outputs {named}, not {_short(output)}: its "
                           "links are not from that output's store")
        candidates = [output]
    else:
        common = set.intersection(*(rep.outputs for rep in judged.values())) if judged else set()
        if not common:  # a trail of several outputs' stores together: what all outputs of a chain carried
            return out + [line for _, line in _absent_for(reports, judged, None)]
        candidates = sorted(common)
    lacks = {o: _absent_for(reports, judged, o) for o in candidates}
    if len({frozenset(chain for chain, _ in v) for v in lacks.values()}) <= 1:
        return out + [line for _, line in lacks[candidates[0]]]
    out.append(f"the input could be the store of any of the outputs {_short(', '.join(candidates), 300)} (every "
               "chain in it went to each of them), and they carried different chains: name the output it is from "
               "(--output NAME)")
    for o in candidates:
        out.extend(f"  if it is {_short(o)}'s store: {line}" for line in [ln for _, ln in lacks[o]] or ["nothing is missing"])
    return out


def _absent_for(reports: dict[str, ChainReport], judged: dict[str, ChainReport], output: str | None
                ) -> list[tuple[str, str]]:
    """Chains absent from the input that `output` carried (None: that every output of the attesting
    chain carried) and that sealed links between two attestations naming them, and chains present
    whose links after their last attestation stop short of where an attestation saw them:
    (chain, what to say)."""
    out = []
    named: set[str] = set()
    for name, rep in sorted(judged.items()):
        if output is None:
            per = [rep.beside.get(o, {}) for o in rep.outputs]
            carried = {c: per[0][c] for c in set.intersection(*(set(p) for p in per))} if per else {}
            where = f"every output of chain {_short(name)}"
        else:
            carried = rep.beside.get(output, {})
            where = f"output {_short(output)}"
        for other, seen in sorted(carried.items()):
            if other in named:
                continue
            low, high = min(seen, key=lambda x: x[1]), max(seen, key=lambda x: x[1])
            if other in reports:  # present: the links this chain saw it seal must be too
                cut = _cut(reports[other], low[1], high[1])
                if cut:
                    named.add(other)
                    how = "acknowledged" if high[3] else "sealing"
                    out.append((other, f"chain {_short(other)}: sequences {cut} are not in the input, though chain "
                                       f"{_short(name)}'s attestations at sequences {low[0]} ({low[2]}) and "
                                       f"{high[0]} ({high[2]}) record it {how} up to sequence {high[1]} for "
                                       f"{where}: its head or tail was cut"))
            elif high[1] > low[1]:
                named.add(other)
                did = "its outputs had acknowledged" if high[3] else "it sealed"
                out.append((other, f"chain {_short(other)}: none of its links is in the input, though {did} "
                                   f"sequences {_range(low[1] + 1, high[1])} meanwhile for {where} (chain "
                                   f"{_short(name)}'s attestations at sequences {low[0]}, {low[2]} and {high[0]}, "
                                   f"{high[2]})"))
    return out


def _cut(rep: ChainReport, low: int, high: int) -> str:
    """The sequences low+1..high (sealed for an output while another chain's attestations watched)
    outside the chain's own attested span that the input lacks, as ranges; "" if none. Inside the
    span verify_chain judged them; a chain without an attestation is not intact already."""
    if rep.first is None or rep.last is None:
        return ""
    ranges: list[str] = []
    for lo, hi, present in ((max(low + 1, 1), min(high, rep.first - 1), rep.before),
                            (max(low + 1, rep.last + 1), high, rep.after)):
        expected = lo
        for seq in present:
            if seq > hi:
                break
            if seq >= expected:
                if seq > expected:
                    ranges.append(_range(expected, seq - 1))
                expected = seq + 1
        if expected <= hi:
            ranges.append(_range(expected, hi))
    return ", ".join(ranges if len(ranges) <= 10 else ranges[:5] + [f"… ({len(ranges)} ranges)"] + ranges[-5:])


def _seconds(start: object, end: object) -> float | None:
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _long_spans(spans: list[tuple[int, str, str, float]]) -> list[str]:
    """Interval attestations far longer than the chain's usual one: the agent was frozen (SIGSTOP)
    or starved of CPU for that long, and nothing was attested meanwhile. The usual span is the
    median of the chain's own (verify does not know attest_interval)."""
    if len(spans) < 3:
        return []
    usual = sorted(s for *_, s in spans)[len(spans) // 2]
    return [f"the attestation at sequence {seq} covers {_short(start)} to {_short(end)}, {span:.0f} s, where this "
            f"chain's usually cover {usual:.0f} s: the agent was frozen or starved meanwhile, attesting nothing"
            for seq, start, end, span in spans if span > max(3 * usual, usual + 2)]


def _not_running(before: dict, after: dict, seq: int) -> list[str]:
    """The time between one attestation's end and the next one's start, when no attestation covers
    it: the agent was not running (stopped, killed; its restart resumes the chain), or not attesting."""
    try:
        gap = (datetime.fromisoformat(after["start"]) - datetime.fromisoformat(before["end"])).total_seconds()
    except (KeyError, TypeError, ValueError):  # not times as the agent writes them (naive beside aware: TypeError)
        return []
    if gap < 1:  # the next period begins as the last one is written
        return []
    return [f"no attestation covers {_short(before['end'])} to {_short(after['start'])} (between sequences {before['sequence']} "
            f"({_short(before.get('reason'))}) and {seq} ({_short(after.get('reason'))})): the agent was not "
            "running, or not attesting"]


def _is_int(v: object) -> bool:
    return v.__class__ is int


def _not_in_form(doc: dict) -> str | None:
    """The first field verify reads from an attestation that is not as the agent writes it, or None.
    Only someone holding the key seals one like that (or a program not the agent): it is named, not
    read, so that its counts cannot crash or mislead the verdict."""
    sh = doc.get("shipper")
    if sh is not None and not isinstance(sh, dict):
        return "shipper"
    att = (sh or {}).get("attestation")
    if att is None:
        return None  # nothing declared (what an attestation of no counts says; a test's minimal one)
    if not isinstance(att, dict):
        return "shipper.attestation"
    at = "shipper.attestation."
    for k in ("losses", "bytes_lost"):
        if att.get(k) is not None and not _is_int(att[k]):
            return at + k
    lost = att.get("lost")
    if lost is not None and not (isinstance(lost, list) and all(isinstance(x, dict) for x in lost)):
        return at + "lost"
    outputs = att.get("outputs")
    if outputs is not None and not isinstance(outputs, dict):
        return at + "outputs"
    for name, counts in (outputs or {}).items():
        if not isinstance(counts, dict) or (counts.get("dead_lettered") is not None
                                            and not _is_int(counts["dead_lettered"])):
            return f"{at}outputs.{_short(name)}"
        chains = counts.get("chains")
        if chains is not None and not (isinstance(chains, list) and all(
                isinstance(c, dict) and isinstance(c.get("chain"), str) and _is_int(c.get("sequence"))
                and (c.get("acknowledged") is None or _is_int(c["acknowledged"])) for c in chains)):
            return f"{at}outputs.{_short(name)}.chains"
    gaps = att.get("vendor_id_gaps")
    if gaps is None:
        return None
    if not isinstance(gaps, dict) or (gaps.get("ids") is not None and not _is_int(gaps["ids"])):
        return at + "vendor_id_gaps"
    ranges, numbered = gaps.get("ranges"), gaps.get("numbered")
    if ranges is not None and not (isinstance(ranges, list) and all(
            isinstance(r, list) and len(r) == 2 and _is_int(r[0]) and _is_int(r[1]) for r in ranges)):
        return at + "vendor_id_gaps.ranges"
    if numbered is not None and not (isinstance(numbered, list) and all(
            isinstance(x, dict) and _is_int(x.get("first")) and _is_int(x.get("last")) for x in numbered)):
        return at + "vendor_id_gaps.numbered"
    return None


# What a terminal obeys rather than shows: C0 and C1 controls, DEL, and the line, paragraph and
# direction marks (a report line rewritten, cleared or reordered by the attacker's text).
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def _escaped(line: str) -> str:
    return _CONTROLS.sub(lambda m: m.group().encode("unicode_escape").decode(), line)


def _short(value: object, most: int = 100) -> str:
    """A value from the input, printed: at most `most` characters (a hostile trail's 1 MB key id is not),
    and controls escaped (\\x1b, \\u202e), so that every line of the report is verify's own."""
    text = str(value)
    text = text if len(text) <= most else f"{text[:most]}… ({len(text)} characters)"
    return _escaped(text)


def _declared_losses(ln: Seen, output: str | None) -> tuple[list[str], list[str]]:
    """The losses an attestation declares (the source's, and every output's dead letters, or only
    `output`'s when the store is known), and the dead letters of the other outputs (notes)."""
    att = (((ln.att or {}).get("shipper") or {}).get("attestation") or {})
    out, elsewhere = [], []
    if att.get("losses") or att.get("bytes_lost"):
        named = [f"{_short(x.get('what'), 300)} ({_short(x.get('bytes') or 'unknown')} bytes)"
                 for x in att.get("lost") or ()]
        out.append(f"the agent declared {att.get('losses', 0)} losses ({att.get('bytes_lost', 0)} bytes known"
                   f"{': ' + ', '.join(named) if named else ''}) in the attestation at sequence {ln.seq} ({ln.where})")
    for name, counts in (att.get("outputs") or {}).items():
        if isinstance(counts, dict) and counts.get("dead_lettered"):
            said = (f"output {_short(name)} dead-lettered {counts['dead_lettered']} events "
                    f"(attestation at sequence {ln.seq}, {ln.where})")
            if output is None or name == output:
                out.append(said)
            else:
                elsewhere.append(f"{said}: a loss of that output's store, not of {_short(output)}'s")
    return out, elsewhere


def _vendor_gaps(ln: Seen) -> list[str]:
    gaps = ((((ln.att or {}).get("shipper") or {}).get("attestation") or {}).get("vendor_id_gaps") or {})
    if not isinstance(gaps, dict) or not gaps.get("ids"):
        return []
    listed = [(a, b, None) for a, b in gaps.get("ranges") or ()]
    listed += [(x["first"], x["last"], x.get("numbering")) for x in gaps.get("numbered") or ()
               if isinstance(x, dict) and isinstance(x.get("first"), int) and isinstance(x.get("last"), int)]
    listed = listed[-100:]  # as many as the agent lists (a forged attestation may list more)
    ranges = ", ".join((f"{a}-{b}" if a != b else str(a)) + (f" of the {_short(n)}" if n else "") for a, b, n in listed)
    if sum(b - a + 1 for a, b, _ in listed) < gaps["ids"]:
        ranges = f"the last {len(listed)} ranges: {ranges}"  # an attestation lists at most 100
    return [f"the product's own ids skip {gaps['ids']} numbers never read ({ranges}): ask its database "
            f"(attestation at sequence {ln.seq}, {ln.where})"]


def _event_id(ln: Seen) -> str:
    return f" (event.id {_short(ln.eid)})" if ln.eid is not None else ""


def _range(a: int, b: int) -> str:
    return str(a) if a == b else f"{a}-{b}"


def report_lines(rep: ChainReport) -> Iterator[str]:
    """The report of one chain, a line at a time; nothing from the input can end or rewrite a line
    (a store's document id in `where` included)."""
    return (_escaped(line) for line in _report_lines(rep))


def _report_lines(rep: ChainReport) -> Iterator[str]:
    span = f"sequences {rep.first}-{rep.last}" if rep.first is not None else "no attested span"
    extra = []
    if rep.duplicates:
        extra.append(f"{rep.duplicates} exact copies")
    if rep.replays:
        extra.append(f"{rep.replays} replays")
    if rep.outside:
        extra.append(f"{rep.outside} links outside the attested span, not judged")
    state = "intact" if rep.intact else "NOT INTACT"
    yield f"chain {_short(rep.chain, 300)}: {span}, {rep.links} links{(', ' + ', '.join(extra)) if extra else ''}: {state}"
    if rep.first_attested:  # docs/evidence.md: check that it is at or before the period's start (the head)
        yield f"  first attestation: {rep.first_attested}"
    if rep.last_attested:  # docs/evidence.md: check that it is recent (a cut tail leaves no other trace)
        yield f"  last attestation: {rep.last_attested}"
    for p in rep.problems:
        yield f"  {p}"
    for loss in rep.losses:
        yield f"  loss: {loss}"
    for note in rep.notes:
        yield f"  note: {note}"
