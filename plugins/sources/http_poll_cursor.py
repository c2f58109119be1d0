"""Per-service cursor of `type: http_poll`: how many commits were shipped, and enough to notice (and
recover from) the history changing under the offset.

The activity API has no commit id: the only cursor is the offset of a commit in the list ascending by
commit time (what Puppet's own pe_event_forwarding keeps). Offsets shift when the database is pruned or
restored, and when a commit is stamped earlier than commits already listed (the server's clock stepped
back, or one commit was stamped in the future and every later one sorts before it). So the cursor also
keeps
- `tail`: digests of the commits passed last that share one commit time (`tail_ts`, the cursor's last
  second). Each page is asked from the first of them (offset - len(tail)), and that second is checked
  whole: its commits must lead the page and hold every digest of `tail`; those it holds besides are new
  (they sort among the shipped ones: the API orders commits by time alone, and one second's commits may
  come in another order at each request — SQL ORDER BY without a tie-breaker — so a page boundary inside
  a second does not fall on the same commits twice). The commit before that second is asked too: stamped
  in it, the second begins earlier than the offsets say (pruning balanced by new commits keeps the total,
  and the page may then hold only commits shipped while a new one sorts before them): the history moved.
  A page filled by that second alone is asked again, larger; from a server that caps pages below the
  second's size it is read in windows (http_poll);
- `recent`: digests of the `keep` shipped commits with the newest commit times (a count, not a time
  span: a clock step of any size is covered as long as fewer than `keep` commits were stamped after the
  step's new time), and `floor`, the newest commit time ever dropped from it: every shipped commit
  stamped after `floor` is in `recent`. After a move the source re-reads from the first commit stamped
  after `floor` and skips those digests once each (a multiset, because two identical commits in the
  same second are two real events); what sorts before that point and was never passed is counted.
Digests are of a commit's common form (COMMON: what v1 and v2 both list), so a source moved between the API
versions knows its commits. Known limits: commits alike in second, subject and event messages are twins (their
objects, event types or address are not compared; the messages name the objects). The anchor compares one
commit, so if two identical commits (same second, subject, events) sit side by side and pruning removes exactly the commits before the second one,
the move goes unnoticed and that second commit is not shipped. A commit without a readable timestamp
cannot be placed in time: it is dropped from `recent` first and would be shipped again by a re-read.
The newest second is remembered whole even past `keep` (up to HARD_KEEP commits): dropping it would
count commits stamped in it later as lost.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

LEGACY_WINDOW = 60.0  # the time span a cursor saved before `floor` existed remembered
HARD_KEEP = 100_000  # the newest second is remembered whole up to this many commits (~40 bytes each)


# Prefix of a digest over a commit's common form (not a hex digit: a whole digest may begin with "c"). Cursors
# saved before it compared whole commits (hex only): their digests are replaced as pages show the commits (Cursor.adopt).
COMMON = "c-"


def commit_digest(commit: Any) -> str:
    """A commit's digest over what both API versions list of it: its time, its subject's id and name and its
    events' messages. v2 lists more (`objects` for v1's one `object`, event types, the address, the service),
    so a whole-commit digest changes when an operator moves a source from v1 to v2, and every remembered commit
    would then look new (found: all of them shipped again while the source said it skipped them)."""
    return COMMON + _digest(_common_form(commit))


def whole_digest(commit: Any) -> str:
    """The digest cursors saved before COMMON kept: of the commit whole, as one API version lists it."""
    return _digest(commit)


def _digest(value: Any) -> str:
    return hashlib.blake2b(orjson.dumps(value, option=orjson.OPT_SORT_KEYS), digest_size=12).hexdigest()


def _common_form(commit: Any) -> Any:
    if not isinstance(commit, dict):
        return commit  # not the documented shape: compared whole
    subject, events = commit.get("subject"), commit.get("events")
    if isinstance(subject, dict):
        subject = {k: subject.get(k) for k in ("id", "name")}
    if isinstance(events, list):
        events = [e.get("message") if isinstance(e, dict) else e for e in events]
    return {"timestamp": commit.get("timestamp"), "subject": subject, "events": events}


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


@dataclass(frozen=True, slots=True)
class Listed:
    """A commit as a page listed it, its time and digest worked out once: the cursor compares a commit up to
    three times (in its last second's run, as a repeat, when taking it), and a digest is a sorted dump and a hash."""
    commit: Any
    ts: float | None
    digest: str

    @classmethod
    def of(cls, commit: Any) -> "Listed":
        return cls(commit, commit_time(commit), commit_digest(commit))

    def whole(self) -> str:
        """Its digest as cursors saved before COMMON kept it (asked only while such a cursor is read)."""
        return whole_digest(self.commit)


@dataclass
class Cursor:
    offset: int = 0
    tail: list[str] = field(default_factory=list)  # digests of the last commits passed, all stamped tail_ts
    tail_ts: float | None = None
    # False for a checkpoint saved before `tail` existed: `tail` is then its one `last` commit, compared
    # by position as that cursor did
    tail_exact: bool = True
    recent: list[list] = field(default_factory=list)  # [[ts or None, digest], ...] in shipping order
    floor: float | None = None  # newest commit time dropped from `recent`; None: nothing dropped yet
    # Digests to skip once each during a re-read, until it reaches the end of the listing (not the total
    # it began with: a server's total may under-count).
    skip: Counter = field(default_factory=Counter)
    # the newest second remembered past `keep` (commit time, commits), for the source to warn about once
    oversized: tuple[float, int] | None = None
    oversized_said: float | None = None  # the last such second warned about
    # digest of the commit stamped in the future that the source warned about (once per commit)
    future_warned: str | None = None
    _next_trim: int = 0  # a newest second kept whole is not sorted again before it grew by an eighth
    # commits of the cursor's last second passed again although shipped before (listed again after they
    # vanished from it), for the source to warn about
    reappeared: list[str] = field(default_factory=list)
    _shipped: Counter | None = None  # (commit time, digest) -> copies in `recent`, built when needed
    _tail_copies: Counter | None = None  # digest -> copies in `tail`, built when needed
    # `tail` may lack the first commits of its second (read_from: end, or a one-commit anchor, began inside it)
    tail_partial: bool = False
    # holds whole-commit digests (saved before COMMON): adopt() replaces them as pages show their commits
    legacy: bool = False

    @property
    def last(self) -> str | None:
        return self.tail[-1] if self.tail else None

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
        if "tail" in state:
            tail, tail_ts, exact = list(state["tail"]), state.get("tail_ts"), True
        else:
            last = state.get("last")
            tail, tail_ts, exact = ([last] if last else []), None, False
        cur = cls(offset=int(state.get("offset", 0)), tail=tail, tail_ts=tail_ts, tail_exact=exact,
                  recent=recent, floor=floor, skip=Counter(state.get("skip", {})),
                  future_warned=state.get("future_warned"), oversized_said=state.get("oversized_said"),
                  # no tail past offset 0: begun from the end (or saved so by an older version)
                  tail_partial=state.get("tail_partial") is True or (not tail and int(state.get("offset", 0)) > 0))
        cur.legacy = cur._holds_whole_digests()
        return cur

    def to_state(self) -> dict[str, Any]:
        # `last` too, so that a downgraded agent still finds its anchor
        # copies: a batch's checkpoint is written when the batch is acknowledged, after later pages appended
        # to these lists (commits not yet delivered then counted as shipped after a kill: skipped, lost)
        out: dict[str, Any] = {"offset": self.offset, "last": self.last, "tail": list(self.tail),
                               "tail_ts": self.tail_ts, "recent": list(self.recent), "floor": self.floor}
        if self.skip:
            out["skip"] = dict(self.skip)
        if self.future_warned:
            out["future_warned"] = self.future_warned
        if self.oversized_said is not None:
            out["oversized_said"] = self.oversized_said
        if self.tail_partial:
            out["tail_partial"] = True
        return out

    def _holds_whole_digests(self) -> bool:
        return any(not d.startswith(COMMON) for d in self.tail + [d for _, d in self.recent] + list(self.skip))

    def adopt(self, commits: list[Listed]) -> None:
        """For a cursor saved before COMMON: its whole-commit digests of the commits on this page are replaced by
        their common ones, before the page is compared. Every page begins with the cursor's last second, and a
        re-read meets every remembered commit it skips, so each digest is replaced before it is compared (those
        never met again age out of `recent`). A no-op for a cursor of common digests."""
        if not self.legacy or not commits:
            return
        common = {c.whole(): c.digest for c in commits}
        self.tail = [common.get(d, d) for d in self.tail]
        self.recent = [[ts, common.get(d, d)] for ts, d in self.recent]
        skip: Counter = Counter()
        for d, n in self.skip.items():
            skip[common.get(d, d)] += n
        self.skip = skip
        self._shipped = self._tail_copies = None  # rebuilt from the lists when next needed
        self.legacy = self._holds_whole_digests()

    def tail_starts_second(self) -> bool:
        """Whether `tail` holds its second from the first commit: then the commit listed before it is stamped
        earlier, unless the history moved."""
        return bool(self.tail) and self.tail_exact and not self.tail_partial and self.tail_ts is not None

    def reread(self) -> int:
        """How many commits before the offset the next page starts: the cursor's last second."""
        return min(len(self.tail), self.offset)

    def after_tail(self, commits: list[Listed], at_end: bool) -> tuple[list[Listed], bool, str | None]:
        """`commits` were asked from offset - reread(). Returns the commits not passed yet, whether the
        cursor's last second was seen whole, and why the history moved (None if it did not)."""
        k = self.reread()
        if not k:
            return commits, True, None
        if not self.tail_exact:  # a one-commit anchor, by position
            if not commits or commits[0].digest != self.tail[-1]:
                return [], True, "the commit before the cursor is not the last one shipped"
            return commits[1:], True, None
        run = 0
        while run < len(commits) and commits[run].ts == self.tail_ts:
            run += 1
        whole = run < len(commits) or at_end
        if run < min(k, len(commits)) or (whole and run < k):
            return [], whole, "the commits before the cursor are not those of the last second shipped"
        want = Counter(self.tail)
        new = []
        for c in commits[:run]:
            if want[c.digest] > 0:
                want[c.digest] -= 1
            else:
                new.append(c)
        missing = sum(want.values())
        if whole and missing:
            return [], whole, f"{missing} commit(s) of the last second shipped are no longer listed in it"
        return new + commits[run:], whole, None

    def passed_in_tail(self) -> set[str]:
        """The digests of the last second's commits already passed (for is_repeat over one page: the
        tail may hold up to 100,000 of them, not to be made a set again per commit)."""
        return set(self.tail)

    def is_repeat(self, commit: Listed, passed: set[str]) -> bool:
        """Read by offset inside the cursor's last second: a commit of that second already passed
        (`passed`: passed_in_tail(), taken before the page's commits are taken)."""
        return commit.ts == self.tail_ts and commit.digest in passed

    def take(self, commit: Listed, keep: int, repeat: bool = False) -> bool:
        """Count a commit as passed; True if it is to be shipped, False if a re-read found it already
        shipped (or `repeat`: the caller found it so)."""
        digest, ts = commit.digest, commit.ts
        exact = self.tail_exact  # a checkpoint's one-commit anchor cannot tell twins from a commit listed again
        if self.tail and self.tail_exact and ts == self.tail_ts:
            self.tail.append(digest)
            if self._tail_copies is None:
                self._tail_copies = Counter(self.tail)
            else:
                self._tail_copies[digest] += 1
        else:
            # a second begun after a one-commit anchor may hold it; the first second read from the end is partial
            self.tail_partial = not exact if self.tail else self.tail_partial
            self.tail, self.tail_ts, self.tail_exact = [digest], ts, True
            self._tail_copies = Counter(self.tail)
        ship = not repeat
        if ship and self.skip.get(digest, 0) > 0:
            self.skip[digest] -= 1
            if self.skip[digest] <= 0:
                del self.skip[digest]
            ship = False
        if ship and exact:
            # A commit of the cursor's last second shipped more often than the listing has passed it so far was
            # shipped before: it vanished from the listing (a re-read then forgot it was passed) and is back.
            if self._shipped is None:
                self._shipped = Counter((t, d) for t, d in self.recent)
            if self._shipped[(ts, digest)] >= self._tail_copies[digest]:
                self.reappeared.append(digest)
                ship = False
        self.offset += 1
        if ship:
            self.recent.append([ts, digest])
            if self._shipped is not None:
                self._shipped[(ts, digest)] += 1
            if len(self.recent) > max(keep + keep // 8, self._next_trim):  # trimmed in steps: a sort per
                self.trim(keep)  # commit would be quadratic
        return ship

    def twins_before(self, commit: Listed) -> int:
        """After take(commit): how many commits like it its second held before it (0 for the first). With the
        digest it names the commit whatever its offset: pruning and restores shift offsets, and an output's
        note of what it stored, or an Elasticsearch `_id`, taken from an offset would then name another commit."""
        if not self.tail or commit.ts != self.tail_ts:
            return 0
        if self._tail_copies is None:
            self._tail_copies = Counter(self.tail)
        return max(0, self._tail_copies[commit.digest] - 1)

    def trim(self, keep: int) -> None:
        """Keep at most `keep` entries, dropping the oldest commit times whole (a second is never split, so
        every shipped commit stamped after `floor` stays remembered); the newest second is kept whole even
        past `keep` (up to HARD_KEEP), `oversized` then says so."""
        if len(self.recent) <= keep:
            return
        stamps = sorted(-1.0e300 if ts is None else ts for ts, _ in self.recent)
        cut = stamps[len(stamps) - keep - 1]
        newest = stamps[-1]
        if cut >= newest:  # the newest second alone holds more than `keep`: remembered whole, within bounds
            within = len(stamps) - stamps.index(newest)
            if within <= HARD_KEEP:
                self.oversized = (newest, within)
                older = stamps[:len(stamps) - within]
                if not older:
                    self._next_trim = len(stamps) + len(stamps) // 8
                    return
                cut = older[-1]
        self.recent = [r for r in self.recent if r[0] is not None and r[0] > cut]
        self._shipped = None
        self._next_trim = len(self.recent) + len(self.recent) // 8
        if cut > -1.0e300:
            self.floor = cut if self.floor is None else max(self.floor, cut)

    def remembered_after_floor(self) -> int:
        return sum(1 for ts, _ in self.recent if ts is not None and (self.floor is None or ts > self.floor))

    def resync_from(self, offset: int) -> None:
        """The history moved: continue at `offset`, skipping the remembered commits once each."""
        self.skip = Counter(d for _, d in self.recent) + self.skip
        self.offset = offset
        self.tail, self.tail_ts, self.tail_exact = [], None, True
        self.tail_partial = False  # `offset` is the first commit after `floor`: a second's first
        self._tail_copies = None

    def end_of_reread(self) -> None:
        self.skip.clear()
