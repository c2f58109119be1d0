"""Plugins are found through entry points: built-in ones are registered exactly like third-party ones.

What an entry point gives is checked when it is loaded (`load`): the right base class from
shipper.api, nothing left abstract, a config model that refuses unknown keys. A plugin that fails
is refused with an error naming the entry point and the distribution it came from, so an operator
knows which package to fix or remove.
"""
from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import EntryPoint, EntryPoints, entry_points
from typing import Any, Literal, get_args, get_origin

GROUPS = {"parser": "shipper.parsers", "source": "shipper.sources", "output": "shipper.outputs",
          "setup": "shipper.setup"}


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
def _all_entry_points() -> EntryPoints:
    # One scan of the installed distributions for every kind: each entry_points(group=...) reads every
    # distribution's metadata again (~2 ms a scan, four kinds asked at each start).
    every = entry_points()  # (3.11: all groups; the select below reads no distribution again)
    return EntryPoints(ep for group in GROUPS.values() for ep in every.select(group=group))


@lru_cache(maxsize=None)
def _entry_points(kind: str) -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in _all_entry_points().select(group=GROUPS[kind])}


def names(kind: str) -> list[str]:
    return sorted(_entry_points(kind))


def _origin(ep: EntryPoint) -> str:
    dist = ep.dist
    where = f"{dist.name} {dist.version}" if dist else "an unknown distribution"
    return f"entry point {ep.name!r} = {ep.value} in group {ep.group}, from {where}"


def info(kind: str) -> list[PluginInfo]:
    out = []
    for name, ep in sorted(_entry_points(kind).items()):
        dist = ep.dist
        out.append(PluginInfo(kind, name, ep.value, dist.name if dist else "?", dist.version if dist else "?"))
    return out


def distribution(kind: str, name: str) -> tuple[str, str] | None:
    """(name, version) of the distribution that installed plugin `name`, or None when unknown."""
    ep = _entry_points(kind).get(name)
    dist = ep.dist if ep is not None else None
    return (dist.name, dist.version) if dist else None


@lru_cache(maxsize=None)
def load(kind: str, name: str) -> Any:
    """Import a plugin only when it is used (unused outputs cost no start-up time), and check it."""
    eps = _entry_points(kind)
    if name not in eps:
        close = difflib.get_close_matches(name, list(eps), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise PluginError(f"no {kind} named {name!r}{hint}; installed: {', '.join(sorted(eps)) or 'none'}")
    ep = eps[name]
    try:
        obj = ep.load()
    except Exception as e:  # a broken third-party plugin must say which one it is
        raise PluginError(f"{kind} {name!r} failed to load ({_origin(ep)}): {type(e).__name__}: {e}") from e
    problems = check(kind, obj, name)
    if problems:
        raise PluginError(f"{kind} {name!r} refused ({_origin(ep)}): {'; '.join(problems)}")
    return obj


def check(kind: str, obj: Any, name: str | None = None) -> list[str]:
    """What is wrong with `obj` as a plugin of this kind registered as `name` (empty when nothing)."""
    if kind == "setup":
        import click

        return [] if isinstance(obj, click.Command) else [f"a setup command must be a click command, not {_what(obj)}"]
    from shipper.config_base import OutputConfig, SourceConfig
    from shipper.plugin import Output, Parser, Source

    base = {"parser": Parser, "source": Source, "output": Output}[kind]
    if not (inspect.isclass(obj) and issubclass(obj, base)):
        return [f"must be a subclass of shipper.api.{base.__name__}, not {_what(obj)}"]
    problems = []
    missing = sorted(getattr(obj, "__abstractmethods__", ()))
    if missing:
        problems.append(f"{obj.__name__} does not define {', '.join(missing)}")
    if kind == "parser":
        for attr in ("module", "dataset"):
            value = getattr(obj, attr, None)
            if not isinstance(value, str) or not value:
                problems.append(f"{obj.__name__}.{attr} must be a non-empty string (the ECS event.{attr}), "
                                f"not {value!r}")
        if not isinstance(obj.monotonic_ids, bool):
            problems.append(f"{obj.__name__}.monotonic_ids must be True or False, not {obj.monotonic_ids!r}")
        types = obj.vendor_field_types
        if not isinstance(types, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                      for k, v in types.items()):
            problems.append(f"{obj.__name__}.vendor_field_types must map field names to type names (str → str)")
        return problems
    config_base = SourceConfig if kind == "source" else OutputConfig
    model = getattr(obj, "Config", None)
    if not (inspect.isclass(model) and issubclass(model, config_base)):
        problems.append(f"{obj.__name__}.Config must be a subclass of shipper.api.{config_base.__name__}, "
                        f"not {_what(model)}")
    elif model.model_config.get("extra") != "forbid":
        problems.append(f"{obj.__name__}.Config must refuse unknown keys (a typo must not be ignored): "
                        f"do not change model_config's extra='forbid'")
    elif name is not None:
        # `type: NAME` in a config is validated by the model too: a Literal that leaves the entry
        # point's own name out would refuse every config that uses the plugin.
        allowed = get_args(model.model_fields["type"].annotation) if get_origin(
            model.model_fields["type"].annotation) is Literal else None
        if allowed is not None and name not in allowed:
            problems.append(f"{model.__name__}.type allows {', '.join(map(repr, allowed))} but the plugin is "
                            f"registered as {name!r}")
    return problems


def _what(obj: Any) -> str:
    if inspect.isclass(obj):
        return f"class {obj.__module__}.{obj.__qualname__}"
    return f"{type(obj).__name__} {obj!r}"[:120]


def installed_parsers() -> dict[str, Any]:
    """{name: parser class} of every installed parser that loads and passes the checks; one that does
    not is left out (its error shows when a config uses it), so it cannot stop the others' setup."""
    out = {}
    for name in names("parser"):
        try:
            out[name] = load("parser", name)
        except PluginError:
            continue
    return out
