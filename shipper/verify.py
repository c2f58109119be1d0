"""`shipper verify`: is every chain in a shipped trail intact from its first to its last attestation?

Reads JSON lines as shipped (a stdout capture, Fluentd out_file's `time<TAB>tag<TAB>json`, an
export) and checks each chain (shipper.integrity): every link's HMAC under a known key, no
sequence number missing between the first and the last attestation, no link out of order, and no
loss declared by the agent itself in an attestation. A link's hash covers the previous link's
stored hash, so each link is checked on its own against its predecessor: the work splits across
processes for large trails.
"""
from __future__ import annotations

import hmac
import json
import multiprocessing
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import orjson

from shipper.integrity import DATASET, Key, canonical, link_hash

# The Fluentd output adds the event's stable id under this key after sealing (its `id_field`
# default, for fluent-plugin-elasticsearch's id_key): not part of what was sealed.
FLUENTD_ID_FIELD = "_shipper_id"


@dataclass
class Link:
    seq: int
    hash: str
    doc: dict
    where: str  # file:line

    @property
    def is_attestation(self) -> bool:
        ev = self.doc.get("event") or {}
        return ev.get("dataset") == DATASET


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
    problems: list[str] = field(default_factory=list)
    losses: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # said by the agent, not failures (vendor id gaps)

    @property
    def intact(self) -> bool:
        return not self.problems and not self.losses


def read_links(paths: Iterable[str]) -> tuple[dict[str, list[Link]], list[str], int]:
    """Chains by id (links in file order), problems of the input itself, and the number of events
    without a chain."""
    problems: list[str] = []

    def documents() -> Iterator[tuple[str, dict]]:
        for path in paths:
            with open(path, "rb") as f:
                for n, line in enumerate(f, 1):
                    try:
                        doc = _document(line)
                    except _RepeatedKey:
                        problems.append(f"{path}:{n}: a key repeated in one object: not the event as sealed")
                        continue
                    if doc is not None:
                        yield f"{path}:{n}", doc
                    elif line.strip():
                        problems.append(f"{path}:{n}: not a JSON event")

    chains, unchained = links_of(documents())
    return chains, problems, unchained


def links_of(documents: Iterable[tuple[str, dict]]) -> tuple[dict[str, list[Link]], int]:
    """Chains by id from (where, event) pairs, and the number of events without a chain."""
    chains: dict[str, list[Link]] = defaultdict(list)
    unchained = 0
    for where, doc in documents:
        ev = doc.get("event") if isinstance(doc.get("event"), dict) else {}
        labels = doc.get("labels") if isinstance(doc.get("labels"), dict) else {}
        chain, seq, digest = labels.get("shipper_chain"), ev.get("sequence"), ev.get("hash")
        if not isinstance(chain, str) or not isinstance(seq, int) or not isinstance(digest, str):
            unchained += 1
            continue
        chains[chain].append(Link(seq, digest, doc, where))
    return chains, unchained


class _RepeatedKey(ValueError):
    pass


def _document(line: bytes) -> dict | None:
    line = line.strip()
    if not line:
        return None
    for text in (line, line.rsplit(b"\t", 1)[-1]):  # a bare event, or out_file's time, tag, record
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue
        if isinstance(doc, dict):
            _no_repeated_keys(text, doc)
            return doc
    return None


def _no_repeated_keys(text: bytes, doc: dict) -> None:
    """Raise _RepeatedKey if an object in `text` names a key twice. Parsers disagree on which copy
    counts (orjson keeps the last, others the first), and RFC 8785 (I-JSON) forbids it, so such a
    line is not the event the agent sealed. orjson's own output of the parsed event equal to the
    line proves there is none (a repeated key would be missing from it): the usual case, a stdout
    capture, costs one dumps; other writers' lines (Fluentd's, a store's) take the slow check."""
    try:
        if orjson.dumps(doc) == text:
            return
    except TypeError:  # nested deeper than orjson writes: the slow check
        pass
    try:
        json.loads(text, object_pairs_hook=_unique_pairs)
    except RecursionError:
        return  # too deep for Python's parser: left to the hash check, which names it
    except ValueError as e:
        if isinstance(e, _RepeatedKey):
            raise
        return


def _unique_pairs(pairs: list[tuple[str, object]]) -> dict:
    d = dict(pairs)
    if len(d) != len(pairs):
        raise _RepeatedKey("a repeated key")
    return d


