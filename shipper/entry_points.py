"""The installed distributions' entry points, read as importlib.metadata.entry_points() finds them in the
folders on sys.path: the entry_points.txt of each distribution's dist-info or egg-info, the first of a name
kept. importlib.metadata builds a Distribution of each, normalises and deduplicates through its own layers
(~12 M instructions for the ~65 distributions of the test venv, 1.2 % of an agent's start); this reads the
files. Where a distribution may be found otherwise (a zip or an egg on sys.path, a meta path finder of its
own), importlib.metadata itself is asked. The distribution of an entry point is read only when asked."""
from __future__ import annotations

import functools
import os
import re
import sys
from importlib import import_module
from typing import Any

# importlib.metadata.EntryPoint.pattern: `module`, `module:attr.attr`, optional `[extras]`
_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")


class EntryPoint:
    """What registry needs of importlib.metadata.EntryPoint: name, value, group, module, load() and dist (the
    distribution, read only when asked: for the messages and `shipper plugins`)."""

    def __init__(self, name: str, value: str, group: str, info_dir: str | None = None, dist: Any = None):
        self.name, self.value, self.group = name, value, group
        self._info_dir, self._dist = info_dir, dist

    @property
    def module(self) -> str:
        match = _VALUE.match(self.value)
        return match.group("module") if match else self.value

    def load(self) -> Any:
        match = _VALUE.match(self.value)
        if match is None:
            raise ValueError(f"not an entry point value: {self.value!r}")
        module = import_module(match.group("module"))
        return functools.reduce(getattr, filter(None, (match.group("attr") or "").split(".")), module)

    @property
    def dist(self) -> Any:
        if self._dist is None and self._info_dir is not None:
            from importlib.metadata import PathDistribution  # only for a message or a listing
            from pathlib import Path

            self._dist = PathDistribution(Path(self._info_dir))
        return self._dist


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower().replace("-", "_")


def _pairs(text: str):
    """(group, name, value) of an entry_points.txt (importlib.metadata's Sectioned: `#` comments)."""
    group = None
    for line in filter(None, map(str.strip, text.splitlines())):
        if line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line.strip("[]")
        elif group is not None and "=" in line:
            name, value = line.split("=", 1)
            yield group, name.strip(), value.strip()


def _needs_importlib_metadata() -> bool:
    from importlib.machinery import PathFinder

    if any(hasattr(f, "find_distributions") and f is not PathFinder for f in sys.meta_path):
        return True
    return any(p.lower().endswith(".egg") or (os.path.exists(p) and not os.path.isdir(p)) for p in sys.path)


def installed() -> list[EntryPoint]:
    """Every entry point of the distributions importlib.metadata.entry_points() would give, in its order (the
    first distribution of a name on sys.path, as it keeps)."""
    if _needs_importlib_metadata():
        from importlib.metadata import entry_points

        every = entry_points()  # (3.11: SelectableGroups, whose iteration gives the groups' names)
        return [EntryPoint(ep.name, ep.value, ep.group, dist=ep.dist)
                for group in sorted(every.groups) for ep in every.select(group=group)]
    seen: set[str] = set()
    found: list[EntryPoint] = []
    for path in sys.path:
        try:
            children = os.listdir(path or ".")
        except OSError:
            continue
        by_name: dict[str, list[str]] = {}
        for child in children:
            low = child.lower()
            if low.endswith((".dist-info", ".egg-info")):
                by_name.setdefault(_normalized(low.rpartition(".")[0].partition("-")[0]), []).append(child)
        for infos in by_name.values():
            for child in infos:
                stem = child.rpartition(".")[0].partition("-")[0]
                name = _normalized(stem)
                if name in seen:
                    continue
                seen.add(name)
                info_dir = os.path.join(path, child)
                try:
                    with open(os.path.join(info_dir, "entry_points.txt"), encoding="utf-8") as f:
                        text = f.read()
                except (OSError, ValueError):
                    continue
                found.extend(EntryPoint(n, v, g, info_dir) for g, n, v in _pairs(text))
    return found
