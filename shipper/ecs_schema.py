"""ECS field definitions (Elastic's ecs_flat.yml) and a checker that an event conforms to them.

Used by the tests (against tests/data/ecs/, a subset of ecs_flat.yml) and by `shipper setup elasticsearch`.

`ecs_field_types()`: the compact ECS field types that travel in the package (`ecs_field_types.yml`,
built by scripts/build_ecs_field_types.py), because the agent's host has no copy of ECS.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import yaml

from shipper.ecs import get_path

TEXT_TYPES = {"keyword", "constant_keyword", "wildcard", "match_only_text", "text"}
INT_TYPES = {"long", "integer", "short", "byte", "unsigned_long"}
FLOAT_TYPES = {"float", "double", "scaled_float", "half_float"}
OPAQUE_TYPES = {"object", "flattened", "nested"}
FIELD_TYPES = Path(__file__).with_name("ecs_field_types.yml")


@lru_cache(maxsize=1)
def ecs_field_types() -> dict[str, Any]:
    """{"ecs_version": ..., "fields": {dotted name: type or {type, ...}}} of the ECS version events follow."""
    with open(FIELD_TYPES, "rb") as f:
        return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@dataclass
class EcsSchema:
    fields: dict[str, dict]

    @classmethod
    def load(cls, path: str | Path) -> "EcsSchema":
        with open(path, encoding="utf-8") as f:
            return cls(yaml.safe_load(f))

    def allowed(self, field: str) -> set[str]:
        return {a["name"] for a in self.fields.get(field, {}).get("allowed_values", [])}

    def expected_types(self, category: str) -> set[str]:
        for a in self.fields["event.category"].get("allowed_values", []):
            if a["name"] == category:
                return set(a.get("expected_event_types", []))
        return set()

    def _opaque_prefix(self, dotted: str) -> bool:
        parts = dotted.split(".")
        for i in range(1, len(parts)):
            f = self.fields.get(".".join(parts[:i]))
            if f is not None and f["type"] in OPAQUE_TYPES:
                return True
        return False

    def check(self, event: dict, namespaces: Iterable[str] = ()) -> list[str]:
        """Problems with an event: unknown fields, wrong types, disallowed categorisation values."""
        problems: list[str] = []
        own = tuple(namespaces)
        for dotted, value in flatten(event):
            top = dotted.split(".", 1)[0]
            if top in own:
                continue
            spec = self.fields.get(dotted)
            if spec is None:
                if not self._opaque_prefix(dotted):
                    problems.append(f"{dotted}: not an ECS field")
                continue
            values = value if isinstance(value, list) else [value]
            for v in values:
                err = _type_error(spec["type"], v)
                if err:
                    problems.append(f"{dotted}: {err} (got {v!r})")
        ev = event.get("event", {})
        for field in ("kind", "outcome"):
            if field in ev and ev[field] not in self.allowed(f"event.{field}"):
                problems.append(f"event.{field}: {ev[field]!r} is not an allowed value")
        cats = ev.get("category", [])
        types = ev.get("type", [])
        if bool(cats) != bool(types):
            problems.append("event.category and event.type must be set together")
        for c in cats:
            if c not in self.allowed("event.category"):
                problems.append(f"event.category: {c!r} is not an allowed value")
                continue
            for t in types:
                if t not in self.expected_types(c):
                    problems.append(f"event.type {t!r} is not expected with event.category {c!r}")
        for t in types:
            if t not in self.allowed("event.type"):
                problems.append(f"event.type: {t!r} is not an allowed value")
        for required in ("@timestamp", "ecs.version", "event.kind", "event.module", "event.dataset"):
            if (event[required] if required in event else get_path(event, required)) in (None, ""):
                problems.append(f"{required}: missing")
        return problems


def flatten(doc: dict, prefix: str = "") -> Iterable[tuple[str, Any]]:
    for k, v in doc.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            yield from flatten(v, key + ".")
        elif isinstance(v, list) and any(isinstance(x, dict) for x in v):
            for x in v:
                if isinstance(x, dict):
                    yield from flatten(x, key + ".")
                else:
                    yield key, x
        else:
            yield key, v


def _type_error(kind: str, v: Any) -> str | None:
    if v is None:
        return "null (nulls are not shipped)"
    if kind in TEXT_TYPES:
        return None if isinstance(v, str) else f"{kind} field must hold a string"
    if kind in INT_TYPES:
        return None if isinstance(v, int) and not isinstance(v, bool) else f"{kind} field must hold an integer"
    if kind in FLOAT_TYPES:
        return None if isinstance(v, (int, float)) and not isinstance(v, bool) else f"{kind} field must hold a number"
    if kind == "boolean":
        return None if isinstance(v, bool) else "boolean field must hold true/false"
    if kind == "ip":
        try:
            ipaddress.ip_address(v)
            return None
        except (ValueError, TypeError):
            return "ip field must hold a valid address"
    if kind == "date":
        if not isinstance(v, str):
            return "date field must hold an ISO 8601 string"
        try:
            datetime.fromisoformat(v.replace("Z", "+00:00"))
            return None
        except ValueError:
            return "date field must hold an ISO 8601 string"
    return None
