"""Record keys: "<file id>:<byte offset of the line>", stable across renames and restarts.

They feed the stable event ids, which are hashed only for outputs that need ids; so a batch
carries its file id and offsets, and a key string is made only when one is asked for (making
one per line cost 1.4 % of a backfill, see bench/README.md).
"""
from __future__ import annotations

from typing import Sequence


class LineKeys(Sequence[str]):
    """`LineKeys(fid, offsets)`: a batch's record keys `"<fid>:<offset>"` (a content's id and each record's
    byte offset in it), made only when read: for a line-oriented source's `RawBatch.keys`."""

    __slots__ = ("fid", "offsets")

    def __init__(self, fid: str, offsets: list[int]):
        self.fid = fid
        self.offsets = offsets

    def __len__(self) -> int:
        return len(self.offsets)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [f"{self.fid}:{o}" for o in self.offsets[i]]
        return f"{self.fid}:{self.offsets[i]}"

    def __iter__(self):
        fid = self.fid
        return (f"{fid}:{o}" for o in self.offsets)

    def __eq__(self, other) -> bool:
        if isinstance(other, LineKeys):
            return self.fid == other.fid and self.offsets == other.offsets
        return list(self) == other

    def __repr__(self) -> str:
        return f"LineKeys({self.fid!r}, {self.offsets!r})"

