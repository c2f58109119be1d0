"""Which outputs an event's tag goes to: every output whose `match` glob accepts the tag."""
from __future__ import annotations

from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Sequence


class Router:
    def __init__(self, matches: Sequence[tuple[str, object]]):
        self._matches = list(matches)  # (glob, target)
        self.route = lru_cache(maxsize=1024)(self._route)

    def _route(self, tag: str) -> tuple:
        return tuple(target for glob, target in self._matches if fnmatchcase(tag, glob))
