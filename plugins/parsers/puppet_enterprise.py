"""Puppet Enterprise activity service: one ECS event per event inside an activity commit.

A record is one commit as the `http_poll` source hands it over:
`{"service_id": "rbac", "api_version": "v2", "commit": {...}}`. A bare commit (`{"subject": …,
"events": […]}`) and a whole saved response page (`{"commits": […]}`) are read too, so
`shipper cat -p puppet_enterprise` works on JSON lines saved from the API.

v1 commits carry `object` and events with only `message`; v2 commits carry `objects` (a list),
`ip_address` and events with `type`/`what`/`description`/`message`. The exact v2 JSON key names
are not published (docs/research/formats.md §5.3), so keys are compared spelling-blind
(`ip_address`, `ip-address`, `ipAddress` are one key).

`event.action` is the event's kind from the catalogue (bounded: a few dozen values), else the API's
`type_what`; the text (`message`, else `description`) is `message`, every field as written stays under
`puppet_enterprise.event`. Nodes (objects of type node, the node of an agent or task run) are in
`related.hosts` (docs/ecs-conventions.md).
"""
from __future__ import annotations

import csv
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import orjson

from shipper.api import (
    AMBIGUOUS_LOCAL_TIME,
    ECS_VERSION,
    PARSE_FAILURE,
    PIPELINE_ERROR,
    UNMAPPED_ACTION,
    BoundedMemo,
    Classification,
    Parser,
    add_tag,
    base_event,
    clean_ip,
    exact_json,
    failure_event,
    load_catalog,
    local_time_in_doubt,
    now_iso,
    original_text,
    squash_key,
    vendor_time_and_zoneless,
    zone_name,
)

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
NODE_OBJECTS = {"nodes", "node"}
GROUP_OBJECTS = {"user_groups", "user_group", "groups"}

# Spelling-blind key names.
K_COMMIT, K_COMMITS, K_EVENTS = "commit", "commits", "events"
K_SERVICE_ID, K_API = "serviceid", "apiversion"
K_SUBJECT, K_OBJECT, K_OBJECTS = "subject", "object", "objects"
K_TIMESTAMP = ("timestamp", "submittime", "servicecommittime")
K_IP = ("ipaddress", "ip")
K_MALFORMED = "malformedpage"

# Every memo's bounds (shipper.memo): entries, and the text one entry's key keeps.
_MEMO_ENTRIES = 4096
_MEMO_TEXT = 1024


def _memo() -> BoundedMemo:
    return BoundedMemo(_MEMO_ENTRIES, _MEMO_TEXT)


# Key set → its spelling-blind keys: a regex sub per key of every dict was a quarter of a record's time,
# and an API writes the same few key sets. Bounded in entries and in the key text an entry keeps.
_SQUASHED_SETS: BoundedMemo[tuple, tuple[str, ...]] = _memo()


def _squash_set(keys: tuple) -> tuple[str, ...]:
    sq = _SQUASHED_SETS.get(keys)
    if sq is None:
        sq = _SQUASHED_SETS.remember(keys, tuple(map(squash_key, keys)))
    return sq


