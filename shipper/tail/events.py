"""What the tailer reports as it happens, for its owner to count (the file source keeps them as
metrics). One typed interface instead of a loose callback per event: an owner overrides the
events it counts; the others do nothing."""
from __future__ import annotations


class TailEvents:
    def lost(self, path: str, nbytes: int) -> None:
        """Data of `path` was lost (warned by the tailer); `nbytes` 0 when the size is unknown."""

    def rotated(self) -> None:
        """A followed file was rotated away from its live name, or truncated in place."""

    def lines_cut(self, n: int) -> None:
        """`n` lines longer than max_line_bytes were cut (each shipped in pieces, flagged)."""

    def hole_skipped(self, nbytes: int) -> None:
        """`nbytes` zero bytes (a hole) were skipped, never shipped."""

    def read_again(self, nbytes: int) -> None:
        """Up to `nbytes` already read were read again (an edit in place that could not be placed; warned)."""

    def read_undecided(self) -> None:
        """A file that could not be told from a copy was read as a new one (warned: its lines may repeat)."""

    def tombstones_forgotten(self, n: int) -> None:
        """`n` tombstones (contents read to their end and gone) were forgotten before their time, past the count kept."""
