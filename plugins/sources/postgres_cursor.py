"""The id cursor of the postgres source: the highest id shipped plus the gaps below it still awaited.

Why gaps: an id (serial / identity) is taken from the sequence at INSERT but becomes visible at
COMMIT. Transaction A takes id 5, B takes id 6 and commits first: a poll sees 6 and not 5. A plain
`id > last` cursor would move past 5 and never ship it. So every id missing below the highest one
read is remembered as a gap and looked up again on every poll until its row shows up (shipped once,
then removed from the gaps) or the gap is known to stay empty (rolled back, or a sequence value
never used: sequences are not transactional, holes are normal).

When a gap is closed (dropped without a row):
1. Transaction horizon. When a poll finds new gaps it takes a transaction id of its own
   (`txid_current()`, after reading the rows): every transaction that already had an id when the
   rows were read has a smaller one. That id is kept with the gap as its `xmax`. Once a later
   snapshot's `xmin` (oldest transaction still running) is >= it, all those transactions have ended
   and a committed row would be visible in that snapshot; if it is still missing there, it will
   not come. The check uses the same snapshot as the lookup of the gap rows (one REPEATABLE READ
   transaction). Why not the snapshot's own xmax: it is "latest completed + 1", and a running
   transaction with a larger id is in no list at all (seen in tests: a transaction that took its
   xid early and its id late commits id 6 while the holder of id 5 runs unlisted).
   On a hot standby no transaction id can be taken: `xmax` is None, and only rule 3 applies.
2. Grace. The horizon must also be at least `grace` seconds old: PostgreSQL hands out the
   sequence value before the inserting transaction has an id (nextval runs before the row is
   written; BEFORE triggers can make that long), and such a transaction is invisible to rule 1.
3. Hard limits. A gap older than `max_age` is abandoned even when the horizon has not passed
   (a session left idle in transaction holds `xmin` back for everyone), and at most `max_gaps`
   ranges are kept (the oldest go first). Abandoning is logged as a warning and counted: it is the
   one place where a row could still be missed, if it committed later still.

Limits (documented for operators): ids are assumed to grow with insertion order of the sequence;
sessions that cache sequence values (`CACHE > 1`), or rows inserted later with an explicit old id,
fill gaps only within the limits above. A cursor starts at 0, or below the lowest id if ids <= 0
exist then (postgres._start_id); an id <= 0 inserted after that is below the cursor and not read.

Gaps are kept as ranges [lo, hi], so a sequence jump (e.g. +32 after a crash) costs one entry.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable


@dataclass(slots=True)
class Gap:
    lo: int  # first missing id
    hi: int  # last missing id (inclusive)
    xmax: int | None  # a txid taken after the rows were read (None: read from a standby)
    seen: float  # wall-clock time it was first seen (survives restarts, unlike a monotonic clock)

    def to_json(self) -> list:
        return [self.lo, self.hi, self.xmax, self.seen]


@dataclass(slots=True)
class Expired:
    closed: int  # ranges closed by the horizon rule: certainly empty
    abandoned: list[Gap]  # ranges given up by max_age / max_gaps: possibly a late row missed


NOTHING_CHECKED = (1, 0)  # for expire(): an empty id range


class IdCursor:
    """Also who the table is, to notice it being re-created, truncated or restored under the cursor:
    `oid` and `node` (pg_class oid and relfilenode: DROP+CREATE changes the first, TRUNCATE the second),
    `anchor` (a digest of the row at max_id: ids that reappear with other contents), `server` (the cluster's
    system identifier: another cluster answering at the same address) and `epoch` (how many times the source
    started over on a new table; rows of epoch n > 0 get ids `<id>-r<n>`)."""

    def __init__(self, max_id: int = 0, gaps: Iterable[Gap] = (), *, epoch: int = 0, oid: int | None = None,
                 node: int | None = None, anchor: str | None = None, anchor_time: str | None = None,
                 unread: int = 0, counted_to: int | None = None, seen_top: int | None = None,
                 seq_seen: int | None = None, server: str | None = None):
        self.max_id = max_id
        self.server = server
        # While the id sequence is below max_id (a row written with an id above it: by hand, merged from
        # elsewhere), the last sequence value already awaited: every value it hands out after is awaited as
        # a gap, since those rows come below the cursor. None: the sequence is not behind.
        self.seq_seen = seq_seen
        # Rows above the cursor not read yet, counted (in chunks, by the id index) up to `counted_to`, and
        # the highest id the table had: if the table goes (dropped, truncated, restored) these rows are
        # what was lost, and the warning counts them.
        self.unread = unread
        self.counted_to = max_id if counted_to is None else max(counted_to, max_id)
        self.seen_top = seen_top
        self.gaps: list[Gap] = sorted(gaps, key=lambda g: g.lo)
        self.epoch = epoch
        self.oid = oid
        self.node = node
        self.anchor = anchor
        self.anchor_time = anchor_time  # created_at of the row at max_id, as text

    @classmethod
    def from_state(cls, state: Any) -> "IdCursor":
        """From a checkpoint value; raises ValueError if it is not one this module wrote."""
        if not isinstance(state, dict) or not isinstance(state.get("max_id"), int):
            raise ValueError(f"not a postgres cursor: {state!r}")
        gaps = []
        for g in state.get("gaps") or []:
            lo, hi, xmax, seen = g
            gaps.append(Gap(int(lo), int(hi), None if xmax is None else int(xmax), float(seen)))
        table = state.get("table") or {}
        if not isinstance(table, dict):
            raise ValueError(f"not a postgres cursor: {state!r}")
        return cls(state["max_id"], gaps, epoch=int(table.get("epoch", 0)), oid=table.get("oid"),
                   node=table.get("node"), anchor=table.get("anchor"), anchor_time=table.get("anchor_time"),
                   unread=int(table.get("unread", 0)), counted_to=table.get("counted_to"),
                   seen_top=table.get("seen_top"), server=table.get("server"),
                   seq_seen=state["seq_seen"] if isinstance(state.get("seq_seen"), int) else None)

    def to_state(self) -> dict:
        out = {"max_id": self.max_id, "gaps": [g.to_json() for g in self.gaps],
               "table": {"epoch": self.epoch, "oid": self.oid, "node": self.node, "anchor": self.anchor,
                         "anchor_time": self.anchor_time, "unread": self.unread, "counted_to": self.counted_to,
                         "seen_top": self.seen_top, "server": self.server}}
        if self.seq_seen is not None:
            out["seq_seen"] = self.seq_seen
        return out

    def follow_sequence(self, seq_last: int, xmax: int | None, now: float) -> bool:
        """The id sequence's last value now. Below max_id, the ids it hands out from now on are below the
        cursor: each new one is awaited as a gap (found and shipped, or closed by the gap rules). True when
        the sequence is first found behind (to be said once)."""
        if seq_last >= self.max_id:
            self.seq_seen = None  # caught up: ids above the cursor again
            return False
        if self.seq_seen is None or seq_last < self.seq_seen:  # (a sequence set back: from its new value)
            first = self.seq_seen is None
            self.seq_seen = seq_last
            return first
        if seq_last > self.seq_seen:
            self.gaps.append(Gap(self.seq_seen + 1, seq_last, xmax, now))
            self.gaps.sort(key=lambda g: g.lo)
            self.seq_seen = seq_last
        return False

    def count_from(self) -> int:
        """Rows above this id are not counted yet."""
        return max(self.counted_to, self.max_id)

    def note_unread(self, read_ids: list[int], old_max: int, counted: tuple[int, int] | None,
                    top: int | None) -> None:
        """After a poll: `read_ids` (shipped above `old_max`) are no longer unread; `counted` is (rows, up to
        id) counted above count_from() in the same snapshot; `top` the table's highest id then."""
        before = self.counted_to
        self.unread = max(0, self.unread - sum(1 for i in read_ids if old_max < i <= before))
        if self.max_id >= before:
            self.unread = 0  # read past what was counted (late commits below it are not owed)
        self.counted_to = max(before, self.max_id)
        if counted is not None:
            self.unread += counted[0]
            self.counted_to = max(self.counted_to, counted[1])
        self.seen_top = top

    def lost_if_gone(self) -> tuple[int, int, int]:
        """If the table went now: rows counted unread, ids above the cursor not counted (a bound on more
        rows), and ids still awaited in gaps (rows perhaps never committed)."""
        uncounted = max(0, (self.seen_top or 0) - self.count_from())
        return self.unread, uncounted, self.missing()

    def chunk(self, start_after: int | None, n: int) -> list[Gap]:
        """At most n gap ranges, the first one above `start_after` (wrapping around): the gaps are
        looked up a chunk at a time, so a lookup that times out shrinks instead of wedging the source."""
        if not self.gaps:
            return []
        i = 0
        if start_after is not None:
            i = next((k for k, g in enumerate(self.gaps) if g.lo > start_after), 0)
        return self.gaps[i:i + n] or self.gaps[:n]

    def ranges(self) -> tuple[list[int], list[int]]:
        """Lower and upper bounds of the gaps, for `unnest(lo[], hi[])`."""
        return [g.lo for g in self.gaps], [g.hi for g in self.gaps]

    def missing(self) -> int:
        return sum(g.hi - g.lo + 1 for g in self.gaps)

    def creates_gaps(self, ids: list[int]) -> bool:
        """Whether advance(ids) would record a gap (the caller then needs an xmax for it)."""
        prev = self.max_id
        for i in ids:
            if i > prev + 1:
                return True
            prev = max(prev, i)
        return False

    def advance(self, ids: list[int], xmax: int | None, now: float) -> list[int]:
        """Take the ids of rows read above max_id (ascending, one snapshot); remember the holes.

        Returns the ids to ship: all of them, except any not above max_id (never shipped twice).
        """
        out = []
        prev = self.max_id
        for i in ids:
            if i <= prev:
                continue
            if i > prev + 1:
                self.gaps.append(Gap(prev + 1, i - 1, xmax, now))
            out.append(i)
            prev = i
        self.max_id = prev
        return out

    def fill(self, ids: list[int]) -> list[int]:
        """Take the ids of rows found inside gaps; returns those that were awaited (others: already
        shipped, and dropped). Each gap is split around the ids found in it."""
        if not ids:
            return []
        found = sorted(set(ids))
        out: list[int] = []
        gaps: list[Gap] = []
        j = 0
        for g in self.gaps:
            while j < len(found) and found[j] < g.lo:
                j += 1  # not in any gap: a duplicate
            lo = g.lo
            while j < len(found) and found[j] <= g.hi:
                f = found[j]
                if f > lo:
                    gaps.append(Gap(lo, f - 1, g.xmax, g.seen))
                out.append(f)
                lo = f + 1
                j += 1
            if lo <= g.hi:
                gaps.append(Gap(lo, g.hi, g.xmax, g.seen))
        self.gaps = gaps
        return out

    def expire(self, snapshot_xmin: int | None, now: float, grace: float, max_age: float, max_gaps: int,
               checked: tuple[int, int] | None = None) -> Expired:
        """Close the gaps this snapshot proves empty; abandon those past the hard limits.

        Only gaps inside `checked` (lo, hi: the ids looked up, completely, in the snapshot whose xmin is given)
        can be closed; None: every gap was (NOTHING_CHECKED: none). The hard limits apply whether or not a
        lookup succeeded."""
        keep: list[Gap] = []
        closed = 0
        abandoned: list[Gap] = []
        for g in self.gaps:
            age = now - g.seen
            if ((checked is None or checked[0] <= g.lo and g.hi <= checked[1]) and g.xmax is not None
                    and snapshot_xmin is not None and snapshot_xmin >= g.xmax and age >= grace):
                closed += 1
            elif age >= max_age:
                abandoned.append(g)
            else:
                keep.append(g)
        if len(keep) > max_gaps:
            by_age = sorted(keep, key=lambda g: (g.seen, g.lo))
            drop = by_age[: len(keep) - max_gaps]
            abandoned.extend(drop)
            dropped = {id(g) for g in drop}
            keep = [g for g in keep if id(g) not in dropped]
        self.gaps = keep
        return Expired(closed, abandoned)
