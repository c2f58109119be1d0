"""Plugins are found through entry points: built-in ones are registered exactly like third-party ones."""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points

GROUPS = {"parser": "shipper.parsers", "source": "shipper.sources", "output": "shipper.outputs"}


@dataclass(frozen=True)
class PluginInfo:
    kind: str
    name: str
    target: str  # module:attr
    distribution: str
    version: str


class PluginError(Exception):
    pass


@lru_cache(maxsize=None)
def _entry_points(kind: str) -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUPS[kind])}


def names(kind: str) -> list[str]:
    return sorted(_entry_points(kind))


def info(kind: str) -> list[PluginInfo]:
    out = []
    for name, ep in sorted(_entry_points(kind).items()):
        dist = ep.dist
        out.append(PluginInfo(kind, name, ep.value, dist.name if dist else "?", dist.version if dist else "?"))
    return out


@lru_cache(maxsize=None)
def load(kind: str, name: str):
    """Import a plugin class only when it is used (unused outputs cost no start-up time)."""
    eps = _entry_points(kind)
    if name not in eps:
        close = difflib.get_close_matches(name, list(eps), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise PluginError(f"no {kind} named {name!r}{hint}; installed: {', '.join(sorted(eps)) or 'none'}")
    try:
        return eps[name].load()
    except Exception as e:  # a broken third-party plugin must say which one it is
        raise PluginError(f"{kind} {name!r} ({eps[name].value}) failed to load: {e}") from e
