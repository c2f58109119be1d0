"""Posit Connect audit log (`[Logging] AuditLog`): `TEXT` (logfmt) or `JSON`, detected per line.

Fields (docs "Audited Events", research/formats.md §4.2): always `time` (UTC, ms), `level`, `type=audit`,
`action`, `msg`, `entry_id` and the actor (`actor_id`, `actor_guid`, `actor_role`, `actor_description`);
event-specific extras follow. Every value is a string except `*_id`, which are integers. System actors
have `actor_id=0`, `actor_role=system` and no `actor_guid`.

Mapping: actor → `user.*`; affected user (`user_*`) → `user.target.*`; `group_*` → `group.*`;
`previous_*`/`new_*` pairs stay under `posit_connect.*` and, where they describe a user, also show in
`user.target.*` (state before) and `user.changes.*` (only what changed); `msg` → `message`;
`level` → `log.level`; everything else under `posit_connect.*`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from shipper.ecs import (
    vendor_time,
    classify, flag_problems,
    add_related, base_event, decode_text, failure_event, load_catalog,
    now_iso, snake_case,
)
from shipper.plugin import Parser
from shipper_plugins.parsers.posit_connect_logfmt import parse_logfmt

CATALOG = load_catalog(Path(__file__).with_name("posit_connect_actions.csv"), ("action",))

SYSTEM = "system"
# Keys with a place in ECS, handled by _map; everything else goes under posit_connect.* as written.
_ECS_KEYS = frozenset({
    "time", "level", "msg", "action", "entry_id",
    "actor_id", "actor_role",
    "user_id", "user_role", "group_id", "group_name",
})
# new_X / previous_X that describe the affected user, and the user.* field they change.
_USER_CHANGES = {"email": "email", "username": "name", "user_role": "roles", "user_id": "id"}


class PositConnectParser(Parser):
    module = "posit_connect"
    dataset = "posit_connect.audit"

    def __init__(self, options=None):
        super().__init__(options)
        self._keys: dict[str, str] = {}  # vendor key → namespace key (snake_case, no dots), cached

    def _key(self, key: str) -> str:
        k = self._keys.get(key)
        if k is None:
            k = snake_case(key) or "_empty_key"
            if len(self._keys) < 10_000:  # bound the cache against hostile input
                self._keys[key] = k
        return k

    def parse(self, raw: bytes) -> list[dict]:
        text = decode_text(raw).strip()
        if not text:
            return []  # a blank line is no record
        if "\x00" in text:
            return [_failure(raw, "line holds NUL bytes")]
        problems: list[str] = []
        if text[0] == "{":
            try:
                doc = orjson.loads(text)
            except orjson.JSONDecodeError as e:
                return [_failure(raw, f"not a Posit Connect JSON audit record: {e}")]
            if not isinstance(doc, dict):
                return [_failure(raw, "expected a JSON object")]
            fmt = "json"
        else:
            doc, problems = parse_logfmt(text)
            fmt = "text"
        try:
            return [self._map(doc, raw, problems, fmt)]
        except Exception as e:  # a mapping bug must not lose the line: ship it flagged
            return [_failure(raw, f"posit_connect mapping failed: {type(e).__name__}: {e}")]

    def _map(self, doc: dict, raw: bytes, problems: list[str], fmt: str) -> dict:
        pc: dict[str, Any] = {"log_format": fmt}
        for key, value in doc.items():
            if value is None:
                continue
            k = self._key(key)
            if k.endswith("_id") or k == "id":
                value, bad = _as_int(value)
                if bad:
                    problems.append(f"{key} is not an integer: {bad!r}")
                    pc[k + "_raw"] = bad
                    continue
            if k not in _ECS_KEYS:
                pc[k] = value

        action = _scalar(doc.get("action"))
        ev = base_event(self.module, self.dataset, action)
        ev["posit_connect"] = pc
        event = ev["event"]

        ts = _scalar(doc.get("time"))
        iso = self._timestamp(ts) if ts else None
        if iso is None:
            problems.append("missing time" if not ts else f"unreadable time {ts!r}")
            ev["@timestamp"] = now_iso()
            if ts:
                pc["time"] = ts
        else:
            ev["@timestamp"] = iso
        if not action:
            problems.append("missing action")

        entry_id = _int_of(doc.get("entry_id"))
        if entry_id is not None:
            event["id"] = str(entry_id)
            pc["entry_id"] = entry_id
        else:
            problems.append("missing entry_id")
        msg = _scalar(doc.get("msg"))
        if msg is not None:
            ev["message"] = msg
        level = _scalar(doc.get("level"))
        if level is not None:
            ev["log"] = {"level": level}

        # The actor.
        user: dict[str, Any] = {}
        actor_id = _int_of(doc.get("actor_id"))
        if actor_id is not None:
            user["id"] = str(actor_id)
        role = _scalar(doc.get("actor_role"))
        if role:
            user["roles"] = [role]
        desc = _scalar(doc.get("actor_description"))
        is_system = actor_id == 0 or (role or "").lower() == SYSTEM
        if is_system and not doc.get("actor_guid"):
            pc["actor_type"] = SYSTEM
            if desc:
                user["name"] = desc  # the system process, e.g. "Scheduled email checker"
        elif user or desc or doc.get("actor_guid"):
            pc["actor_type"] = "user"
            if desc:
                name, full = split_description(desc)
                user["name"] = name
                if full:
                    user["full_name"] = full
        # The affected user: state before the change in user.target, what changed in user.changes.
        target: dict[str, Any] = {}
        tid = _int_of(doc.get("user_id"))
        if tid is not None:
            target["id"] = str(tid)
        trole = _scalar(doc.get("user_role"))
        if trole:
            target["roles"] = [trole]
        changes: dict[str, Any] = {}
        for suffix, field in _USER_CHANGES.items():
            new, old = doc.get("new_" + suffix), doc.get("previous_" + suffix)
            if old is not None and old != "":
                target[field] = [str(old)] if field == "roles" else str(old)
            if new is not None and new != "" and new != old:
                changes[field] = [str(new)] if field == "roles" else str(new)
        old_full = _full_name(doc.get("previous_first_name"), doc.get("previous_last_name"))
        new_full = _full_name(doc.get("new_first_name"), doc.get("new_last_name"))
        if old_full:
            target["full_name"] = old_full
        if new_full and new_full != old_full:
            changes["full_name"] = new_full
        if target:
            user["target"] = target
        if changes:
            user["changes"] = changes
        if user:
            ev["user"] = user

        group: dict[str, Any] = {}
        gid = _int_of(doc.get("group_id"))
        if gid is not None:
            group["id"] = str(gid)
        gname = _scalar(doc.get("group_name"))
        if gname:
            group["name"] = gname
        if group:
            ev["group"] = group

        add_related(ev, users=(
            user.get("name") if not is_system else None, doc.get("actor_guid"),
            target.get("name"), _scalar(doc.get("user_guid")), changes.get("name"),
        ))

        classify(ev, CATALOG.get(((action or "").lower(),)), bool(action))
        flag_problems(ev, problems, decode_text(raw) if problems else None)
        return ev

    def _timestamp(self, value: str) -> str | None:
        return vendor_time(value, self.zone)


def split_description(desc: str) -> tuple[str, str | None]:
    """'Frank Castell (fcastell)' → ('fcastell', 'Frank Castell'); no parentheses → (desc, None)."""
    if desc.endswith(")"):
        cut = desc.rfind(" (")
        if cut >= 0 and len(desc) - cut > 3:
            return desc[cut + 2 : -1], (desc[:cut].strip() or None)
        if desc.startswith("(") and len(desc) > 2:
            return desc[1:-1], None
    return desc, None


def _scalar(value: Any) -> str | None:
    """The first value of a (possibly repeated) key, as text."""
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _int_of(value: Any) -> int | None:
    if isinstance(value, list):
        value = value[0] if value else None
    v, bad = _as_int(value)
    return v if bad is None and isinstance(v, int) else None


# An integer is kept as one only in Elasticsearch's `long` range: orjson cannot write a larger one (the
# whole batch would fail to serialise), and no index could hold it.
_INT_MIN, _INT_MAX = -(2 ** 63), 2 ** 63 - 1


def _as_int(value: Any) -> tuple[Any, Any]:
    """(int value, None), or (None, the value as written) when it is not an integer.

    Lists (a key repeated with other values) are converted item by item."""
    if isinstance(value, bool):
        return None, str(value).lower()
    if isinstance(value, int):
        if _INT_MIN <= value <= _INT_MAX:
            return value, None
        return None, value
    if isinstance(value, list):
        out = []
        for x in value:
            v, bad = _as_int(x)
            if bad is not None:
                return None, value
            out.append(v)
        return out, None
    if isinstance(value, str):
        s = value.strip()
        if s and len(s) <= 20 and (s.isdigit() or (s[0] == "-" and s[1:].isdigit())) and s.isascii():
            v = int(s)
            if _INT_MIN <= v <= _INT_MAX:
                return v, None
    return None, value


def _full_name(first: Any, last: Any) -> str | None:
    parts = [str(p) for p in (first, last) if p not in (None, "")]
    return " ".join(parts) or None


def _failure(raw: bytes, message: str) -> dict:
    return failure_event(raw, message, PositConnectParser.module, PositConnectParser.dataset)
