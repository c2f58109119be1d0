"""shipper.memo.BoundedMemo: the one memo of the project. It answers what it was told, never grows past
its entries, and keeps no long key (a hostile feed of distinct or huge values must not pile up)."""
from __future__ import annotations

import gc
import tracemalloc

import pytest
from hypothesis import given, strategies as st

from shipper.memo import MISSING, BoundedMemo, key_chars

keys = st.one_of(st.text(max_size=40), st.integers(), st.none(),
                 st.tuples(st.text(max_size=10), st.text(max_size=10)), st.binary(max_size=20))


@given(st.lists(st.tuples(keys, st.integers()), max_size=300), st.integers(1, 50), st.integers(0, 30))
def test_answers_what_it_was_told_within_its_bounds(pairs, entries, chars):
    memo: BoundedMemo = BoundedMemo(max_entries=entries, max_key_chars=chars)
    told = {}
    for k, v in pairs:
        assert memo.remember(k, v) == v
        told[k] = v
        assert len(memo) <= entries
        if key_chars(k) > chars:
            assert k not in memo
        else:
            assert memo.get(k) == v  # the latest is always kept (the memo is emptied before, never after)
    for k, v in told.items():  # whatever it still holds is the latest answer given for that key
        got = memo.get(k, MISSING)
        assert got is MISSING or got == v


def test_none_is_an_answer_and_lookup_computes_once():
    memo: BoundedMemo = BoundedMemo(max_entries=4)
    calls = []

    def make(k):
        calls.append(k)
        return None

    assert memo.lookup("x", make) is None and memo.lookup("x", make) is None
    assert calls == ["x"]
    assert memo.get("x", MISSING) is None and memo.get("y", MISSING) is MISSING


def test_key_size_counts_the_text_of_tuples_and_huge_numbers():
    assert key_chars("abc") == 3 and key_chars(b"ab") == 2 and key_chars(None) == 0 and key_chars(7) == 0
    assert key_chars(("ab", "c")) == 5  # 3 characters + one per member
    assert key_chars(10 ** 100_000) > 1000  # an integer of 100,000 digits is no small key
    assert key_chars(frozenset({"a"})) == 2


def test_refuses_nonsense_bounds():
    with pytest.raises(ValueError):
        BoundedMemo(max_entries=0)


def test_a_hostile_feed_keeps_no_long_text():
    """300 distinct values of 100 kB each: none is kept, and short ones are bounded by the entries."""
    memo: BoundedMemo = BoundedMemo(max_entries=64, max_key_chars=1024)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(300):
            memo.remember(f"{i:08d}" + "x" * 100_000, i)
        for i in range(100_000):
            memo.remember(f"short-{i}", i)
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(memo) <= 64
    assert kept < 200_000  # 30 MB if the long texts were kept, ~8 MB if the short ones were
