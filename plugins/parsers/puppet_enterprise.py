"""Puppet Enterprise activity service: one ECS event per event inside an activity commit.

A record is one commit as the `http_poll` source hands it over:
`{"service_id": "rbac", "api_version": "v2", "commit": {...}}`. A bare commit (`{"subject": …,
"events": […]}`) and a whole saved response page (`{"commits": […]}`) are read too, so
`shipper cat -p puppet_enterprise` works on JSON lines saved from the API.

v1 commits carry `object` and events with only `message`; v2 commits carry `objects` (a list),
`ip_address` and events with `type`/`what`/`description`/`message`. The exact v2 JSON key names
are not published (research/formats.md §5.3), so keys are compared spelling-blind
(`ip_address`, `ip-address`, `ipAddress` are one key).
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import orjson

from shipper.ecs import (
    vendor_time,
    classify, flag_problems,
    PARSE_FAILURE, Classification, add_related, base_event, clean_ip, decode_text, failure_event,
    load_catalog, now_iso, squash_key,
)
from shipper.plugin import Parser

CATALOG_PATH = Path(__file__).with_name("puppet_enterprise_events.csv")
CLASSES = load_catalog(CATALOG_PATH, ("kind",))


@dataclass(frozen=True, slots=True)
class Rule:
    """One catalogue row: the conditions an event must meet to be this kind."""

    kind: str
    pe_type: str
    pe_what: str
    object_type: str
    regex: re.Pattern | None
    target: str
    classification: Classification

    def matches(self, pe_type: str, pe_what: str, object_types: tuple[str, ...], message: str) -> re.Match | bool:
        if self.pe_type and not fnmatchcase(pe_type, self.pe_type):
            return False
        if self.pe_what and not fnmatchcase(pe_what, self.pe_what):
            return False
        if self.object_type and not any(fnmatchcase(t, self.object_type) for t in object_types):
            return False
        if self.regex is not None:
            return self.regex.search(message) or False
        return True


def load_rules(path: Path = CATALOG_PATH) -> list[Rule]:
    rules: list[Rule] = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(line for line in f if not line.startswith("#")):
            kind = row["kind"].strip()
            cls = CLASSES[(kind.lower(),)]
            if (tuple(x for x in row["category"].split("|") if x), tuple(x for x in row["type"].split("|") if x)) \
                    != (cls.category, cls.type):
                raise ValueError(f"{path}: kind {kind!r} is classified two ways")
            rx = row["message_regex"].strip()
            rules.append(Rule(
                kind=kind, pe_type=row["pe_type"].strip().lower(), pe_what=row["pe_what"].strip().lower(),
                object_type=row["object_type"].strip().lower(),
                regex=re.compile(rx, re.IGNORECASE) if rx else None,
                target=row["target"].strip().lower(), classification=cls,
            ))
    return rules


RULES = load_rules()

# Object types as the API names them (v1 `object_type` parameter list) → where the object goes in ECS.
USER_OBJECTS = {"users", "user"}
GROUP_OBJECTS = {"user_groups", "user_group", "groups"}

# Spelling-blind key names.
K_COMMIT, K_COMMITS, K_EVENTS = "commit", "commits", "events"
K_SERVICE_ID, K_API = "serviceid", "apiversion"
K_SUBJECT, K_OBJECT, K_OBJECTS = "subject", "object", "objects"
K_TIMESTAMP = ("timestamp", "submittime", "servicecommittime")
K_IP = ("ipaddress", "ip")
K_MALFORMED = "malformedpage"

# Every memo's bounds: entries, and the text one entry keeps.
_MEMO_ENTRIES = 4096
_MEMO_TEXT = 1024


# Key set → its spelling-blind keys: a regex sub per key of every dict was a quarter of a record's time,
# and an API writes the same few key sets. Bounded in entries and in the key text an entry keeps.
_SQUASHED_SETS: dict[tuple, tuple[str, ...]] = {}


def _squash_set(keys: tuple) -> tuple[str, ...]:
    try:
        return _SQUASHED_SETS[keys]
    except KeyError:
        pass
    sq = tuple(map(squash_key, keys))
    if len(keys) <= 64 and sum(map(len, keys)) <= _MEMO_TEXT:
        if len(_SQUASHED_SETS) >= _MEMO_ENTRIES:
            _SQUASHED_SETS.clear()
        _SQUASHED_SETS[keys] = sq
    return sq


def _squashed(doc: dict) -> dict[str, Any]:
    return dict(zip(_squash_set(tuple(doc)), doc.values()))  # a later spelling of a key wins, as before


class PuppetEnterpriseParser(Parser):
    module = "puppet_enterprise"
    dataset = "puppet_enterprise.activity"

    def parse(self, raw: bytes) -> list[dict]:
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            return [self._failure(raw, f"not a Puppet Enterprise activity record (JSON): {e}")]
        if not isinstance(doc, dict):
            return [self._failure(raw, f"expected a JSON object, got {type(doc).__name__}")]
        top = _squashed(doc)
        if K_MALFORMED in top:  # the source could not read a response page: ship what it got
            ev = self._failure(str(top[K_MALFORMED]), str(top.get("error") or "malformed response page"))
            _set_service(ev, top.get(K_SERVICE_ID))
            return [ev]
        service = top.get(K_SERVICE_ID)
        api = top.get(K_API)
        if isinstance(top.get(K_COMMIT), dict):
            return self._commit(top[K_COMMIT], service, api, raw)
        if K_COMMIT in top:
            return [self._failure(raw, f"commit is a {type(top[K_COMMIT]).__name__}, not an object", service)]
        if isinstance(top.get(K_COMMITS), list):  # a saved response page
            out: list[dict] = []
            for c in top[K_COMMITS]:
                if isinstance(c, dict):
                    out.extend(self._commit(c, service, api, orjson.dumps(c)))
                else:
                    out.append(self._failure(orjson.dumps(c), "commit is not a JSON object", service))
            return out
        return self._commit(doc, service, api, raw)

    def _failure(self, raw: bytes | str, message: str, service: Any = None) -> dict:
        ev = failure_event(raw, message, self.module, self.dataset)
        _set_service(ev, service)
        return ev

    def _commit(self, commit: dict, service: Any, api: Any, raw: bytes) -> list[dict]:
        c = _squashed(commit)
        problems: list[str] = []
        pe: dict[str, Any] = {}
        svc = c.get("service")
        if service is None and isinstance(svc, dict):
            service = svc.get("id")
        if api:
            pe["api_version"] = str(api)

        stamp = None
        ts_raw = next((c[k] for k in K_TIMESTAMP if c.get(k) not in (None, "")), None)
        if ts_raw is None:
            problems.append("commit has no timestamp")
        else:
            stamp = self._timestamp(ts_raw)
            if stamp is None:
                problems.append(f"unreadable timestamp {ts_raw!r}")
            pe.setdefault("commit", {})["timestamp"] = str(ts_raw)

        user: dict[str, Any] = {}
        subject = c.get(K_SUBJECT)
        if isinstance(subject, dict):
            s = _squashed(subject)
            if s.get("id") not in (None, ""):
                user["id"] = str(s["id"])
            if s.get("name") not in (None, ""):
                user["name"] = str(s["name"])
            if s.get("type") not in (None, ""):
                pe["subject"] = {"type": str(s["type"])}
        elif subject is not None:
            problems.append("subject is not an object")
            pe["subject"] = {"value": str(subject)}
        else:
            problems.append("commit has no subject")

        objects: list[dict] = []
        raw_objects = c.get(K_OBJECTS) if K_OBJECTS in c else c.get(K_OBJECT)
        if isinstance(raw_objects, dict):
            raw_objects = [raw_objects]
        if isinstance(raw_objects, list):
            for o in raw_objects:
                if isinstance(o, dict):
                    so = _squashed(o)
                    objects.append({k: str(so[k]) for k in ("id", "name", "type") if so.get(k) not in (None, "")})
                elif o is not None:
                    objects.append({"id": str(o)})
        elif raw_objects is not None:
            problems.append("object(s) is not an object or a list")
        if objects:
            pe["objects"] = objects
        object_types = tuple(o["type"].lower() for o in objects if "type" in o)

        ip_raw = next((c[k] for k in K_IP if c.get(k) not in (None, "")), None)
        ip = clean_ip(ip_raw)
        if ip_raw is not None and ip is None:
            pe["ip_address"] = str(ip_raw)  # not an address: kept, not put in an ip field
        # Commit fields no one above knows: kept as the vendor wrote them.
        known = {K_SERVICE_ID, "service", K_SUBJECT, K_OBJECT, K_OBJECTS, K_EVENTS, *K_TIMESTAMP, *K_IP}
        other = {k: v for k, sk, v in zip(commit, _squash_set(tuple(commit)), commit.values())
                 if sk not in known and v is not None}
        if other:
            pe.setdefault("commit", {}).update(other)

        events = c.get(K_EVENTS)
        if not isinstance(events, list) or not events:
            # Never dropped: the commit is still shipped, as one flagged event.
            problems.append("commit has no events" if events in (None, []) else "events is not a list")
            events = [None]
        out = []
        for index, item in enumerate(events):
            ev = self._event(item, index, len(events), dict(pe), user, objects, object_types, ip, service, stamp,
                             list(problems))
            if _problems(ev):
                ev["event"]["original"] = decode_text(raw)
            out.append(ev)
        return out

    def _event(self, item: Any, index: int, count: int, pe: dict, actor: dict, objects: list[dict],
               object_types: tuple[str, ...], ip: str | None, service: Any, stamp: str | None, problems: list[str]) -> dict:
        fields: dict[str, str] = {}
        if isinstance(item, dict):
            e = _squashed(item)
            for k in ("type", "what", "description", "message"):
                if e.get(k) not in (None, ""):
                    fields[k] = str(e[k])
            fields_extra = {k: v for k, sk, v in zip(item, _squash_set(tuple(item)), item.values())
                            if sk not in ("type", "what", "description", "message") and v is not None}
        elif item is None:
            fields_extra = None
        else:
            problems.append("event is not an object")
            fields["message"] = str(item)
            fields_extra = None
        message = fields.get("message", "")
        if not fields and item is not None:
            problems.append("event has neither type, what, description nor message")

        rule, groups = _classify(fields.get("type", ""), fields.get("what", ""), object_types, message)
        action = fields.get("description") or (rule.kind if rule else None) \
            or ("_".join(x for x in (fields.get("type"), fields.get("what")) if x) or None)
        ev = base_event(self.module, self.dataset, action)
        ev["@timestamp"] = stamp or now_iso()
        if message:
            ev["message"] = message
        pe_event = {k: v for k, v in fields.items() if k != "message"}
        if fields_extra:
            pe_event.update(fields_extra)
        if count > 1:
            pe["commit"] = {**pe.get("commit", {}), "event_index": index, "event_count": count}
        if pe_event:
            pe["event"] = pe_event
        if rule:
            pe["kind"] = rule.kind
        user = dict(actor)
        group: dict[str, str] = {}
        details: dict[str, str] = {}
        # The commit's object is a user or a group: from its API type (v2) or from the kind (v1).
        for o in objects:
            otype = o.get("type", "").lower()
            as_user = otype in USER_OBJECTS or (not otype and rule is not None and rule.target == "user")
            as_group = otype in GROUP_OBJECTS or (not otype and rule is not None and rule.target == "group")
            if as_user and "target" not in user and (o.get("id") != actor.get("id") or "id" not in o):
                user["target"] = {k: o[k] for k in ("id", "name") if k in o}
            elif as_group and not group:
                group = {k: o[k] for k in ("id", "name") if k in o}
        # What the message names fills in what the object did not say.
        for name, value in groups:
            if name in ("target_name", "target_id"):
                user.setdefault("target", {}).setdefault(name[7:], value)
            elif name in ("group_name", "group_id"):
                group.setdefault(name[6:], value)
            else:
                details[name] = value
        if user:
            ev["user"] = user
        if group:
            ev["group"] = group
        if details:
            pe["details"] = details
        if ip:
            ev["source"] = {"ip": ip}
        _set_service(ev, service)
        if service not in (None, ""):
            pe["service_id"] = str(service)
        if pe:
            ev["puppet_enterprise"] = pe
        target = user.get("target", {})
        add_related(ev, users=(actor.get("name"), actor.get("id"), target.get("name"), target.get("id"),
                               details.get("login_name"), details.get("revoker_name")), ips=(ip,))
        classify(ev, rule.classification if rule is not None else None, bool(fields))
        flag_problems(ev, [p for p in problems if p])
        return ev

    def _timestamp(self, value: Any) -> str | None:
        return vendor_time(value, self.zone)  # the CSV exports' Submit Time has no zone


def _classify_slow(pe_type: str, pe_what: str, object_types: tuple[str, ...], message: str):
    for rule in RULES:
        m = rule.matches(pe_type, pe_what, object_types, message)
        if m:
            return rule, (tuple((k, v) for k, v in m.groupdict().items() if v is not None)
                          if isinstance(m, re.Match) else ())
    return None, ()


# (type, what, object types, message) → (rule, the regex's named groups that matched): walking ~40 rules
# with fnmatch and regexes was a third of a record's time, and audit trails repeat their events. Bounded
# in entries and in the text a key keeps (a hostile feed of long unique messages must not grow memory).
_CLASSIFIED: dict[tuple, tuple] = {}


def _classify(pe_type: str, pe_what: str, object_types: tuple[str, ...], message: str):
    """(rule or None, ((group name, value), …) of the rule's regex that are not None)."""
    key = (pe_type, pe_what, object_types, message)
    try:
        return _CLASSIFIED[key]
    except KeyError:
        pass
    out = _classify_slow(pe_type.lower(), pe_what.lower(), object_types, message)
    if len(message) + len(pe_type) + len(pe_what) + sum(map(len, object_types)) <= _MEMO_TEXT:
        if len(_CLASSIFIED) >= _MEMO_ENTRIES:
            _CLASSIFIED.clear()
        _CLASSIFIED[key] = out
    return out


def _set_service(ev: dict, service: Any) -> None:
    if service not in (None, ""):
        ev["service"] = {"name": str(service)}


def _problems(ev: dict) -> bool:
    return PARSE_FAILURE in ev.get("tags", ())
