"""One bounded memo for the values a parser sees again and again (times, addresses, key sets, actions).

Audit logs repeat: a file holds a few users, roles, actions and key sets, and the lines of one second
share their stamp. Remembering what was computed for a value saves most of a parser's work; a hostile
or merely varied feed (distinct addresses, megabyte values) must not grow memory. So one policy for every
memo of the project: at most `max_entries` entries, emptied at once when full (a feed whose values repeat
refills it within a few lines, and a hit costs one dict lookup with no bookkeeping, which an LRU's
reordering would add to every hit), and no entry for a key whose text is longer than `max_key_chars`.

    _ROLES = BoundedMemo(max_entries=4096, max_key_chars=1024)

    roles = _ROLES.get(value)            # a dict's own get: the hit path stays in C
    if roles is None:
        roles = _ROLES.remember(value, split_roles(value))

A memo whose answers may be None looks up with a sentinel: `_ROLES.get(value, MISSING)`.
What a memo hands out is shared by every caller that asks for the same key: never mutate it (give an
event a copy when it may be changed downstream).
"""
from __future__ import annotations

from enum import Enum
from typing import Callable, Final, Generic, Hashable, Protocol, TypeVar, overload

__all__ = ["BoundedMemo", "MISSING", "key_chars"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
D = TypeVar("D")
_K_in = TypeVar("_K_in", contravariant=True)
_V_out = TypeVar("_V_out", covariant=True)

class _Missing(Enum):
    MISSING = "MISSING"


MISSING: Final = _Missing.MISSING  # a miss, where None is a remembered answer (an enum: `is MISSING` narrows the type)


def key_chars(key: object) -> int:
    """The text a key keeps in memory, in characters (bytes for bytes): what `max_key_chars` bounds.
    Numbers, None and booleans count as nothing; a tuple or frozenset counts its members' text plus one
    per member (so a key set of many short names is not free)."""
    # The exact classes first, by identity (cheaper than isinstance on the hot path): mypy does not
    # narrow `key` on `key.__class__ is str`, hence the type: ignores of the first branches.
    cls = key.__class__
    if cls is str or cls is bytes:
        return len(key)  # type: ignore[arg-type]
    if cls is tuple or cls is frozenset:
        return sum(key_chars(k) for k in key) + len(key)  # type: ignore[attr-defined,arg-type,misc]
    if key is None or cls is bool or cls is float:
        return 0
    if cls is int:
        return key.bit_length() // 64  # type: ignore[attr-defined]  # a huge number from a hostile line
    if isinstance(key, (str, bytes)):
        return len(key)
    if isinstance(key, (tuple, frozenset)):
        return sum(key_chars(k) for k in key) + len(key)
    return len(repr(key))


class BoundedMemo(Generic[K, V]):
    """A memo of at most `max_entries` entries (emptied when full) whose keys keep at most
    `max_key_chars` characters of text (longer keys are computed every time, never kept)."""

    __slots__ = ("get", "max_entries", "max_key_chars", "_entries")

    def __init__(self, max_entries: int = 4096, max_key_chars: int = 1024):
        if max_entries < 1 or max_key_chars < 0:
            raise ValueError("a memo needs at least one entry and a non-negative key size")
        self.max_entries = max_entries
        self.max_key_chars = max_key_chars
        self._entries: dict[K, V] = {}
        # The dict's own bound method: a hit is one C call, as fast as a hand-written dict memo.
        # dict.get's stubs overload on the default: typed here as the memo's _Get protocol instead
        self.get: _Get[K, V] = self._entries.get  # type: ignore[assignment]

    def remember(self, key: K, value: V) -> V:
        """Keep `value` for `key` (unless the key's text is over the bound) and return it."""
        # a str key's len inline (no call: the miss path of every parser); mypy cannot narrow on __class__
        if (len(key) if key.__class__ is str else key_chars(key)) <= self.max_key_chars:  # type: ignore[arg-type]
            entries = self._entries
            if len(entries) >= self.max_entries:
                entries.clear()
            entries[key] = value
        return value

    def lookup(self, key: K, make: Callable[[K], V]) -> V:
        """The remembered answer for `key`, or `make(key)` remembered: for paths where one more call
        per hit does not matter (the hot paths use `get` and `remember` inline)."""
        value = self._entries.get(key, MISSING)
        if value is MISSING:
            return self.remember(key, make(key))
        return value

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()

    def forget(self, key: K) -> None:
        """Forget the entry of `key`, if any."""
        self._entries.pop(key, None)

    def keys(self) -> list[K]:
        """The keys remembered now (a copy)."""
        return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __repr__(self) -> str:
        return f"BoundedMemo({len(self._entries)}/{self.max_entries} entries, keys ≤ {self.max_key_chars} chars)"


class _Get(Protocol[_K_in, _V_out]):
    """The type of `BoundedMemo.get` (a dict's get) for type checkers."""

    @overload
    def __call__(self, key: _K_in, /) -> _V_out | None: ...
    @overload
    def __call__(self, key: _K_in, default: D, /) -> _V_out | D: ...
