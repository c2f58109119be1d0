"""Stable event ids: the same event always gets the same id (the Elasticsearch `_id`), so a replay
after a crash is recognised instead of stored twice."""
from __future__ import annotations

import hashlib
from collections.abc import Sequence


def stable_id(source: str, key: str, index: int) -> str:
    """Id of an event without a vendor id: the same record at the same position gets the same id."""
    return hashlib.blake2b(f"{source}\0{key}\0{index}".encode(), digest_size=16).hexdigest()


def vendor_stable_id(namespace: str, vendor_id: str) -> str:
    """Id of an event with a vendor id, scoped so two installations' id 42 never collide."""
    return hashlib.blake2b(f"{namespace}\0{vendor_id}".encode(), digest_size=16).hexdigest()


class LazyIds(Sequence[str]):
    """The stable ids of a batch, hashed only if an output asks (Elasticsearch does; stdout does not)."""

    __slots__ = ("_parts", "_keys", "_source", "_namespace", "_ids")

    def __init__(self, parts: list, source: str, namespace: str, keys: Sequence[str] = ()):
        # Per event: the vendor id (str), or (record i, index in record), or None for the only
        # event of record i (batches where every record gave one event); record i's key is keys[i].
        self._parts = parts
        self._keys = keys
        self._source = source
        self._namespace = namespace
        self._ids: list[str] | None = None

    def _all(self) -> list[str]:
        if self._ids is None:
            src, ns, keys = self._source, self._namespace, self._keys
            # A vendor id is anything but None or a (record, index) pair: a third-party parser may
            # give an integer id, which must not be taken for a position.
            self._ids = [stable_id(src, keys[i], 0) if p is None
                         else stable_id(src, keys[p[0]], p[1]) if type(p) is tuple
                         else vendor_stable_id(ns, p if isinstance(p, str) else str(p))
                         for i, p in enumerate(self._parts)]
        return self._ids

    def vendor_ids(self) -> list:
        """The vendor ids of the batch's events that have one, in order (no hashing)."""
        return [p for p in self._parts if p is not None and type(p) is not tuple]

    def __getitem__(self, i):
        return self._all()[i]

    def __len__(self) -> int:
        return len(self._parts)

    def __iter__(self):
        return iter(self._all())