def _picks(memo: BoundedMemo, keys: tuple, wanted: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(spelling-blind name, the key that gives it) for each of `wanted` in a key set, in `wanted`'s
    order; of two spellings of one name the later key wins, as in _squashed. Memoised per key set."""
    out = memo.get(keys)
    if out is None:
        found = dict(zip(_squash_set(keys), keys))
        out = memo.remember(keys, tuple((name, found[name]) for name in wanted if name in found))
    return out


_OBJECT_FIELDS = ("id", "name", "type")
_OBJECT_PICKS: BoundedMemo[tuple, tuple] = _memo()
_SUBJECT_PICKS: BoundedMemo[tuple, tuple] = _memo()
# Commit keys no role reads: kept under puppet_enterprise.commit as written.
_ENVELOPE = frozenset({K_SERVICE_ID, K_API, K_COMMIT, K_COMMITS})  # squashed keys of a record's envelope
_KNOWN = frozenset({K_SERVICE_ID, "service", K_SUBJECT, K_OBJECT, K_OBJECTS, K_EVENTS, *K_TIMESTAMP, *K_IP})


@dataclass(frozen=True, slots=True)
class _CommitShape:
    """The key (as written) that plays each role in a commit with this key set: of two spellings of one
    name the later wins, as in _squashed. Worked out once per key set (an API writes the same few), so
    a commit is read by its own keys, without a squashed copy of it."""

    service: str | None
    timestamps: tuple[tuple[str, str], ...]  # (spelling-blind name, key) of K_TIMESTAMP's given, in its order
    subject: str | None
    objects: str | None  # `objects`, else `object`
    ips: tuple[tuple[str, str], ...]
    events: str | None
    others: tuple[str, ...]  # keys no role reads: kept under puppet_enterprise.commit as written
    # The key of the one time (address) key given, when only one is (the rule): read without _first_keep_rest's call
    timestamp: str | None
    ip: str | None


_COMMIT_SHAPES: BoundedMemo[tuple, _CommitShape] = _memo()


def _commit_shape(keys: tuple) -> _CommitShape:
    shape = _COMMIT_SHAPES.get(keys)
    if shape is None:
        squashed = _squash_set(keys)
        found = dict(zip(squashed, keys))
        timestamps = tuple((n, found[n]) for n in K_TIMESTAMP if n in found)
        ips = tuple((n, found[n]) for n in K_IP if n in found)
        shape = _COMMIT_SHAPES.remember(keys, _CommitShape(
            found.get("service"), timestamps, found.get(K_SUBJECT), found.get(K_OBJECTS, found.get(K_OBJECT)), ips,
            found.get(K_EVENTS), tuple(k for k, sk in zip(keys, squashed) if sk not in _KNOWN),
            timestamps[0][1] if len(timestamps) == 1 else None, ips[0][1] if len(ips) == 1 else None))
    return shape


@dataclass(frozen=True, slots=True)
class _RecordShape:
    """The same for a record's top level: the keys of its service id, API version, commit(s); the keys
    beside them (puppet_enterprise.envelope); and whether it is a malformed-page record or a CSV row."""

    service: str | None
    api: str | None
    commit: str | None
    commits: str | None
    envelope: tuple[str, ...]
    malformed: bool
    row: bool  # no events and no subject, but an event's field: a row of the CSV export
    plain: bool  # a commit key and nothing beside it but the service id and API version: parse_batch's usual record


_RECORD_SHAPES: BoundedMemo[tuple, _RecordShape] = _memo()


def _record_shape(keys: tuple) -> _RecordShape:
    shape = _RECORD_SHAPES.get(keys)
    if shape is None:
        squashed = _squash_set(keys)
        found = dict(zip(squashed, keys))
        shape = _RECORD_SHAPES.remember(keys, _RecordShape(
            found.get(K_SERVICE_ID), found.get(K_API), found.get(K_COMMIT), found.get(K_COMMITS),
            tuple(k for k, sk in zip(keys, squashed) if sk not in _ENVELOPE), K_MALFORMED in found,
            K_EVENTS not in found and K_SUBJECT not in found and not _ROW_EVENT.isdisjoint(found),
            K_COMMIT in found and _ENVELOPE.issuperset(squashed)))
    return shape


def _actor(subject: dict) -> tuple[dict, dict | None, list[str]]:
    """(user dict, puppet_enterprise.subject or None, related users) of a commit's subject. Not memoised:
    a busy console has thousands of accounts, and a memo's miss (its key built and sized) cost more than
    this; the user dict and list are the commit's own, shared by its events (nothing mutates them)."""
    user: dict[str, Any] = {}
    pe_subject = None
    keys = tuple(subject)
    for name, k in _SUBJECT_PICKS.get(keys) or _picks(_SUBJECT_PICKS, keys, _OBJECT_FIELDS):
        v = subject[k]
        if v is None or v == "":
            continue
        if name == "type":
            pe_subject = {"type": v if v.__class__ is str else str(v)}
        else:
            user[name] = v if v.__class__ is str else str(v)
    uname, uid = user.get("name"), user.get("id")
    # related.user's first entries
    users = ([uname, uid] if uid and uid != uname else [uname]) if uname else ([uid] if uid else [])
    return user, pe_subject, users


# A row of the activity API's CSV export (GET /v1|v2/events.csv: Submit Time, Subject Type/Id/Name,
# Object Type/Id/Name, Type, What, Description, Message, Ip Address) flattens one commit of one event.
_ROW_EVENT = frozenset({"type", "what", "description", "message"})
_ROW_PARTS = {"subjecttype": ("subject", "type"), "subjectid": ("subject", "id"), "subjectname": ("subject", "name"),
              "objecttype": ("object", "type"), "objectid": ("object", "id"), "objectname": ("object", "name")}


def _row_as_commit(row: dict) -> dict:
    """The commit a CSV export row flattens: subject, objects and events nested again, other columns
    (Submit Time, Ip Address, undocumented ones) left at the commit's level as written."""
    commit: dict[str, Any] = {}
    subject: dict[str, Any] = {}
    obj: dict[str, Any] = {}
    event: dict[str, Any] = {}
    for k, sk in zip(row, _squash_set(tuple(row))):
        v = row[k]
        if sk in _ROW_PARTS:
            part, field = _ROW_PARTS[sk]
            if v is not None and v != "":
                (subject if part == "subject" else obj)[field] = v
        elif sk in _ROW_EVENT:
            if v is not None and v != "":
                event[sk] = v
        else:
            commit[k] = v
    if subject:
        commit[K_SUBJECT] = subject
    if obj:
        commit[K_OBJECTS] = [obj]
    commit[K_EVENTS] = [event]
    return commit


def _squashed(doc: dict) -> dict[str, Any]:
    return dict(zip(_squash_set(tuple(doc)), doc.values()))  # a later spelling of a key wins, as before


class PuppetEnterpriseParser(Parser):
    module = "puppet_enterprise"
    dataset = "puppet_enterprise.activity"
    # Typed in Elasticsearch by `shipper setup elasticsearch` (elasticsearch_ingest_pipeline.py); the event
    # items, objects, regex details and commit fields are open-ended: flattened.
    vendor_field_types = {
        "kind": "keyword", "service_id": "keyword", "api_version": "keyword", "ip_address": "keyword",
        "subject.type": "keyword", "event": "flattened", "objects": "flattened", "details": "flattened",
        "envelope": "flattened", "commit": "flattened",
    }

    def __init__(self, options=None):
        super().__init__(options)
        # A commit's time text → (@timestamp, event.timezone, in an hour DST repeats or skips): the commits
        # of one second share it (the API writes whole seconds).
        self._times: BoundedMemo[str, tuple[str | None, str | None, bool]] = _memo()

    def parse(self, raw: bytes) -> list[dict]:
        return self._record(raw, exact_json.loads)

    def parse_batch(self, raws: list[bytes]) -> list[list[dict]]:
        """parse() of each record with the batch's loads (exact_json.loads_for: one check of the batch for
        integers orjson cannot read exactly instead of one a record). The usual record (a commit object and
        its service and API version, nothing else) goes to _commit from this loop, without _record's call
        (~1 % of a record); any other is _record's, which reads it again."""
        loads, commit_events, record = exact_json.loads_for(raws), self._commit, self._record
        out: list[list[dict]] = []
        append = out.append
        for raw in raws:
            try:
                doc = loads(raw)
            except orjson.JSONDecodeError:
                doc = None
            if doc.__class__ is dict:
                keys = tuple(doc)
                shape = _RECORD_SHAPES.get(keys) or _record_shape(keys)
                if shape.plain and (commit := doc[shape.commit]).__class__ is dict:
                    append(commit_events(commit, doc.get(shape.service), doc.get(shape.api), raw))
                    continue
            append(record(raw, loads))
        return out

    def _record(self, raw: bytes, loads: Callable[[bytes], Any]) -> list[dict]:
        try:
            doc = loads(raw)
        except orjson.JSONDecodeError as e:
            try:
                doc = exact_json.loads_replacing(raw)  # a byte that is not UTF-8 costs that character only
            except orjson.JSONDecodeError:
                return [self._failure(raw, f"not a Puppet Enterprise activity record (JSON): {e}")]
        if not isinstance(doc, dict):
            return [self._failure(raw, f"expected a JSON object, got {type(doc).__name__}")]
        keys = tuple(doc)
        shape = _RECORD_SHAPES.get(keys) or _record_shape(keys)  # (a hit without a call: hits are the rule)
        if shape.malformed:  # the source could not read a response page: ship what it got
            top = _squashed(doc)
            ev = self._failure(str(top[K_MALFORMED]), str(top.get("error") or "malformed response page"))
            _set_service(ev, top.get(K_SERVICE_ID))
            return [ev]
        service = doc.get(shape.service)  # (a key is never None: .get(None) is None)
        api = doc.get(shape.api)
        # Beside the commit(s): whatever else the record holds (a saved page's offset and total-rows,
        # keys nobody documented) goes with every event, under puppet_enterprise.envelope.
        envelope = {k: v for k in shape.envelope if (v := doc[k]) is not None} \
            if shape.envelope and (shape.commit is not None or shape.commits is not None) else None
        commit = doc.get(shape.commit)
        if isinstance(commit, dict):
            return self._commit(commit, service, api, raw, envelope)
        if shape.commit is not None:
            return [self._failure(raw, f"commit is a {type(commit).__name__}, not an object", service)]
        commits = doc.get(shape.commits)
        if isinstance(commits, list):  # a saved response page
            out: list[dict] = []
            for c in commits:
                if isinstance(c, dict):
                    out.extend(self._commit(c, service, api, orjson.dumps(c), envelope))
                else:
                    out.append(self._failure(orjson.dumps(c), "commit is not a JSON object", service))
            return out
        if shape.row:
            doc = _row_as_commit(doc)  # a row of the CSV export, read as an object
        return self._commit(doc, service, api, raw)

    def _time(self, ts_raw: Any) -> tuple[str | None, str | None, bool]:
        """(@timestamp, event.timezone, whether it lies in an hour DST repeats or skips) of a commit's time:
        a zone only for a time written without one (a CSV export's Submit Time), read in the source's."""
        stamp, zoneless = vendor_time_and_zoneless(ts_raw, self.zone)
        if stamp is None or not zoneless:
            return stamp, None, False
        return stamp, zone_name(self.zone), local_time_in_doubt(ts_raw, self.zone)

    def _failure(self, raw: bytes | str, message: str, service: Any = None) -> dict:
        ev = failure_event(raw, message, self.module, self.dataset)
        _set_service(ev, service)
        return ev

    def _commit(self, commit: dict, service: Any, api: Any, raw: bytes, envelope: dict | None = None) -> list[dict]:
        keys = tuple(commit)
        shape = _COMMIT_SHAPES.get(keys) or _commit_shape(keys)
        problems: list[str] = []
        pe: dict[str, Any] = {}
        svc = commit.get(shape.service)
        if service is None and isinstance(svc, dict):
            service = svc.get("id")
        if svc is not None and not (isinstance(svc, dict) and svc.keys() <= {"id"} and svc.get("id") == service):
            pe["commit"] = {"service": svc}  # a service name, or more than the id we took: kept as written
        if api:
            pe["api_version"] = str(api)
        if envelope:
            pe["envelope"] = envelope

        # (submitted, committed: the first given, the others kept; an empty text is none, as there)
        ts_raw = commit[shape.timestamp] if shape.timestamp is not None else _first_keep_rest(commit, shape.timestamps, pe)
        if ts_raw is None or ts_raw == "":
            stamp, tz, doubt = None, None, False
            problems.append("commit has no timestamp")
        else:
            if ts_raw.__class__ is str:
                when = self._times.get(ts_raw)
                if when is None:
                    when = self._times.remember(ts_raw, self._time(ts_raw))
            else:
                when = self._time(ts_raw)
            stamp, tz, doubt = when
            if stamp is None:
                problems.append(f"unreadable timestamp {ts_raw!r}")
            pe.setdefault("commit", {})["timestamp"] = str(ts_raw)

        subject = commit.get(shape.subject)
        if subject.__class__ is dict:
            user, pe_subject, actor_users = _actor(subject)
            if pe_subject is not None:
                pe["subject"] = pe_subject
        elif subject is not None:
            user, actor_users = {}, []
            problems.append("subject is not an object")
            pe["subject"] = {"value": str(subject)}
        else:
            user, actor_users = {}, []
            problems.append("commit has no subject")

        objects: list[dict] = []
        types: list[str] = []
        placed: list[dict] = []  # objects that may become user.target or group (by API type, or by kind if none)
        hosts: list[str] = []  # the names of node objects: related.hosts
        raw_objects = commit.get(shape.objects)
        if isinstance(raw_objects, dict):
            raw_objects = [raw_objects]
        if isinstance(raw_objects, list):
            for o in raw_objects:
                if isinstance(o, dict):
                    obj = {}
                    keys = tuple(o)
                    for name, k in _OBJECT_PICKS.get(keys) or _picks(_OBJECT_PICKS, keys, _OBJECT_FIELDS):
                        v = o[k]
                        if v is not None and v != "":
                            obj[name] = v if v.__class__ is str else str(v)
                    objects.append(obj)
                    t = obj.get("type")
                    if t is not None:
                        t = t.lower()
                        types.append(t)
                        if t in _PLACED_TYPES:
                            placed.append(obj)
                        elif t in NODE_OBJECTS and "name" in obj:
                            hosts.append(obj["name"])
                    else:
                        placed.append(obj)
                elif o is not None:
                    obj = {"id": str(o)}
                    objects.append(obj)
                    placed.append(obj)
        elif raw_objects is not None:
            problems.append("object(s) is not an object or a list")
        if objects:
            pe["objects"] = objects
        object_types = tuple(types)

        ip_raw = commit[shape.ip] if shape.ip is not None else _first_keep_rest(commit, shape.ips, pe)
        if ip_raw == "":
            ip_raw = None
        ip = clean_ip(ip_raw)
        if ip_raw is not None and ip != ip_raw:
            pe["ip_address"] = str(ip_raw)  # not an address, or a port or zone id cut from source.ip: kept as written
        # Commit fields no one above knows: kept as the vendor wrote them.
        other_keys = shape.others
        if other_keys:
            other = {k: commit[k] for k in other_keys if commit[k] is not None}
            if other:
                pe.setdefault("commit", {}).update(other)

        events = commit.get(shape.events)
        if not isinstance(events, list) or not events:
            # Never dropped: the commit is still shipped, as one flagged event.
            problems.append("commit has no events" if events in (None, []) else "events is not a list")
            events = [None]
        return self._events(events, pe, user, actor_users, placed, object_types, ip, service, stamp, problems, raw,
                            hosts, tz, doubt)

    def _events(self, events: list, commit_pe: dict, actor: dict, actor_users: list[str], placed: list[dict],
                object_types: tuple[str, ...], ip: str | None, service: Any, stamp: str | None, problems: list[str],
                raw: bytes, hosts: Sequence[str] = (), tz: str | None = None, doubt: bool = False) -> list[dict]:
        """One event per item. What the commit gives every event (source, service, related, the actor's user
        dict) is one dict shared by its events, and so is the plan's `event` unless this event adds to it:
        nothing downstream mutates them (shipper.plugin). The event dict, `puppet_enterprise` and `tags` are
        each event's own; a commit of one event gives it the commit's `puppet_enterprise` dict itself."""
        count = len(events)
        svc = str(service) if service not in (None, "") else None
        service_d = {"name": svc} if svc is not None else None
        source = {"ip": ip} if ip else None
        related = {}
        if actor_users:
            related["user"] = actor_users
        if ip:
            related["ip"] = [ip]
        commit_of = commit_pe.get("commit", {})
        original = None
        out = []
        for index, item in enumerate(events):
            try:  # the plan memo's hit read here, without a call (~1,800 instructions an event); _plan does the rest
                plan = _PLANS.get((*item, *item.values(), object_types)) if item.__class__ is dict else None
            except TypeError:  # a list or an object among the values
                plan = None
            if plan is None:
                plan = _plan(item, object_types)
            flags = problems + plan.problems if plan.problems else problems
            event = plan.event
            if tz is not None or flags:  # this event adds to it: its own copy
                event = event.copy()
                if tz is not None:
                    event["timezone"] = tz  # read in the source's zone (ECS)
            ev = {"ecs": ECS, "event": event, "@timestamp": stamp or now_iso()}
            if plan.message:
                ev["message"] = plan.message
            ev_related = related
            if placed:
                user, group = _place(actor, placed, plan)
                target = user.get("target", {})
                named = tuple(v for v in (target.get("name"), target.get("id"), *plan.others) if v)
            else:  # no object to place (the kind's target alone places nothing): what the message names, the plan's
                user = {**actor, "target": plan.target} if plan.target else actor
                group, named = plan.group, plan.named
            if named:
                users = list(actor_users)
                for v in named:
                    if v not in users:
                        users.append(v)
                ev_related = {"user": users}
                if ip:
                    ev_related["ip"] = related["ip"]
            if user:
                ev["user"] = user
            if group:
                ev["group"] = group
            if source is not None:
                ev["source"] = source
            if service_d is not None:
                ev["service"] = service_d
            if count == 1:
                pe = commit_pe
                pe.update(plan.tail)
            else:
                pe = {**commit_pe, "commit": {**commit_of, "event_index": index, "event_count": count}, **plan.tail}
            if svc is not None:
                pe["service_id"] = svc
            if pe:
                ev["puppet_enterprise"] = pe
            if hosts or plan.hosts:
                ev_related = {**ev_related, "hosts": list(dict.fromkeys([*hosts, *plan.hosts]))}
            if ev_related:
                ev["related"] = ev_related
            if plan.unmapped:
                ev["tags"] = [UNMAPPED_ACTION, PARSE_FAILURE] if flags else [UNMAPPED_ACTION]
            elif flags:
                ev["tags"] = [PARSE_FAILURE]
            if flags:
                event["kind"] = PIPELINE_ERROR  # as shipper.ecs.flag_problems: what was read may be incomplete
                if stamp:  # the product's time in @timestamp: the read time beside it (flag_problems' product_time)
                    event["created"] = now_iso()
                ev["error"] = {"message": "; ".join(flags)}
                if original is None:
                    original = original_text(raw)
                event["original"] = original
            if doubt:
                add_tag(ev, AMBIGUOUS_LOCAL_TIME)  # @timestamp may be an hour off
            out.append(ev)
        return out



ECS = {"version": ECS_VERSION}
_PLACED_TYPES = USER_OBJECTS | GROUP_OBJECTS | {""}
_FIELDS = ("type", "what", "description", "message")


@dataclass(frozen=True, slots=True)
class _Plan:
    """What one event item gives its ECS event, whatever the commit: the `event` dict (copied per event;
    its category/type lists shared), the message, puppet_enterprise's event/kind/details (shared: nothing
    mutates them), the item's own problems, and what the kind's regex named."""

    event: dict
    message: str
    tail: dict
    problems: list
    unmapped: bool
    rule_target: str | None
    # What the regex names, in its order (shared: nothing mutates them): the target user (name, id, and the
    # role it joins or leaves as its group), the group; with no object placed they are user.target and group
    target: dict
    group: dict
    others: tuple  # other users the message names (who logged in, who revoked a token: name, id): related.user
    named: tuple  # related.user's own entries with no object placed: the target's name and id, then `others`
    hosts: tuple = ()  # the nodes the message names (agent and task runs)


# Event item (its key/value pairs, all text) and the commit's object types → its plan: events repeat.
_PLANS: BoundedMemo[tuple, _Plan] = _memo()


def _plan(item: Any, object_types: tuple[str, ...]) -> _Plan:
    if item.__class__ is not dict:
        return _make_plan(item, object_types)
    key = (*item, *item.values(), object_types)  # keys, values, types: one flat tuple (as many keys, as long)
    try:
        plan = _PLANS.get(key)
    except TypeError:  # a list or an object among the values
        return _make_plan(item, object_types)
    if plan is None:
        plan = _make_plan(item, object_types)
        # Only text values: 1 == True == 1.0 would let one item take another's plan.
        if all(v is None or v.__class__ is str for v in item.values()):
            _PLANS.remember(key, plan)
    return plan


def _make_plan(item: Any, object_types: tuple[str, ...]) -> _Plan:
    fields: dict[str, str] = {}
    problems: list[str] = []
    if isinstance(item, dict):
        e = _squashed(item)
        for k in _FIELDS:
            if e.get(k) not in (None, ""):
                fields[k] = str(e[k])
        fields_extra = {k: v for k, sk, v in zip(item, _squash_set(tuple(item)), item.values())
                        if sk not in _FIELDS and v is not None}
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
    # Bounded: the catalogue's kind, else the API's type and what (enumerations); never the free text.
    # A fallback row (on `type` alone, `what` = *) names no object: its kind ("deleted") would make the
    # deletion of a user and of a node class one action, so the API's type_what is used there.
    fallback = rule is not None and rule.pe_what == "*" and bool(fields.get("what"))
    action = (rule.kind if rule and not fallback else None) \
        or ("_".join(x for x in (fields.get("type"), fields.get("what")) if x) or None)
    message = message or fields.get("description", "")
    event = base_event(PuppetEnterpriseParser.module, PuppetEnterpriseParser.dataset, action)["event"]
    if rule is not None:
        cls = rule.classification
        event["category"] = list(cls.category)
        event["type"] = list(cls.type)
        if cls.outcome:
            event["outcome"] = cls.outcome
    tail: dict[str, Any] = {}
    pe_event = {k: v for k, v in fields.items() if k != "message"}
    if fields_extra:
        pe_event.update(fields_extra)
    if pe_event:
        tail["event"] = pe_event
    if rule:
        tail["kind"] = rule.kind
    target: dict[str, Any] = {}
    group: dict[str, str] = {}
    details: dict[str, str] = {}
    for name, value in groups:  # of a name given twice, the first
        if name in ("target_name", "target_id"):
            target.setdefault(name[7:], value)
        elif name in ("group_name", "group_id"):
            group.setdefault(name[6:], value)
        else:
            details[name] = value
    role = details.get("role")
    if role is not None and target:
        # the role the user the message names joins or leaves: user.target.group (conventions, "Membership");
        # not a role given a permission, nor a group's role
        target["group"] = {"name": role}
    if details:
        tail["details"] = details
    rule_target = rule.target if rule is not None else None
    node = details.get("node")
    hosts = tuple(h for h in (x.strip() for x in node.split(",")) if h) if node else ()
    others = tuple(v for k in ("login_name", "login_id", "revoker_name", "revoker_id") if (v := details.get(k)))
    named = tuple(v for v in (target.get("name"), target.get("id"), *others) if v)
    return _Plan(event, message, tail, problems, rule is None and bool(fields), rule_target, target, group, others,
                 named, hosts)


def _place(actor: dict, placed: list[dict], plan: _Plan) -> tuple[dict, dict]:
    """user (the actor, with the target user) and group: from the commit's objects, by their API type (v2)
    or by the kind (v1), then what the message names fills in what the objects did not say."""
    user = dict(actor)
    group: dict[str, str] = {}
    target_kind = plan.rule_target
    for o in placed:
        otype = o.get("type", "").lower()
        as_user = otype in USER_OBJECTS or (not otype and target_kind == "user")
        as_group = otype in GROUP_OBJECTS or (not otype and target_kind == "group")
        if as_user and "target" not in user and (o.get("id") != actor.get("id") or "id" not in o):
            user["target"] = {k: o[k] for k in ("id", "name") if k in o}
        elif as_group and not group:
            group = {k: o[k] for k in ("id", "name") if k in o}
    if plan.target:  # the objects' own dicts (made above) or new ones: the plan's are shared
        target = user.setdefault("target", {})
        for k, v in plan.target.items():
            target.setdefault(k, v)
    for k, v in plan.group.items():
        group.setdefault(k, v)
    return user, group


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
_CLASSIFIED: BoundedMemo[tuple, tuple] = _memo()


def _classify(pe_type: str, pe_what: str, object_types: tuple[str, ...], message: str):
    """(rule or None, ((group name, value), …) of the rule's regex that are not None)."""
    key = (pe_type, pe_what, object_types, message)
    out = _CLASSIFIED.get(key)
    if out is None:
        out = _CLASSIFIED.remember(key, _classify_slow(pe_type.lower(), pe_what.lower(), object_types, message))
    return out


def _first_keep_rest(c: dict, picks: tuple[tuple[str, str], ...], pe: dict) -> Any:
    """The value of the first of `picks` (spelling-blind name, key) the commit gives; the others given are
    kept under puppet_enterprise.commit by their spelling-blind name, not dropped."""
    first = None
    for name, k in picks:
        v = c[k]
        if v is not None and v != "":
            if first is None:
                first = v
            else:
                pe.setdefault("commit", {})[name] = v
    return first


def _set_service(ev: dict, service: Any) -> None:
    if service not in (None, ""):
        ev["service"] = {"name": str(service)}

