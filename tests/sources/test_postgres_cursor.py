"""The id cursor against a model of PostgreSQL's visibility: ids from a sequence at insert, rows
visible at commit, snapshots with xmin = oldest running transaction (hypothesis)."""
from __future__ import annotations

from collections import Counter

from hypothesis import given, settings, strategies as st

from shipper_plugins.sources.postgres_cursor import Gap, IdCursor


class Db:
    def __init__(self):
        self.next_id = 1
        self.next_xid = 100
        self.running: dict[int, list[int]] = {}  # xid -> ids taken
        self.committed: set[int] = set()

    def begin(self) -> int:
        xid = self.next_xid
        self.next_xid += 1
        self.running[xid] = []
        return xid

    def insert(self, xid: int) -> None:
        self.running[xid].append(self.next_id)
        self.next_id += 1

    def end(self, xid: int, commit: bool) -> None:
        ids = self.running.pop(xid)
        if commit:
            self.committed |= set(ids)

    def xmin(self) -> int:
        return min(self.running, default=self.next_xid)


def poll(db: Db, cur: IdCursor, limit: int, now: float, grace: float = 0.0, max_age: float = 1e9) -> list[int]:
    """What PostgresSource._poll does, on the model."""
    xmin = db.xmin()  # the snapshot
    in_gaps = sorted(i for i in db.committed if any(g.lo <= i <= g.hi for g in cur.gaps))[:limit]
    new = sorted(i for i in db.committed if i > cur.max_id)[:limit]
    bound = None
    if cur.creates_gaps(new):
        bound = db.begin()  # txid_current(): the poller's own xid
        db.end(bound, commit=False)
    out = cur.fill(in_gaps) + cur.advance(new, bound, now)
    if len(in_gaps) < limit:
        cur.expire(xmin, now, grace, max_age, 10_000)
    return out


# weighted towards inserts and polls, where out-of-order visibility shows
ops = st.lists(st.tuples(st.sampled_from(["begin", "insert", "insert", "commit", "rollback", "poll", "poll"]),
                         st.integers(0, 7)),
               max_size=120)


@given(ops, st.integers(1, 5))
@settings(max_examples=500, deadline=None)
def test_every_committed_row_is_shipped_exactly_once(script, limit):
    db, cur, shipped, now = Db(), IdCursor(), [], 0.0
    txs: list[int] = []
    for op, k in script:
        now += 1.0
        if op == "begin":
            txs.append(db.begin())
        elif op == "insert" and txs:
            db.insert(txs[k % len(txs)])
        elif op in ("commit", "rollback") and txs:
            db.end(txs.pop(k % len(txs)), op == "commit")
        elif op == "poll":
            shipped += poll(db, cur, limit, now)
        # state survives a restart in between
        cur = IdCursor.from_state(cur.to_state())
    for xid in list(db.running):
        db.end(xid, True)
    for _ in range(db.next_id + 2):
        now += 1.0
        shipped += poll(db, cur, limit, now)
    assert Counter(shipped) == Counter(db.committed)
    assert cur.gaps == []


def test_gap_is_kept_while_a_transaction_older_than_its_bound_runs():
    cur = IdCursor(0)
    assert cur.advance([3], xmax=10, now=0.0) == [3]
    assert cur.gaps == [Gap(1, 2, 10, 0.0)]
    assert cur.expire(snapshot_xmin=9, now=100.0, grace=0, max_age=1000, max_gaps=10).closed == 0
    assert cur.expire(snapshot_xmin=10, now=0.5, grace=1, max_age=1000, max_gaps=10).closed == 0  # grace
    assert cur.expire(snapshot_xmin=10, now=1.0, grace=1, max_age=1000, max_gaps=10).closed == 1
    assert cur.gaps == []


def test_fill_splits_ranges_and_ignores_ids_not_awaited():
    cur = IdCursor(20, [Gap(2, 9, 5, 0.0), Gap(12, 12, 6, 1.0)])
    assert cur.fill([1, 4, 5, 9, 12, 15]) == [4, 5, 9, 12]
    assert cur.gaps == [Gap(2, 3, 5, 0.0), Gap(6, 8, 5, 0.0)]
    assert cur.missing() == 5


def test_limits_abandon_the_oldest_gaps():
    cur = IdCursor(0)
    cur.advance([2, 4, 6, 8], xmax=None, now=0.0)
    cur.gaps[0].seen = -5.0
    exp = cur.expire(snapshot_xmin=10**9, now=1.0, grace=0, max_age=100, max_gaps=2)
    assert exp.closed == 0  # no horizon (standby): never closed as certain
    assert [g.lo for g in exp.abandoned] == [1, 3]
    assert [g.lo for g in cur.gaps] == [5, 7]
    exp = cur.expire(snapshot_xmin=10**9, now=200.0, grace=0, max_age=100, max_gaps=2)
    assert [g.lo for g in exp.abandoned] == [5, 7] and cur.gaps == []


def test_state_round_trip():
    cur = IdCursor(7, [Gap(1, 3, None, 2.5), Gap(5, 5, 99, 3.0)])
    assert IdCursor.from_state(cur.to_state()).to_state() == cur.to_state()


def test_transaction_with_an_early_xid_and_a_late_id_does_not_close_the_gap():
    # R gets its xid first, T takes the lower id; R commits the higher one while T still runs.
    db, cur = Db(), IdCursor()
    r, t = db.begin(), db.begin()
    db.insert(t)
    db.insert(r)
    db.end(r, True)
    assert poll(db, cur, 10, 1.0) == [2]
    assert poll(db, cur, 10, 2.0) == [] and cur.gaps, "T is still running: its id may still come"
    db.end(t, True)
    assert poll(db, cur, 10, 3.0) == [1]


def test_rows_above_the_cursor_are_counted_a_chunk_at_a_time_and_read_rows_leave_the_count():
    """What a table that goes mid-read loses: rows counted unread, plus a bound on ids not counted yet."""
    c = IdCursor(40)
    c.note_unread([], 40, (20_000, 20_040), 300_000)  # a chunk of a big backlog counted
    assert c.lost_if_gone() == (20_000, 300_000 - 20_040, 0)
    ids = list(range(41, 81))
    c.note_unread(c.advance(ids, None, 0.0), 40, (19_990, 40_100), 300_000)  # 40 read, 10 ids of the next chunk absent
    assert c.lost_if_gone() == (20_000 - 40 + 19_990, 300_000 - 40_100, 0)
    c.note_unread(c.advance([50_000], None, 0.0), 80, None, 300_000)  # read past what was counted
    assert (c.unread, c.counted_to) == (0, 50_000)
    again = IdCursor.from_state(c.to_state())
    assert (again.unread, again.counted_to, again.seen_top) == (0, 50_000, 300_000)
