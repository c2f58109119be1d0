"""Per-service cursor of `type: http_poll`: how many commits were shipped, and enough to notice (and
recover from) the history changing under the offset.

The activity API has no commit id: the only cursor is the offset of a commit in the list ascending by
commit time (what Puppet's own pe_event_forwarding keeps). Offsets shift when the database is pruned or
restored, and when a commit is stamped earlier than commits already listed (the server's clock stepped
back, or one commit was stamped in the future and every later one sorts before it). So the cursor also
keeps
- `last`: a digest of the last commit passed; each page is asked from offset-1 and its first commit
  must be that one (the anchor), otherwise the history moved;
- `recent`: digests of the `keep` shipped commits with the newest commit times (a count, not a time
  span: a clock step of any size is covered as long as fewer than `keep` commits were stamped after the
  step's new time), and `floor`, the newest commit time ever dropped from it: every shipped commit
  stamped after `floor` is in `recent`. After a move the source re-reads from the first commit stamped
  after `floor` and skips those digests once each (a multiset, because two identical commits in the
  same second are two real events); what sorts before that point and was never passed is counted.
Known limits: the anchor compares one commit, so if two identical commits (same second, subject,
objects, events) sit side by side and pruning removes exactly the commits before the second one,
the move goes unnoticed and that second commit is not shipped. A commit without a readable timestamp
cannot be placed in time: it is dropped from `recent` first and would be shipped again by a re-read.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

LEGACY_WINDOW = 60.0  # the time span a cursor saved before `floor` existed remembered


def commit_digest(commit: Any) -> str:
    return hashlib.blake2b(orjson.dumps(commit, option=orjson.OPT_SORT_KEYS), digest_size=12).hexdigest()


def commit_time(commit: Any) -> float | None:
    """Commit time as Unix seconds; None if it has none that can be read."""
    if not isinstance(commit, dict):
        return None
    value = commit.get("timestamp")
    if not isinstance(value, str):
        return None
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        return None
    return dt.timestamp()


@dataclass
class Cursor:
    offset: int = 0
    last: str | None = None
    recent: list[list] = field(default_factory=list)  # [[ts or None, digest], ...] in shipping order
    floor: float | None = None  # newest commit time dropped from `recent`; None: nothing dropped yet
    # Digests to skip once each during a re-read, until it reaches the end of the listing (not the total
    # it began with: a server's total may under-count).
    skip: Counter = field(default_factory=Counter)

    @classmethod
    def from_state(cls, state: Any) -> "Cursor":
        if not isinstance(state, dict):
            return cls()
        recent = [list(x) for x in state.get("recent", [])]
        if "floor" in state:
            floor = state["floor"]
        else:  # saved by the time-window cursor: it remembered every commit within 60 s of the newest
            max_ts = state.get("max_ts")
            floor = None if max_ts is None else max_ts - LEGACY_WINDOW - 0.001
        return cls(offset=int(state.get("offset", 0)), last=state.get("last"), recent=recent, floor=floor,
                   skip=Counter(state.get("skip", {})))

    def to_state(self) -> dict[str, Any]:
        out: dict[str, Any] = {"offset": self.offset, "last": self.last, "recent": self.recent, "floor": self.floor}
        if self.skip:
            out["skip"] = dict(self.skip)
        return out

    def take(self, commit: Any, keep: int) -> bool:
        """Count a commit as passed; True if it is to be shipped, False if a re-read found it already shipped."""
        digest = commit_digest(commit)
        ship = True
        if self.skip.get(digest, 0) > 0:
            self.skip[digest] -= 1
            if self.skip[digest] <= 0:
                del self.skip[digest]
            ship = False
        self.offset += 1
        self.last = digest
        if ship:
            self.recent.append([commit_time(commit), digest])
            if len(self.recent) > keep + keep // 8:  # trimmed in steps: a sort per commit would be quadratic
                self.trim(keep)
        return ship

    def trim(self, keep: int) -> None:
        """Keep at most `keep` entries, dropping the oldest commit times whole (a second is never split, so
        every shipped commit stamped after `floor` stays remembered)."""
        if len(self.recent) <= keep:
            return
        stamps = sorted(-1.0e300 if ts is None else ts for ts, _ in self.recent)
        cut = stamps[len(stamps) - keep - 1]
        self.recent = [r for r in self.recent if r[0] is not None and r[0] > cut]
        if cut > -1.0e300:
            self.floor = cut if self.floor is None else max(self.floor, cut)

    def remembered_after_floor(self) -> int:
        return sum(1 for ts, _ in self.recent if ts is not None and (self.floor is None or ts > self.floor))

    def resync_from(self, offset: int) -> None:
        """The history moved: continue at `offset`, skipping the remembered commits once each."""
        self.skip = Counter(d for _, d in self.recent) + self.skip
        self.offset = offset
        self.last = None

    def end_of_reread(self) -> None:
        self.skip.clear()
