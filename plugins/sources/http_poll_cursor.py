"""Per-service cursor of `type: http_poll`: how many commits were shipped, and enough to notice (and
recover from) the history changing under the offset.

The activity API has no commit id: the only cursor is the offset of a commit in the ascending list
(what Puppet's own pe_event_forwarding keeps). Offsets shift when the database is pruned or restored,
so the cursor also keeps
- `last`: a digest of the last shipped commit; each page is asked from offset-1 and its first commit
  must be that one (the anchor), otherwise the history moved;
- `recent`: digests of the commits shipped within `window` seconds (commit time) of the newest one;
  after a move the source re-reads from that time on and skips those digests once each (a multiset,
  because two identical commits in the same second are two real events).
Known limit: the anchor compares one commit, so if two identical commits (same second, subject,
objects, events) sit side by side and pruning removes exactly the commits before the second one,
the move goes unnoticed and that second commit is not shipped.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

MAX_RECENT = 2000  # bounds the checkpoint; a window holding more commits is a misconfiguration


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
    max_ts: float | None = None
    recent: list[list] = field(default_factory=list)  # [[ts or None, digest], ...] in shipping order
    skip: Counter = field(default_factory=Counter)  # digests to skip once each after a re-sync
    skip_until: float | None = None

    @classmethod
    def from_state(cls, state: Any) -> "Cursor":
        if not isinstance(state, dict):
            return cls()
        return cls(
            offset=int(state.get("offset", 0)),
            last=state.get("last"),
            max_ts=state.get("max_ts"),
            recent=[list(x) for x in state.get("recent", [])],
            skip=Counter(state.get("skip", {})),
            skip_until=state.get("skip_until"),
        )

    def to_state(self) -> dict[str, Any]:
        out: dict[str, Any] = {"offset": self.offset, "last": self.last, "max_ts": self.max_ts, "recent": self.recent}
        if self.skip:
            out["skip"] = dict(self.skip)
            out["skip_until"] = self.skip_until
        return out

    def take(self, commit: Any, window: float) -> bool:
        """Count a commit as passed; True if it is to be shipped, False if a re-sync found it already shipped."""
        digest = commit_digest(commit)
        ts = commit_time(commit)
        if self.skip and ts is not None and self.skip_until is not None and ts > self.skip_until:
            self.skip.clear()  # past the old history: nothing further can be a repeat
        ship = True
        if self.skip.get(digest, 0) > 0:
            self.skip[digest] -= 1
            if self.skip[digest] <= 0:
                del self.skip[digest]
            ship = False
        self.offset += 1
        self.last = digest
        if ts is not None and (self.max_ts is None or ts > self.max_ts):
            self.max_ts = ts
        if ship:
            self.recent.append([ts, digest])
            self._trim(window)
        return ship

    def _trim(self, window: float) -> None:
        if self.max_ts is not None:
            floor = self.max_ts - window
            self.recent = [r for r in self.recent if r[0] is None or r[0] >= floor]
        if len(self.recent) > MAX_RECENT:
            self.recent = self.recent[-MAX_RECENT:]

    def resync_from(self, offset: int) -> None:
        """The history moved: continue at `offset`, skipping what was shipped within the window once each."""
        self.skip = Counter(d for _, d in self.recent) + self.skip
        self.skip_until = self.max_ts
        self.offset = offset
        self.last = None

    def cutoff(self, window: float) -> float | None:
        """Re-read from this commit time after a move (None: from the beginning)."""
        if self.max_ts is None:
            return None
        return self.max_ts - window
