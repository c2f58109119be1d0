"""Gaps in a product's own event numbering: evidence that the product wrote events the agent never saw.

A parser whose `event.id` is an integer the product hands out in increasing order declares
`monotonic_ids = True`. The source's runner then watches those ids: a jump past the next id opens a
gap; an id that arrives later inside it (a transaction committed late) fills it; a gap still open after
`GRACE` seconds is reported once — a warning naming the source and the range, the
`shipper_vendor_id_gaps` metric, and the next attestation (shipper.integrity). Products skip numbers
for their own reasons too (a rolled-back transaction burns a sequence value): a gap is a question for
the auditor to ask the product's database, not proof of a loss.

The highest id and the open gaps travel with the source's checkpoint, so a restart goes on where the
acknowledged batches left off.

A source whose product numbers events by their place (Puppet's activity API: a commit's offset in a
service's listing, and a `total`) keeps one tracker per numbering itself: `claim` is the product saying
ids up to some number exist (a total past what it listed opens a gap like a jump would), `restart` a
numbering that moved (pruned, restored, a commit stamped earlier sorting in): the open gaps no longer
name anything and are dropped, not reported. It reports what is due through the same runner call
(SourceContext.vendor_gaps) the parsers' ids use.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

STATE_KEY = "vendor_ids"
GRACE = 300.0  # seconds a gap may stay open before it is reported
MAX_OPEN = 1000  # gaps followed at once; more are reported at once (bounded memory)


class VendorIdGaps:
    """`VendorIdGaps(saved=None)`: the gaps in one numbering of the product's (this module's note), from its
    saved `state()`. `observe(ids, now)` the numbers read, `claim(n, now)` what the product says exists,
    `restart()` when the numbering moved, `due(now)` the gaps to report (to `ctx.vendor_gaps`)."""

    def __init__(self, saved: dict[str, Any] | None = None):
        saved = saved or {}
        self.highest: int | None = saved.get("highest")
        # [first missing, last missing, monotonic time it opened]; times do not survive a restart,
        # so a resumed gap gets a fresh grace period.
        self.open: list[list] = [[lo, hi, None] for lo, hi in saved.get("open", ())]

    def state(self) -> dict[str, Any]:
        """What to save in the source's checkpoint (JSON), read back by `VendorIdGaps(saved)`."""
        return {"highest": self.highest, "open": [[lo, hi] for lo, hi, _ in self.open]}

    def observe(self, ids: Iterable[Any], now: float) -> list[tuple[int, int]]:
        """Take a batch's vendor ids in order; returns gaps reported at once (over MAX_OPEN)."""
        if ids.__class__ is list and self._next_in_order(ids):  # a list: join must not use up an iterator
            return []
        overflow: list[tuple[int, int]] = []
        for raw in ids:
            n = _as_int(raw)
            if n is None:
                continue
            if self.highest is None or n == self.highest + 1:
                self.highest = n
            elif n > self.highest:
                overflow += self._open_gap(self.highest + 1, n - 1, now)
                self.highest = n
            elif self.open:
                self._fill(n, now)
        return overflow

    def _next_in_order(self, ids: list[Any]) -> bool:
        """Whether `ids` are the decimal texts of the numbers that follow the highest one by one (the usual batch
        of a serial): then taken as observe's loop would take them, by one comparison of the batch with those
        texts (the loop costs ~3,000 instructions an id, this ~600)."""
        first = (_as_int(ids[0]) if ids else None) if self.highest is None else self.highest + 1
        if first is None or first < 0:
            return False
        last = first + len(ids) - 1
        # what _as_int reads: under 20 digits (the texts compared are digits only, no sign, no leading zero)
        if last >= 10 ** 19 or ids != list(map(str, range(first, last + 1))):
            return False
        self.highest = last
        return True

    def claim(self, last: int, now: float) -> list[tuple[int, int]]:
        """The product says ids up to `last` exist (e.g. a total): those not seen yet open a gap.
        Returns gaps reported at once (over MAX_OPEN), as observe does."""
        if self.highest is None or last <= self.highest:
            return []
        return self._open_gap(self.highest + 1, last, now)

    def _open_gap(self, first: int, last: int, now: float) -> list[tuple[int, int]]:
        """Ids `first`..`last`, above the highest seen, are missing: a gap opens; the oldest gaps beyond
        MAX_OPEN are returned, to be reported at once."""
        self.open.append([first, last, now])
        self.highest = last
        overflow = [(lo, hi) for lo, hi, _ in self.open[:-MAX_OPEN]]
        del self.open[:-MAX_OPEN]
        return overflow

    def restart(self, next_id: int) -> None:
        """The numbering moved: the next id expected is `next_id`; open gaps named old places, dropped."""
        self.highest = next_id - 1
        self.open = []

    def _fill(self, n: int, now: float) -> None:
        for i, (lo, hi, t) in enumerate(self.open):
            if lo <= n <= hi:
                parts = [[a, b, t] for a, b in ((lo, n - 1), (n + 1, hi)) if a <= b]
                self.open[i:i + 1] = parts
                return

    def due(self, now: float, grace: float = GRACE) -> list[tuple[int, int]]:
        """Gaps open for longer than `grace`, removed from the open ones: report them."""
        out: list[tuple[int, int]] = []
        keep: list[list] = []
        for gap in self.open:
            if gap[2] is None:
                gap[2] = now
            if now - gap[2] >= grace:
                out.append((gap[0], gap[1]))
            else:
                keep.append(gap)
        self.open = keep
        return out


def _as_int(raw: Any) -> int | None:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) < 20:
        return int(raw)
    return None


def describe(gaps: list[tuple[int, int]]) -> str:
    return ", ".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in gaps)
