"""Which outputs an event's tag goes to: every output whose `match` glob accepts the tag."""
from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Sequence

from shipper.memo import BoundedMemo


class Router:
    def __init__(self, matches: Sequence[tuple[str, object]]):
        self._matches = list(matches)  # (glob, target)
        self._routes: BoundedMemo[str, tuple] = BoundedMemo(1024, 1024)  # tag → targets: a config has few tags

    def route(self, tag: str) -> tuple:
        targets = self._routes.get(tag)
        if targets is None:
            targets = self._routes.remember(tag, tuple(target for glob, target in self._matches if fnmatchcase(tag, glob)))
        return targets
