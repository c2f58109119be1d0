"""Evidence that a trail is complete and unaltered: a keyed hash chain per source, with attestations.

With `integrity: {key_file: …}` every event a source emits becomes a link of that source's chain:

- `labels.shipper_chain` names the chain (`<host>/<source>`, fixed when the chain starts),
- `event.sequence` is the event's place in it (1, 2, 3, … with no gaps),
- `event.hash` is `<key id>:<hex>`, the HMAC-SHA256 under the secret key of the previous link's hash
  and the event's RFC 8785 canonical JSON (without `event.hash`).

Removing, altering, reordering or inserting an event therefore breaks the chain for anyone who
holds the key (`shipper verify`), and nobody without it can mend it. Attestation events
(`event.dataset: shipper.attestation`) are links too: they carry the counts since the previous one,
so a reader tells "nothing happened" from "the agent was gone" (docs/evidence.md).

The chain's head is saved with the source's checkpoint, in the same transaction, only once the
batch is acknowledged. After a kill -9 the source reads the unacknowledged batches again and seals
them from the same head: the same events get the same sequence numbers and hashes, so the store's
de-duplication by `_id` still works. One exception: the time an event tagged `_parse_failure` was
read, which a replay changes, is left out of its hash: `event.created` when the parser found the
product's time (then in `@timestamp`, covered), else `@timestamp` itself (the record is in
`event.original`, which is covered); so is the `@timestamp` of an event tagged `_read_time` (a
record with no time of its own). So is `log.file.path`: a replay after a rotation reads the
same records from the renamed file.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson
import rfc8785

from shipper.ecs import ECS_VERSION, PARSE_FAILURE, READ_TIME, iso_utc, now_iso
from shipper.metrics import OutputCounts, SourceCounts
from shipper.secrets import SecretError, read_secret

STATE_KEY = "integrity.chain"  # the chain's head in a source's checkpoint state
# The links a replay re-issues (Chain.replay): saved when a re-read after a reload starts, deleted with the
# checkpoint of the batch that ends it, so a kill -9 meanwhile re-reads with the same links.
REPLAY_KEY = "integrity.replay"
SEALED_KEY = "integrity.sealed"  # the highest sequence sealed (perhaps not acknowledged) so far
DATASET = "shipper.attestation"
SAFE_INT = 2 ** 53 - 1  # RFC 8785 (I-JSON) numbers: larger integers are hashed as their decimal text


@dataclass(frozen=True)
class Key:
    id: str
    secret: bytes

    @classmethod
    def from_text(cls, text: str) -> "Key":
        secret = text.encode()
        # An id that names the key without revealing anything about it: rotation and "unknown key".
        return cls(hmac.new(secret, b"shipper key id", hashlib.sha256).hexdigest()[:16], secret)


MIN_KEY_CHARS = 16


def load_key(path: str) -> Key:
    """The key from its file (first line, trimmed), like every other secret; never logged."""
    if not path:
        raise SecretError("no integrity key file named")
    # read_secret never blocks: a FIFO with no writer is refused at once, a pipe with one
    # (`--key-file <(gpg -d key.gpg)`) is read within a bounded wait, a device is bounded in size.
    text = read_secret(path, None, "integrity key")
    if text is None:
        raise SecretError("no integrity key file named")
    return Key.from_text(text)


def load_verifying_keys(path: str) -> list[Key]:
    """The keys a key file may name for `shipper verify`: as the agent reads it (load_key) and, when
    it begins with a UTF-8 byte order mark (an auditor's copy saved by an editor that adds one), also
    without the mark: the agent's own copy is not likely to have it, and a wrong key only fails."""
    key = load_key(path)
    text = key.secret.decode()
    return [key] + ([Key.from_text(text.lstrip("\ufeff").strip())] if text.startswith("\ufeff") else [])


def load_sealing_key(path: str) -> Key:
    """The agent's key: as load_key, refusing one too short to stay secret. Every event carries
    the key id (an HMAC of a fixed text under the key), so anyone with the trail can test guesses
    of a short key offline and then forge the chain. (verify still reads any key: an old trail.)"""
    key = load_key(path)
    if len(key.secret) < MIN_KEY_CHARS:
        raise SecretError(f"integrity key file {path} holds {len(key.secret)} bytes, fewer than {MIN_KEY_CHARS}: "
                          "too short to stay secret (make one with: head -c 32 /dev/urandom | base64)")
    return key


def _normalised(value: Any) -> Any:
    """What a reader of the stored JSON sees, in the canonical form's number domain."""
    if isinstance(value, dict):
        return {k: _normalised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and not -SAFE_INT <= value <= SAFE_INT:
        return str(value)
    return value


def canonical(event: dict) -> bytes:
    """RFC 8785 bytes of the event as stored, without event.hash; a parse failure's read time and
    log.file.path left out (see the module doc).

    rfc8785 (the library) costs ~26 µs an event in pure Python, as much as all the rest of the agent.
    For the JSON where the two provably agree — no floats (RFC 8785 writes 1.0 as 1), integers within
    ±2^53, keys below U+D800 (RFC 8785 sorts by UTF-16 units, orjson by code points) — orjson with
    sorted keys writes the same bytes ~10× faster (property test: tests/core/test_integrity.py); anything
    else goes to the library.
    """
    return canonical_of(hashed_part(event))


def hashed_part(event: dict) -> dict:
    """The event as its hash covers it: without event.hash, event.ingested, a parse failure's read time
    (event.created if it has one, else @timestamp), the @timestamp of one tagged _read_time and log.file.path (shallow copies where one is left
    out; the event is not changed)."""
    doc = event
    ev = event.get("event")
    tags = event.get("tags")
    failed = isinstance(tags, list) and PARSE_FAILURE in tags
    # A parse failure's time: the product's when it carries event.created (the read time, left out
    # instead), else the read time (docs/evidence.md)
    product_time = isinstance(ev, dict) and failed and isinstance(ev.get("created"), str)
    # event.ingested is the store's (its ingest pipeline sets it after sealing); the agent never sets it
    if isinstance(ev, dict) and ("hash" in ev or "ingested" in ev or product_time):
        doc = dict(event)
        doc["event"] = {k: v for k, v in ev.items() if k not in ("hash", "ingested") and not (product_time and k == "created")}
    # A record with no time of its own, tagged so (the tag is covered): @timestamp is its read time
    read_time = isinstance(tags, list) and READ_TIME in tags
    if (read_time or failed and not product_time) and "@timestamp" in event:
        doc = dict(doc) if doc is event else doc
        del doc["@timestamp"]
    log = event.get("log")
    if isinstance(log, dict) and isinstance(log.get("file"), dict) and "path" in log["file"]:
        # The file's name as it was read: a replay after a rotation reads the record from the renamed file
        doc = dict(doc) if doc is event else doc
        doc["log"] = {**log, "file": {k: v for k, v in log["file"].items() if k != "path"}}
    return doc


def sorted_json(doc: dict) -> bytes | None:
    """orjson's sorted output of hashed_part(...): canonical_of's bytes whenever the event is plain
    JSON (_plain), None if orjson cannot write it. A reader that finds these bytes sealed by the
    hash knows they are the ones sealed, without the walk over the event (shipper.verify)."""
    try:
        return orjson.dumps(doc, option=_SORTED)
    except TypeError:
        return None


# orjson's sorted output as classes of bytes, to find in C (bytes.translate, find) what may make it
# differ from RFC 8785's: a number with a fraction or an exponent (every float orjson writes has one:
# 1.0, 1e+16), one of 16 characters or more (perhaps past 2^53), a code point from U+D000 on (keys past
# U+D7FF sort otherwise in RFC 8785). Digits and signs become 0, `.eE` a dot, `,` a `[` (a number in a
# list follows either), bytes from 0xED on `~`, the rest a space but `":`; a number follows `":` or `[`.
# Inside a string these only send the event to the walk (_plain), which decides.
_CLASSES = bytes(0x30 if c in b"0123456789-+" else 0x2E if c in b".eE" else 0x5B if c in b",[" else
                 c if c in b'":' else 0x7E if c >= 0xED else 0x20 for c in range(256))
_NUMBER = re.compile(rb"[0.]*")


def _surely_plain(sorted_bytes: bytes) -> bool:
    """True when orjson's sorted output (written with _SORTED) shows none of what _CLASSES finds:
    then it is RFC 8785's. False: perhaps not (the walk decides)."""
    t = sorted_bytes.translate(_CLASSES)
    if not sorted_bytes.isascii() and b"~" in t:
        return False
    for start in (b'":0', b"[0"):
        i = t.find(start)
        while i >= 0:
            at = i + len(start) - 1
            end = _NUMBER.match(t, at).end()  # type: ignore[union-attr]  # (matches the empty string too)
            if end - at >= 16 or b"." in t[at:end]:
                return False
            i = t.find(start, end)
    return True


# Types orjson would write in its own way (a datetime, a dataclass, a subclass of str, int, dict or
# list) are refused, so only JSON's own types are written on the fast path (the rest: the library).
_SORTED = (orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
           | orjson.OPT_PASSTHROUGH_SUBCLASS)


def canonical_of(doc: dict, sorted_bytes: bytes | None = None) -> bytes:
    """RFC 8785 bytes of hashed_part(...)'s result (see canonical). `sorted_bytes`: sorted_json(doc)
    when the caller has it already (not written again for a plain event)."""
    if sorted_bytes is None:
        try:
            sorted_bytes = orjson.dumps(doc, option=_SORTED)
        except TypeError:  # too deep for orjson (255 levels), a key not text, a type of its own: the library
            pass
    if sorted_bytes is not None and (_surely_plain(sorted_bytes) or _plain(doc)):
        return sorted_bytes
    try:
        doc = orjson.loads(orjson.dumps(doc, default=str))  # what a reader of the stored JSON gets
    except TypeError:
        pass  # too deep for orjson: as it is (JSON types already, from a parser)
    try:
        return rfc8785.dumps(doc)
    except rfc8785.IntegerDomainError:  # rare: walk the event only then
        return rfc8785.dumps(_normalised(doc))


def _plain(doc: dict) -> bool:
    """JSON on which orjson's sorted output is RFC 8785's (see canonical). One loop over the
    containers, scalars checked in place: this runs for every event."""
    stack: list = [doc]
    while stack:
        node = stack.pop()
        if node.__class__ is dict:
            for k in node:
                if k.__class__ is not str or (not k.isascii() and max(k, default="") >= "\ud800"):
                    return False
            node = node.values()
        for v in node:
            t = v.__class__
            if t is str or t is bool or v is None:
                continue
            if t is int:
                if -SAFE_INT <= v <= SAFE_INT:
                    continue
                return False
            if t is dict or t is list:
                stack.append(v)
                continue
            return False
    return True


def link_hash(key: Key, prev: str, event: dict) -> str:
    """The value of event.hash for `event` following a link whose event.hash is `prev`."""
    return f"{key.id}:{mac_hex(key.secret, prev, canonical(event))}"


def mac_hex(secret: bytes, prev: str, canonical_form: bytes) -> str:
    """The HMAC part of a link's hash (hmac.digest: the one-shot C path, ~1 µs less than hmac.new)."""
    return hmac.digest(secret, prev.encode() + b"\n" + canonical_form, "sha256").hex()


class Chain:
    """One source's chain: seals events in emission order and says what to checkpoint."""

    def __init__(self, key: Key, chain_id: str, seq: int = 0, head: str = ""):
        self.key = key
        self.id = chain_id
        self.seq = seq
        self.head = head
        # Since the last attestation: what it will report.
        self.since_seq = seq
        self.since_time = time.time()
        self.acked_seq = seq
        self._totals: dict[str, float] = {}
        # The events' links sealed and not yet checkpointed (event id, sequence, previous hash, hash): a reload
        # that restarts the source hands them to its successor, whose re-read meets those events again.
        self.links: list[tuple[str, int, str, str]] = []
        # The attestations sealed and not yet checkpointed, by sequence: (attestation id, previous hash, hash,
        # document). A re-read cannot meet an attestation again, so hand_over passes the document itself: the
        # successor re-issues it in its place (without it, the links after it followed a link no output got).
        self.attests: dict[int, tuple[str, str, str, dict]] = {}
        # A replay (a successor's re-read): the links it has not met again, by event id, and the last one.
        self.pending: dict[str, list[tuple[int, str, str]]] = {}
        self.replay_last: tuple[int, str] | None = None
        self._next: int | None = None
        self._due: dict[int, tuple[dict, str] | None] = {}

    @classmethod
    def resume(cls, key: Key, default_id: str, saved: dict | None) -> "Chain":
        if not saved:
            return cls(key, default_id)
        return cls(key, saved["chain"], int(saved["seq"]), saved["head"])

    def state(self) -> dict[str, Any]:
        return {"chain": self.id, "seq": self.seq, "head": self.head}

    def seal(self, event: dict, event_id: str | None = None) -> dict:
        """A sealed copy of the event (dicts shared between events are never mutated). With `event_id` (an
        event, not an attestation) its link is kept until it is checkpointed (hand_over)."""
        out = self._labelled(event)
        prev = self.head
        self.seq += 1
        out["event"] = {**(event.get("event") or {}), "sequence": self.seq}
        self.head = link_hash(self.key, prev, out)
        out["event"]["hash"] = self.head
        if event_id is not None:
            self._forget_checkpointed()
            self.links.append((event_id, self.seq, prev, self.head))
        return out

    def _labelled(self, event: dict) -> dict:
        out = dict(event)
        labels = event.get("labels")
        out["labels"] = {**(labels if isinstance(labels, dict) else {}), "shipper_chain": self.id}
        return out

    def keep_attestation(self, attestation_id: str, prev: str, doc: dict) -> None:
        """The attestation just sealed (`doc`, after the link whose hash is `prev`) is kept until it is
        checkpointed, for a successor's re-read (hand_over)."""
        self._forget_checkpointed()
        self.attests[self.seq] = (attestation_id, prev, self.head, doc)

    def _forget_checkpointed(self) -> None:
        # (acked_seq is moved by the committer's thread, which never waits for the chain)
        acked = self.acked_seq
        if self.links and self.links[0][1] <= acked:
            self.links = [link for link in self.links if link[1] > acked]
        if self.attests and min(self.attests) <= acked:
            self.attests = {seq: kept for seq, kept in self.attests.items() if seq > acked}

    # --- replay: a re-read after a reload seals again, with the same links, what its predecessor sealed ---
    # The predecessor sealed (and an output may have stored) links the checkpoint does not cover yet. A re-read
    # that sealed them anew would number differently as soon as it meets an event the predecessor did not
    # (a row committed late with a lower id): an output not sent them again (it stored them) would lack the
    # new links. So the re-read gives each event met again its old link, and seals what is new to it after
    # the predecessor's last link, once every old link was met (the caller holds the new ones back until
    # then: an output that stores in order gets the old links before them; docs/evidence.md "Replays after a
    # reload").

    def hand_over(self) -> dict[str, Any] | None:
        """For a successor's re-read (replay): the event links not checkpointed and those still to be met
        again, by sequence, and the attestations not checkpointed (with their documents), as JSON (saved with
        the successor's state). None: nothing to replay."""
        self._forget_checkpointed()
        links = {seq: [event_id, seq, prev, sealed] for event_id, seq, prev, sealed in self.links}
        for event_id, met in self.pending.items():
            for seq, prev, sealed in met:
                links.setdefault(seq, [event_id, seq, prev, sealed])
        if not links and not self.attests:
            return None
        handed: dict[str, Any] = {"links": [links[s] for s in sorted(links)]}
        if self.attests:
            handed["attestations"] = [[seq, i, prev, sealed, doc] for seq, (i, prev, sealed, doc) in sorted(self.attests.items())]
        return handed

    def replay(self, handed: Any) -> bool:
        """Before sealing anything: take over a predecessor's links (hand_over) that follow this chain's
        resumed head. False (nothing taken): they do not (the checkpoint moved past them, or they are not
        this chain's)."""
        try:
            links = [(str(i), int(seq), str(prev), str(sealed)) for i, seq, prev, sealed in handed["links"]]
            attests = [(int(seq), (str(i), str(prev), str(sealed), doc)) for seq, i, prev, sealed, doc
                       in handed.get("attestations", ()) if isinstance(doc, dict)]
        except (TypeError, KeyError, ValueError, AttributeError):
            return False
        links = [link for link in links if link[1] > self.seq]
        attests = [(seq, kept) for seq, kept in attests if seq > self.seq]
        # (sequence, previous hash, hash) of every old link, in order: the first follows this chain's head
        order = sorted([(seq, prev, sealed) for _, seq, prev, sealed in links]
                       + [(seq, prev, sealed) for seq, (_, prev, sealed, _) in attests])
        if not order or order[0][0] != self.seq + 1 or order[0][1] != self.head:
            return False
        self.pending = {}
        for event_id, seq, prev, sealed in links:
            self.pending.setdefault(event_id, []).append((seq, prev, sealed))
        self.attests = dict(attests)
        self.replay_last = order[-1][0], order[-1][2]
        self._next = self.seq + 1  # the next old link due (None: in any order, once the replay ended)
        # Old links met before one before them; the attestations from the start: each is due once every link
        # before it was (an attestation is never met again: it goes out in its place)
        self._due = {seq: (doc, i) for seq, (i, _, _, doc) in attests}
        return True

    def replayed(self, event: dict, event_id: str) -> tuple[list[tuple[dict, str]], bool]:
        """During a replay: (the old links now due, in their order, with their event ids; whether this event
        met one). An event the predecessor sealed (the same content) gets its link, due once every link
        before it was: the re-read may meet them in another order (the predecessor's successor sealed a late
        row after them), and an output that stores in order must get them in theirs. An event new to the
        replay met none (the caller seals it after end_replay); one met again with other content (a reload
        changed its tags) is new, and its old link goes out with nothing (it is not met again)."""
        met = self.pending.get(event_id)
        if met is None:
            return [], False
        out = self._labelled(event)
        same = None
        for link in met:
            out["event"] = {**(event.get("event") or {}), "sequence": link[0]}
            if link_hash(self.key, link[1], out) == link[2]:
                same = link
                break
        seq, prev, sealed = same or met[0]
        met.remove((seq, prev, sealed))
        if not met:
            del self.pending[event_id]
        self._forget_checkpointed()
        self.links.append((event_id, seq, prev, sealed))
        if same is not None:
            out["event"]["hash"] = sealed
        if self._next is None:
            return ([(out, event_id)] if same is not None else []), same is not None
        self._due[seq] = (out, event_id) if same is not None else None
        ready = []
        while self._next in self._due:
            doc = self._due.pop(self._next)
            if doc is not None:
                ready.append(doc)
            self._next += 1
        return ready, same is not None

    def links_due_later(self) -> int:
        """Old links met and held back until those before them are met."""
        return len(self._due)

    def end_replay(self) -> list[tuple[dict, str]]:
        """The replay ends (every old link met, or given up on): what follows is sealed after its last link.
        The old links met and not due yet (some before them were not met), in their order; those not met
        again are kept for a successor's hand_over, and given if met later."""
        assert self.replay_last is not None
        if self.replay_last[0] > self.seq:
            self.seq, self.head = self.replay_last
        self.replay_last, self._next = None, None
        due, self._due = self._due, {}
        return [doc for _, doc in sorted(due.items()) if doc is not None]

    def attestation(self, reason: str, counts: dict[str, Any], host: dict, agent: dict) -> dict:
        """An attestation link: what happened since the previous one (sealed by the caller)."""
        events = self.seq - self.since_seq
        start = iso_utc(datetime.fromtimestamp(self.since_time, timezone.utc))  # written as every @timestamp is
        doc = {
            "@timestamp": now_iso(),
            "ecs": {"version": ECS_VERSION},
            "event": {"kind": "state", "module": "shipper", "dataset": DATASET, "action": "attestation",
                      "reason": reason, "start": start, "end": now_iso()},
            "host": host,
            "agent": agent,
            "message": f"{self.id}: {events} events chained since sequence {self.since_seq} ({reason})",
            # The previous link's hash, stored: an attestation whose predecessor was removed still
            # verifies, so removing the links before it cannot hide it (shipper.verify).
            "shipper": {"attestation": {"previous_sequence": self.since_seq, "events": events,
                                        "previous_hash": self.head,
                                        "acknowledged_sequence": self.acked_seq, **counts}},
        }
        return doc

    def counts(self, source: SourceCounts, outputs: dict[str, OutputCounts]) -> dict[str, Any]:
        """What the agent's counters moved since the last attestation: for the source, and for the
        outputs its events go to, by name (an output's counts cover every source it serves)."""
        now = {"read": source.read.value, "parse_failures": source.parse_failures.value,
               "losses": source.losses.value, "bytes_lost": source.bytes_lost.value}
        for o, c in outputs.items():
            now[f"{o}\0shipped"] = c.shipped.value
            now[f"{o}\0duplicates_avoided"] = c.duplicates_avoided.value
            now[f"{o}\0dead_lettered"] = c.dead_lettered.value
        delta = {k: int(v - self._totals.get(k, 0.0)) for k, v in now.items()}
        self._totals = now
        out: dict[str, Any] = {k: v for k, v in delta.items() if "\0" not in k}
        out["outputs"] = {o: {kind: delta[f"{o}\0{kind}"] for kind in ("shipped", "duplicates_avoided", "dead_lettered")}
                          for o in outputs}
        return out

    def attested(self) -> None:
        self.since_seq = self.seq
        self.since_time = time.time()