def _check(job: tuple[dict[str, bytes], list[tuple[str, str, dict]]]) -> list[bool]:
    """For each (previous hash, hash, event): does the hash seal the event after the previous one?"""
    secrets, items = job
    out = []
    for prev, digest, doc in items:
        key_id = digest.split(":", 1)[0]
        secret = secrets.get(key_id)
        if secret is None:
            out.append(False)
            continue
        try:
            ok = hmac.compare_digest(link_hash(Key(key_id, secret), prev, _as_sealed(doc)), digest)
        except (TypeError, ValueError, RecursionError):  # not JSON the agent could have sealed: altered
            ok = False
        out.append(ok)
    return out


def _as_sealed(doc: dict) -> dict:
    if FLUENTD_ID_FIELD in doc:
        doc = {k: v for k, v in doc.items() if k != FLUENTD_ID_FIELD}
    return doc


def _same_event(a: dict, b: dict) -> bool:
    """An exact copy: the same canonical form (Python's == takes 1 for true and 1.0)."""
    try:
        return canonical(_as_sealed(a)) == canonical(_as_sealed(b))
    except (TypeError, ValueError, RecursionError):
        return False


def _check_all(keys: list[Key], items: list[tuple[str, str, dict]], workers: int) -> list[bool]:
    secrets = {k.id: k.secret for k in keys}
    if workers <= 1 or len(items) < 20_000:
        return _check((secrets, items))
    size = -(-len(items) // (workers * 4))
    jobs = [(secrets, items[i:i + size]) for i in range(0, len(items), size)]
    with multiprocessing.get_context("forkserver").Pool(workers) as pool:
        return [ok for part in pool.map(_check, jobs) for ok in part]


def verify_chain(chain: str, links: list[Link], keys: list[Key], workers: int = 1,
                 ordered: bool = True) -> ChainReport:
    """`ordered`: the links come in the order they were stored (a file), so a moved one is told;
    a store read back has no such order (its sequence numbers are the order)."""
    rep = ChainReport(chain, links=len(links))
    known = {k.id for k in keys}
    # Reordering: within one file (files may be given in any order), a link placed after a later
    # one of its chain, at a place no link took before (a copy or the agent's replay of a link
    # comes after the links it repeats).
    seen: set[int] = set()
    highest: dict[str, int] = defaultdict(int)
    for ln in links if ordered else ():
        file = ln.where.rsplit(":", 1)[0]
        if ln.seq < highest[file] and ln.seq not in seen:
            rep.problems.append(f"reordered: sequence {ln.seq} at {ln.where} comes after sequence {highest[file]}")
        seen.add(ln.seq)
        highest[file] = max(highest[file], ln.seq)
    by_seq: dict[int, list[Link]] = {}
    for ln in links:
        same = by_seq.setdefault(ln.seq, [])
        if any(o.hash == ln.hash and _same_event(o.doc, ln.doc) for o in same):
            rep.duplicates += 1
        else:
            same.append(ln)
    unknown = sorted({ln.hash.split(":", 1)[0] for ln in links} - known)
    for key_id in unknown:
        rep.problems.append(f"sealed with an unknown key (id {key_id})")
    # Each link against each stored predecessor; the first link of the chain follows "", and an
    # attestation also the predecessor hash it stores.
    jobs: list[tuple[str, str, dict]] = []
    owners: list[Link] = []
    for seq, same in by_seq.items():
        prevs = [""] if seq == 1 else [p.hash for p in by_seq.get(seq - 1, ())]
        for ln in same:
            for prev in prevs + _stored_previous(ln):
                jobs.append((prev, ln.hash, ln.doc))
                owners.append(ln)
    valid = {id(ln) for ln, ok in zip(owners, _check_all(keys, jobs, workers)) if ok}
    for seq, same in sorted(by_seq.items()):
        for ln in same:
            checkable = seq == 1 or (seq - 1) in by_seq or _stored_previous(ln)
            if id(ln) not in valid and checkable and ln.hash.split(":", 1)[0] in known:
                rep.problems.append(f"altered: sequence {seq}{_event_id(ln)} at {ln.where} does not match its hash")
    attested = sorted(ln.seq for same in by_seq.values() for ln in same if ln.is_attestation and id(ln) in valid)
    # A chain starts once: a replay never makes its start again (it is sealed before it leaves), so
    # a second one is a chain begun anew under the same name (state_dir lost, or two agents with
    # the same host and source names): its links are not linked to the first one's.
    starts = [ln for ln in by_seq.get(1, ()) if ln.is_attestation and id(ln) in valid
              and (ln.doc.get("event") or {}).get("reason") == "start"]
    for ln in starts[1:]:
        rep.problems.append(f"started again: a second start of the chain at {ln.where} (the agent's state was "
                            f"lost, or two agents share the name {chain}): the two are not linked")
    if not attested:
        rep.problems.append("no attestation in the input: its completeness cannot be told")
        return rep
    rep.first, rep.last = attested[0], attested[-1]
    last = next(ln for ln in by_seq[rep.last] if ln.is_attestation and id(ln) in valid)
    last_ev = last.doc.get("event") or {}
    rep.last_attested = f"{last_ev.get('end')} ({last_ev.get('reason')})"
    missing_from: int | None = None
    for seq in range(rep.first, rep.last + 1):
        same = by_seq.get(seq)
        if not same:
            missing_from = seq if missing_from is None else missing_from
            continue
        if missing_from is not None:
            rep.problems.append(f"missing: sequences {_range(missing_from, seq - 1)}")
            missing_from = None
        good = [ln for ln in same if id(ln) in valid]
        rep.replays += max(0, len(good) - 1)
        for ln in good:
            if ln.is_attestation:
                rep.losses.extend(_declared_losses(ln))
                rep.notes.extend(_vendor_gaps(ln))
    rep.outside = sum(1 for ln in links if ln.seq < rep.first or ln.seq > rep.last)
    return rep


def _stored_previous(ln: Link) -> list[str]:
    if not ln.is_attestation:
        return []
    prev = ((ln.doc.get("shipper") or {}).get("attestation") or {}).get("previous_hash")
    return [prev] if isinstance(prev, str) else []


def _declared_losses(ln: Link) -> list[str]:
    att = ((ln.doc.get("shipper") or {}).get("attestation") or {})
    out = []
    if att.get("losses") or att.get("bytes_lost"):
        named = [f"{x.get('what')} ({x.get('bytes') or 'unknown'} bytes)" for x in att.get("lost") or ()
                 if isinstance(x, dict)]
        out.append(f"the agent declared {att.get('losses', 0)} losses ({att.get('bytes_lost', 0)} bytes known"
                   f"{': ' + ', '.join(named) if named else ''}) in the attestation at sequence {ln.seq} ({ln.where})")
    for name, counts in (att.get("outputs") or {}).items():
        if isinstance(counts, dict) and counts.get("dead_lettered"):
            out.append(f"output {name} dead-lettered {counts['dead_lettered']} events "
                       f"(attestation at sequence {ln.seq}, {ln.where})")
    return out


def _vendor_gaps(ln: Link) -> list[str]:
    gaps = (((ln.doc.get("shipper") or {}).get("attestation") or {}).get("vendor_id_gaps") or {})
    if not isinstance(gaps, dict) or not gaps.get("ids"):
        return []
    listed = gaps.get("ranges") or ()
    ranges = ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in listed)
    if sum(b - a + 1 for a, b in listed) < gaps["ids"]:
        ranges = f"the last {len(listed)} ranges: {ranges}"  # an attestation lists at most 100
    return [f"the product's own ids skip {gaps['ids']} numbers never read ({ranges}): ask its database "
            f"(attestation at sequence {ln.seq}, {ln.where})"]


def _event_id(ln: Link) -> str:
    vid = (ln.doc.get("event") or {}).get("id")
    return f" (event.id {vid})" if vid is not None else ""


def _range(a: int, b: int) -> str:
    return str(a) if a == b else f"{a}-{b}"


def report_lines(rep: ChainReport) -> Iterator[str]:
    span = f"sequences {rep.first}-{rep.last}" if rep.first is not None else "no attested span"
    extra = []
    if rep.duplicates:
        extra.append(f"{rep.duplicates} exact copies")
    if rep.replays:
        extra.append(f"{rep.replays} replays")
    if rep.outside:
        extra.append(f"{rep.outside} links outside the attested span, not judged")
    state = "intact" if rep.intact else "NOT INTACT"
    yield f"chain {rep.chain}: {span}, {rep.links} links{(', ' + ', '.join(extra)) if extra else ''}: {state}"
    if rep.last_attested:  # docs/evidence.md: check that it is recent (a cut tail leaves no other trace)
        yield f"  last attestation: {rep.last_attested}"
    for p in rep.problems:
        yield f"  {p}"
    for loss in rep.losses:
        yield f"  loss: {loss}"
    for note in rep.notes:
        yield f"  note: {note}"
