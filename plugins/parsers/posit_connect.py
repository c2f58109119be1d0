"""Posit Connect audit log (`[Logging] AuditLog`): `TEXT` (logfmt) or `JSON`, detected per line.

Fields (docs "Audited Events", docs/research/formats.md §4.2): always `time` (UTC, ms), `level`, `type=audit`,
`action`, `msg`, `entry_id` and the actor (`actor_id`, `actor_guid`, `actor_role`, `actor_description`);
event-specific extras follow. Every value is a string except `*_id`, which are integers. System actors
have `actor_id=0`, `actor_role=system` and no `actor_guid`.

Mapping: actor → `user.*`; affected user (`user_*`) → `user.target.*`; `group_*` → `group.*`;
`previous_*`/`new_*` pairs stay under `posit_connect.*` and, where they describe a user, also show in
`user.target.*` (state before) and `user.changes.*` (only what changed); `msg` → `message`;
`level` → `log.level`; everything else under `posit_connect.*`. Membership (a user and a group):
the group is `user.target.group.*` (docs/ecs-conventions.md); a time without a zone sets `event.timezone`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from shipper.api import (
    AMBIGUOUS_LOCAL_TIME,
    ECS_VERSION,
    MISSING,
    BoundedMemo,
    Parser,
    add_related,
    add_tag,
    classify,
    exact_json,
    failure_event,
    flag_problems,
    load_catalog,
    local_time_in_doubt,
    now_iso,
    original_text,
    snake_case,
    vendor_time_and_zoneless,
    zone_always_utc,
    zone_name,
)
from shipper_plugins.parsers.posit_connect_logfmt import parse_logfmt

CATALOG = load_catalog(Path(__file__).with_name("posit_connect_actions.csv"), ("action",))

SYSTEM = "system"
# Keys with a place in ECS, handled by _map (exactly as written); everything else goes under posit_connect.*.
_ECS_KEYS = frozenset({
    "time", "level", "msg", "action", "entry_id",
    "actor_id", "actor_role",
    "user_id", "user_role", "group_id", "group_name",
})
# new_X / previous_X that describe the affected user, and the user.* field they change.
_USER_CHANGES = {"email": "email", "username": "name", "user_role": "roles", "user_id": "id"}


# One `ecs` dict shared by every event: nothing downstream writes to it.
_ECS = {"version": ECS_VERSION}
# A key's route (memoised per vendor key): an id (converted to an integer), kept under posit_connect.*.
_ID, _KEEP = 1, 2
# The keys the user.target / user.changes block reads: a record without any of them skips the block.
_CHANGE_KEYS = tuple((f"new_{s}", f"previous_{s}", f) for s, f in _USER_CHANGES.items())
_CHANGE_RAW = frozenset([k for n, p, _ in _CHANGE_KEYS for k in (n, p)] + [
    f"{w}_{n}_name" for w in ("new", "previous") for n in ("first", "last")])
_NO_ACTION = CATALOG.get(("",))
# Memo bounds (shipper.memo): entries, and the length of a text kept as a key (hostile lines of long unique values).
_MEMO_ENTRIES, _MEMO_TEXT = 4096, 256


class PositConnectParser(Parser):
    module = "posit_connect"
    monotonic_ids = True  # entry_id: the audit log's own numbering
    dataset = "posit_connect.audit"
    # Typed in Elasticsearch by `shipper setup elasticsearch` (elasticsearch_ingest_pipeline.py); *_id are
    # integers (the parser converts them, or keeps a bad one as *_id_raw); the rest stays in _source.
    vendor_field_types = {
        "log_format": "keyword", "actor_type": "keyword", "type": "keyword", "actor_description": "keyword",
        "actor_guid": "keyword", "user_guid": "keyword", "group_guid": "keyword", "content_guid": "keyword",
        "entry_id": "long", "user_id": "long", "group_id": "long", "content_id": "long",
        # Every other field of the vendor's "Audited events" page that is kept here: the namespace is not
        # dynamic, so a field left out would be in _source but not searchable ("who changed the vanity URL").
        # *_id are made integers above (a bad one goes to <name>_raw); the rest as written.
        **{name: "long" if name.endswith("_id") else "keyword" for name in (
            "user_role", "bundle_id", "environment_guid", "environment_id", "git_branch", "git_path", "git_url",
            "job_host", "job_id", "job_key", "job_pid", "schedule_id", "schedule_next_run", "schedule_timezone",
            "schedule_type", "tag_id", "tag_name", "tag_version", "vanity_id", "vanity_prefix", "variant_id",
            "variant_key", "variant_name", "content_access_request_id", "content_access_request_role",
            "content_access_request_status",
            *(f"{when}_{what}" for when in ("new", "previous") for what in (
                "access_type", "branch", "cluster_name", "connection_timeout", "content_path", "description",
                "email", "enabled", "environment_type", "first_name", "idle_timeout", "init_timeout", "last_name",
                "load_factor", "matching", "max_conns_per_process", "max_processes", "min_processes", "name",
                "next_run", "owner_id", "parent_id", "read_timeout", "rendering_id", "repository_url", "schedule",
                "start_time", "supervisor", "time_zone", "title", "user_id", "user_role", "username", "version")))},
    }

    def __init__(self, options=None):
        super().__init__(options)
        self._routes: BoundedMemo[str, tuple[str, int]] = BoundedMemo(10_000, _MEMO_TEXT)  # vendor key → (namespace key, _ID | _KEEP)
        self._classes: BoundedMemo[str, Any] = BoundedMemo(_MEMO_ENTRIES, _MEMO_TEXT)  # action → its catalogue entry (or None)
        # actor_description → split_description()
        self._descs: BoundedMemo[str, tuple[str, str | None]] = BoundedMemo(_MEMO_ENTRIES, _MEMO_TEXT)
        self._zone_name = zone_name(self.zone)
        # a zone always at UTC+0 has no hour in doubt: local_time_in_doubt not asked of a zone-less time
        self._hours_in_doubt = not zone_always_utc(self.zone)

    def _route(self, key: str) -> tuple[str, int]:
        k = snake_case(key) or "_empty_key"
        # Only the exact key the mapping reads has its place in ECS: another spelling of it (`MSG`,
        # `actorRole`) is kept under posit_connect.* as any unknown key (it was dropped, silently).
        flags = (_ID if k.endswith("_id") or k == "id" else 0) | (0 if key in _ECS_KEYS else _KEEP)
        return self._routes.remember(key, (k, flags))

    def parse(self, raw: bytes) -> list[dict]:
        doc: Any = None
        if raw[:1] == b"{" and raw.find(b"\x00") < 0:  # not `in`: see shipper.exact_json's _ZEROS
            # The usual JSON line, read from its bytes (no text made of it): when orjson takes the bytes they
            # are UTF-8 and any trailing bytes JSON whitespace, so the object is what the text below gives.
            try:
                doc = exact_json.loads(raw)
            except orjson.JSONDecodeError:
                pass  # the text below says what is wrong (or reads bad UTF-8 as U+FFFD)
        if doc.__class__ is not dict:
            return self._parse_text(raw)
        return self._mapped(doc, raw, [], "json")

    def _parse_text(self, raw: bytes) -> list[dict]:
        text = raw.decode("utf-8", errors="replace").strip()
        if not text:
            return []  # a blank line is no record
        if "\x00" in text:
            return [_failure(raw, "line holds NUL bytes")]
        if text[0] == "{":
            try:
                doc = exact_json.loads(text)
            except orjson.JSONDecodeError as e:
                return [_failure(raw, f"not a Posit Connect JSON audit record: {e}")]
            if not isinstance(doc, dict):
                return [_failure(raw, "expected a JSON object")]
            problems: list[str] = []
            fmt = "json"
        else:
            doc, problems = parse_logfmt(text)
            fmt = "text"
        return self._mapped(doc, raw, problems, fmt)

    def _mapped(self, doc: dict, raw: bytes, problems: list[str], fmt: str) -> list[dict]:
        try:
            return [self._map(doc, raw, problems, fmt)]
        except Exception as e:  # a mapping bug must not lose the line: ship it flagged
            return [_failure(raw, f"posit_connect mapping failed: {type(e).__name__}: {e}")]

    def _map(self, doc: dict, raw: bytes, problems: list[str], fmt: str) -> dict:
        pc: dict[str, Any] = {"log_format": fmt}
        routes = self._routes
        for key, value in doc.items():
            if value is None:
                continue
            r = routes.get(key)
            if r is None:
                r = self._route(key)
            k, flags = r
            if flags & _ID and (value.__class__ is not int or not _INT_MIN <= value <= _INT_MAX):
                if value.__class__ is str and len(value) < 19 and value.isdigit() and value.isascii():
                    value = int(value)  # what _as_int gives, without its checks
                else:
                    value, bad = _as_int(value)
                    if bad:
                        problems.append(f"{key} is not an integer: {bad!r}")
                        pc[k + "_raw"] = bad
                        continue
            if flags & _KEEP and pc.setdefault(k, value) is not value and pc[k] != value:
                pc[f"{k}_{len(pc)}"] = value  # two keys of one snake_case name (entryId, entry_id): both kept

        get = doc.get
        action = get("action")
        if action is not None and action.__class__ is not str:
            action = _scalar(action)
        event: dict[str, Any] = {"kind": "event", "module": "posit_connect", "dataset": "posit_connect.audit"}
        if action is not None:
            event["action"] = action
        ev: dict[str, Any] = {"ecs": _ECS, "event": event, "posit_connect": pc}

        ts = get("time")
        if ts is not None and ts.__class__ is not str:
            ts = _scalar(ts)
        iso, zoneless = vendor_time_and_zoneless(ts, self.zone) if ts else (None, False)
        if iso is None:
            problems.append("missing time" if not ts else f"unreadable time {ts!r}")
            ev["@timestamp"] = now_iso()
            if ts:
                pc["time"] = ts
        else:
            ev["@timestamp"] = iso
            if zoneless:
                event["timezone"] = self._zone_name  # read in the source's zone (ECS)
                if self._hours_in_doubt and local_time_in_doubt(ts, self.zone):
                    add_tag(ev, AMBIGUOUS_LOCAL_TIME)  # the hour DST repeats or skips: @timestamp may be an hour off
        if not action:
            problems.append("missing action")

        entry_id = _int_of(get("entry_id"))
        if entry_id is not None:
            event["id"] = str(entry_id)
            pc["entry_id"] = entry_id
        else:
            problems.append("missing entry_id")
        msg = get("msg")
        if msg is not None:
            if msg.__class__ is not str:
                msg = _scalar(msg)
            if msg is not None:
                ev["message"] = msg
        level = get("level")
        if level is not None:
            if level.__class__ is not str:
                level = _scalar(level)
            if level is not None:
                ev["log"] = {"level": level}

        # The actor.
        user: dict[str, Any] = {}
        actor_id = _int_of(get("actor_id"))
        if actor_id is not None:
            user["id"] = str(actor_id)
        role = get("actor_role")
        if role is not None and role.__class__ is not str:
            role = _scalar(role)
        if role:
            user["roles"] = [role]
        desc = get("actor_description")
        if desc is not None and desc.__class__ is not str:
            desc = _scalar(desc)
        guid = get("actor_guid")
        is_system = actor_id == 0 or (role or "").lower() == SYSTEM
        if is_system and not guid:
            pc["actor_type"] = SYSTEM
            if desc:
                user["name"] = desc  # the system process, e.g. "Scheduled email checker"
        elif user or desc or guid:
            pc["actor_type"] = "user"
            if desc:
                split = self._descs.get(desc)
                if split is None:
                    split = self._descs.remember(desc, split_description(desc))
                name, full = split
                user["name"] = name
                if full:
                    user["full_name"] = full
        # The affected user: state before the change in user.target, what changed in user.changes.
        target: dict[str, Any] = {}
        tid = _int_of(get("user_id"))
        if tid is not None:
            target["id"] = str(tid)
        trole = get("user_role")
        if trole is not None and trole.__class__ is not str:
            trole = _scalar(trole)
        if trole:
            target["roles"] = [trole]
        changes: dict[str, Any] = {}
        if not _CHANGE_RAW.isdisjoint(doc):
            for new_key, old_key, field in _CHANGE_KEYS:
                new, old = get(new_key), get(old_key)
                if old is not None and old != "":
                    target[field] = [str(old)] if field == "roles" else str(old)
                if new is not None and new != "" and new != old:
                    changes[field] = [str(new)] if field == "roles" else str(new)
            old_full = _full_name(get("previous_first_name"), get("previous_last_name"))
            new_full = _full_name(get("new_first_name"), get("new_last_name"))
            if old_full:
                target["full_name"] = old_full
            if new_full and new_full != old_full:
                changes["full_name"] = new_full
            if trole and target.get("roles") != [trole] and changes.get("roles") != [trole]:
                pc["user_role"] = trole  # the role as recorded, neither the previous nor the new one: kept
        if target:
            user["target"] = target
        if changes:
            user["changes"] = changes
        if user:
            ev["user"] = user

        group: dict[str, Any] = {}
        gid = _int_of(get("group_id"))
        if gid is not None:
            group["id"] = str(gid)
        gname = get("group_name")
        if gname is not None and gname.__class__ is not str:
            gname = _scalar(gname)
        if gname:
            group["name"] = gname
        if group:
            if target:  # membership: the group the target user joins or leaves
                target["group"] = group
            else:
                ev["group"] = group
        # A group's owner moved (edit_group): the new owner is user.target (docs/ecs-conventions.md, "Ownership").
        new_owner = _int_of(get("new_owner_id"))
        if new_owner is not None and not target and new_owner != _int_of(get("previous_owner_id")):
            target["id"] = str(new_owner)
            user["target"] = target
            ev["user"] = user

        add_related(ev, users=(user.get("name") if not is_system else None, guid, target.get("name"),
                               _scalar(get("user_guid")), changes.get("name")))
        if action:
            cls = self._classes.get(action, MISSING)
            if cls is MISSING:
                cls = self._classes.remember(action, CATALOG.get((action.lower(),)))
        else:
            cls = _NO_ACTION
        classify(ev, cls, bool(action))
        if "message" not in ev:  # every event says in one line who did what
            ev["message"] = f"{user.get('name') or user.get('id') or 'unknown user'}: {action or 'unknown action'}"
        if problems:
            flag_problems(ev, problems, original_text(raw), product_time=iso is not None)
        return ev


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
    c = value.__class__
    if c is int:
        return value if _INT_MIN <= value <= _INT_MAX else None
    if c is str and len(value) < 19 and value.isdigit() and value.isascii():
        return int(value)  # what _as_int gives, without its checks
    if value is None:
        return None
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
