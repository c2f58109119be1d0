"""Azure Databricks audit events, in any of the five shapes they reach a host in (docs/research/formats.md §3):

1. Azure Monitor diagnostic record as written to storage (`PT1H.json`, one per line): `time`, `resourceId`,
   `category`, `operationName`, `identity`, `properties{serviceName, actionName, logId, requestParams, …}`;
2. an Event Hub payload `{"records": [ … ]}`: one line, many events;
3. a Log Analytics row (`TimeGenerated`, `OperationName`, `Identity`, `ServiceName`, `ActionName`, …);
4. a native audit-log delivery line (`timestamp` in epoch ms, `serviceName`, `userIdentity`, `auditLevel`, …);
5. a `system.access.audit` row (snake_case columns: `event_time`, `service_name`, `user_identity`, …).

The shapes differ in key spelling and nesting, not in meaning, so one table maps every spelling to its
role; the shape is recorded in `databricks.record_format`. `identity`, `requestParams`, `response` (and
the system table's struct columns) may be JSON strings or objects. `requestParams` is kept whole as an
object under `databricks.request_params` (mapped `flattened` in Elasticsearch: its keys are unbounded)
and none of its values is copied into ECS fields. Everything the vendor wrote that has no ECS field
stays under `databricks.*`, snake_cased.

What an auditor asks is promoted to ECS besides (docs/ecs-conventions.md), the vendor fields kept: the
target user and group of `requestParams` (`user.target.*`, `user.target.group.*` or `group.*`), the
file or notebook path (`file.path`/`file.name`), the workspace (`cloud.*`) and the account
(`organization.id`). `event.action` is `service.action` (20 action names occur in several services);
the action as written stays in `databricks.action_name`.
"""
from __future__ import annotations

from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from shipper.api import (
    ECS_VERSION,
    MISSING,
    BoundedMemo,
    Parser,
    audit_message,
    classify,
    clean_ip,
    exact_json,
    failure_event,
    flag_problems,
    load_catalog,
    now_iso,
    original_text,
    snake_case,
    vendor_time,
)

CATALOG = load_catalog(Path(__file__).with_name("databricks_actions.csv"), ("service", "action"))

SYSTEM_USER = "System-User"  # the documented actor of automated actions (autoscaling, scheduled runs)
TRUNCATED_SUFFIX = "... truncated"  # appended to requestParams values cut at 100 KB
TRUNCATED_KEY = "TRUNCATED"  # the single key left when even the cut map is too big

# Every documented spelling of a field with a role, across the five shapes.
ROLES = {
    "time": "time", "TimeGenerated": "time", "timestamp": "time", "event_time": "time",
    "identity": "identity", "Identity": "identity", "userIdentity": "identity", "user_identity": "identity",
    "serviceName": "service", "ServiceName": "service", "service_name": "service",
    "actionName": "action", "ActionName": "action", "action_name": "action",
    "logId": "id", "LogId": "id", "event_id": "id",
    "sourceIPAddress": "ip", "SourceIPAddress": "ip", "SourceIpAddress": "ip", "source_ip_address": "ip",
    "userAgent": "user_agent", "UserAgent": "user_agent", "user_agent": "user_agent",
    "response": "response", "Response": "response",
    "requestParams": "params", "RequestParams": "params", "request_params": "params",
    "identity_metadata": "identity_metadata",
    "properties": "properties",
}
# Keys that only one shape has: how the shape is told (first found wins; `properties` is checked first).
SHAPE_HINTS = (("TimeGenerated", "log_analytics"), ("event_time", "system_table"),
               ("userIdentity", "audit_delivery"), ("timestamp", "audit_delivery"), ("user_identity", "system_table"))

MODULE = "databricks"
DATASET = "databricks.audit"
ECS = {"version": ECS_VERSION}  # one dict for every event: nothing mutates it (see shipper/events.py)

# The order in which a plan hands the role values over (see _Plan.roles).
ROLE_ORDER = ("time", "identity", "service", "action", "id", "ip", "user_agent", "response", "params",
              "identity_metadata")

_MEMO_TEXT = 1024  # the most text a memo's key keeps (shipper.memo): a hostile line's megabytes are not kept


class DatabricksParser(Parser):
    module = MODULE
    dataset = DATASET
    # Typed in Elasticsearch by `shipper setup elasticsearch` (elasticsearch_ingest_pipeline.py); the rest of
    # databricks.* stays in _source. request_params is open-ended: flattened.
    vendor_field_types = {
        "action_name": "keyword", "actor_type": "keyword", "record_format": "keyword",
        "request_params": "flattened", "request_params_text": "keyword", "request_params_truncated": "boolean",
        "response.status_code": "long", "response.status_code_text": "keyword", "response.error_message": "keyword",
        "response.result": "keyword", "workspace_id": "keyword", "account_id": "keyword", "request_id": "keyword",
        "session_id": "keyword", "operation_name": "keyword", "operation_version": "keyword", "category": "keyword",
        "resource_id": "keyword", "source_ip_address": "keyword", "audit_level": "keyword",
        "source_path": "keyword",
        # the other documented scalar columns: system table version, event_date; Log Analytics TenantId,
        # SourceSystem, Type, _SubscriptionId; the diagnostic records' Host
        "version": "keyword", "event_date": "keyword", "tenant_id": "keyword", "source_system": "keyword",
        "type": "keyword", "subscription_id": "keyword", "host": "keyword",
    }

    def __init__(self, options=None):
        super().__init__(options)
        # Memos, each bounded against hostile input (shipper.memo): a file repeats its few values.
        self._keys: BoundedMemo[str, str] = BoundedMemo(10_000, _MEMO_TEXT)  # vendor key → snake_case name
        self._route: BoundedMemo[str, tuple[str | None, str]] = BoundedMemo(10_000, _MEMO_TEXT)  # vendor key → (role, snake_case name)
        self._last_in: Any = None
        self._last_out: str | None = None
        self._clouds: BoundedMemo[tuple, dict] = BoundedMemo(4096, _MEMO_TEXT)  # (resource, subscription, workspace) → `cloud`
        # ISO text as written → @timestamp (records of a file share few seconds)
        self._iso: BoundedMemo[str, str | None] = BoundedMemo(4096, _MEMO_TEXT)
        self._classes: BoundedMemo[tuple, Any] = BoundedMemo(4096, _MEMO_TEXT)  # (service, action), as written → catalogue entry
        self._identities: BoundedMemo[str, tuple[dict | None, Any]] = BoundedMemo(4096, _MEMO_TEXT)  # identity JSON text → (other fields, email)
        self._metadata: BoundedMemo[str, dict | None] = BoundedMemo(4096, _MEMO_TEXT)  # identity_metadata JSON text → its fields (None: not JSON)
        # response JSON text → _response_fields
        self._responses: BoundedMemo[str, tuple[dict, str | None, str | None]] = BoundedMemo(4096, _MEMO_TEXT)
        # a response object's JSON → _response_fields: as few distinct ones as the texts
        self._response_objects: BoundedMemo[bytes, tuple[dict, str | None, str | None]] = BoundedMemo(4096, _MEMO_TEXT)
        self._plans: BoundedMemo[tuple, _Plan] = BoundedMemo(4096, 2 * _MEMO_TEXT)  # key set of a record (and of its properties) → its routing
        self._requests: BoundedMemo[tuple, _Request] = BoundedMemo(4096, _MEMO_TEXT)  # requestParams' key set → what it holds

    # -- entry point -------------------------------------------------------------------------------

    def parse(self, raw: bytes) -> list[dict]:
        try:
            doc = exact_json.loads(raw)
        except orjson.JSONDecodeError as e:
            if not raw.strip():
                return []  # a blank line is no record
            try:
                doc = exact_json.loads_replacing(raw)  # a byte that is not UTF-8 costs that character only
            except orjson.JSONDecodeError:
                return [_failure(raw, f"not a Databricks JSON record: {e}")]
        return self._parsed(doc, raw)

    def parse_batch(self, raws: list[bytes]) -> list[list[dict]]:
        """parse() of each line, the usual one (an object, no `records`) mapped without parse's frame."""
        out: list[list[dict]] = []
        append = out.append
        loads, map_ = exact_json.loads_for(raws), self._map
        for raw in raws:
            try:
                doc = loads(raw)
            except orjson.JSONDecodeError:
                append(self.parse(raw))
                continue
            if doc.__class__ is dict and "records" not in doc:
                try:
                    append([map_(doc, raw, None)])
                except Exception as e:  # as in _record
                    append([_mapping_failure(doc, e)])
            else:
                append(self._parsed(doc, raw))
        return out

    def _parsed(self, doc: Any, raw: bytes) -> list[dict]:
        if isinstance(doc, dict):
            records = doc.get("records")
            if isinstance(records, list) and "properties" not in doc and "time" not in doc:
                return [self._record(r, raw, "eventhub") for r in records]  # Event Hub payload
            try:
                return [self._map(doc, raw, None)]
            except Exception as e:  # as in _record
                return [_mapping_failure(doc, e)]
        if isinstance(doc, list):  # a JSON array of rows (e.g. a Log Analytics query export)
            return [self._record(r, raw, None) for r in doc]
        return [_failure(raw, f"expected a JSON object, got {type(doc).__name__}")]

    def _record(self, rec: Any, raw: bytes, envelope: str | None) -> dict:
        if not isinstance(rec, dict):
            return _failure(orjson.dumps(rec), f"record is a {type(rec).__name__}, not an object")
        try:
            return self._map(rec, raw, envelope)
        except Exception as e:  # a mapping bug must not lose the record: ship it flagged
            return _mapping_failure(rec, e)

    # -- mapping -----------------------------------------------------------------------------------

    def _key(self, key: str) -> str:
        k = self._keys.get(key)
        if k is None:
            k = self._keys.remember(key, snake_case(key) or "_empty_key")
        return k

    def _map(self, rec: dict, raw: bytes, envelope: str | None) -> dict:
        written = rec.get("properties")
        props: Any = _json_obj(written) if isinstance(written, str) else written  # an object, when diagnostic
        diagnostic = isinstance(props, dict)
        keys = (tuple(rec), tuple(props)) if diagnostic else tuple(rec)
        plan = self._plans.get(keys) or self._new_plan(keys, diagnostic)
        if plan.simple:  # every role and every snake_case name once: no decision left but the nulls
            db = {}
            for k, sk in plan.top:  # plain loops: cheaper than a comprehension's call for ~8 keys
                v = rec[k]
                if v is not None:
                    db[sk] = v
            for k, sk in plan.inner:
                v = props[k]
                if v is not None:
                    db[sk] = v
            (t, identity, service, action, log_id, ip_raw, ua, response, params,
             metadata) = plan.pick(plan.top_roles(rec) + plan.inner_roles(props) + _NONE)
        else:  # a role or a name twice: which one wins depends on the values
            roles: dict[str, Any] = {}
            db = {}
            if diagnostic:
                self._split(rec, roles, db, skip_properties=True)
                self._split(props, roles, db, skip_properties=False)
            else:
                self._split(rec, roles, db, skip_properties=False)
            t, identity, service, action, log_id, ip_raw, ua, response, params, metadata = map(roles.get, ROLE_ORDER)
        if not diagnostic and written is not None:
            db["properties"] = written  # not an object (nor JSON text of one): kept as written
        db["record_format"] = f"{envelope}/{plan.shape}" if envelope else plan.shape

        if service.__class__ is not str or not service:  # _text only for what is not a plain string
            service = _text(service)
        if action.__class__ is not str or not action:
            action = _text(action)
        problems: list[str] | None = None  # made only for the few records that lack something
        if service and action:  # the usual record: the event's head in one literal
            event = {"kind": "event", "module": MODULE, "dataset": DATASET, "action": f"{service}.{action}",
                     "provider": service}
            if "action_name" not in db:  # a vendor key of that name (not the action's) is kept as written
                db["action_name"] = action
        else:
            svc, act = _from_operation(db.get("operation_name"))
            service, action = service or svc, action or act
            event = {"kind": "event", "module": MODULE, "dataset": DATASET}
            if action is not None:
                event["action"] = f"{service}.{action}" if service else action
                if "action_name" not in db:
                    db["action_name"] = action
            if service:
                event["provider"] = service
            if not (service and action):
                problems = []
                if not service:
                    problems.append("missing serviceName")
                if not action:
                    problems.append("missing actionName")

        # ISO text seen before is looked up here, not in _time: most records carry it, a call costs more than the hit
        stamp = self._iso.get(t, MISSING) if t.__class__ is str else MISSING
        if stamp is MISSING:
            stamp = self._time(t) if t is not None else None
        read_at = None  # the clock's time, when the record gives none (flag_problems: @timestamp not the product's)
        if stamp is None:
            if problems is None:
                problems = []
            problems.append("missing time" if t is None else f"unreadable time {t!r}")
            stamp = read_at = now_iso()
            if t is not None:
                db["time"] = t
        ev: dict[str, Any] = {"ecs": ECS, "event": event, "databricks": db, "@timestamp": stamp}

        if log_id is not None and log_id != "":
            event["id"] = log_id if log_id.__class__ is str else str(log_id)

        self._actor(ev, db, identity, metadata)

        if ip_raw is not None and ip_raw != "":
            ip = clean_ip(ip_raw)
            if ip is not None:
                ev["source"] = {"ip": ip}
                related = ev.get("related")
                if related is None:
                    ev["related"] = {"ip": [ip]}
                else:
                    related["ip"] = [ip]  # the first address: only users are related before
            if ip != ip_raw:
                db["source_ip_address"] = ip_raw  # ':port', or not an address: kept as written
        if ua:
            ev["user_agent"] = {"original": ua if ua.__class__ is str else str(ua)}

        if response is not None:  # _response's work here: one call fewer per record
            if response.__class__ is str:  # a JSON string: few distinct ones (`{"statusCode":200}` and the like)
                out, outcome, message = self._responses.get(response) or self._new_response(response)
                out = dict(out)  # a copy: the memo's dict is no event's
            elif response.__class__ is dict:
                try:  # its JSON the key: the items would take 1 for true and 200 for 200.0
                    text = orjson.dumps(response)
                except orjson.JSONEncodeError:  # nested deeper than orjson writes
                    fields = self._response_fields(response)
                else:
                    fields = self._response_objects.get(text) or self._response_objects.remember(
                        text, self._response_fields(response))
                out, outcome, message = fields
                out = dict(out)  # a copy: the memo's dict is no event's
            else:
                out, outcome, message = self._response_fields(response)
            if outcome is not None:
                event["outcome"] = outcome
            if message is not None:
                ev["error"] = {"message": message}
            db["response"] = out
        rp, request = None, _NO_REQUEST
        if params is not None:
            rp = _params(db, params)
            if rp is not None:
                request = self._requests.get(keys := tuple(rp)) or self._requests.remember(keys, _request_plan(keys))
                if request.targets:
                    _targets(ev, db, rp)

        ws_id = db.get("workspace_id")
        if ws_id is None and rp is not None:
            ws_id = rp.get("orgId")  # the diagnostic shapes name the workspace only in the request
        ckey = (db.get("resource_id"), db.get("subscription_id"), ws_id)
        try:
            cloud = self._clouds.get(ckey)  # a file holds one workspace: one dict for its events, nothing mutates it
        except TypeError:  # an id that is an object
            cloud = None
        ev["cloud"] = cloud or self._new_cloud(ckey)
        account = db.get("account_id")
        if account is not None and account != "":
            ev["organization"] = {"id": str(account)}  # the Databricks account (docs/ecs-conventions.md)

        cls = self._classes.get((service, action), MISSING)
        if cls is MISSING:  # .lower() and the lower-cased key once per spelling, not once per record
            cls = self._classify_new(service, action)
        if cls is not None:  # Classification.apply without its setdefault: `event` is there
            event["category"] = list(cls.category)
            event["type"] = list(cls.type)
            if cls.outcome:  # the action's own result beats the HTTP status (runFailed, IpAccessDenied with 200)
                event["outcome"] = cls.outcome
        else:
            classify(ev, None, bool(service or action))
        if rp is not None and request.login and cls is not None and ("authentication" in cls.category or
                                                                     "session" in cls.category):
            _login_account(ev, rp)  # a session is opened for an account too (genie.databricksAccess: `user`)
        if rp is not None and request.outcome:
            denied = rp.get("is_ip_access_denied")  # Delta Sharing: "true if the request was denied" (seed)
            if denied is True or (denied.__class__ is str and denied.lower() == "true"):
                event["outcome"] = "failure"  # the vendor's own result beats the HTTP status (outcome order)
            state = rp.get("jobTerminalState")
            if state.__class__ is str:  # the run's own end beats the HTTP status and the action's name
                outcome = TERMINAL_STATES.get(state.lower())
                if outcome is not None:
                    event["outcome"] = outcome
        what = f"{service}.{action}" if service and action else (action or service or "unknown action")
        if rp is not None and request.objects and "file" not in ev:  # a file is named by its path; another object by its kind and id
            named = _object_named(rp, request.objects)
            if named is not None:
                what = f"{what} {named}"
        ev["message"] = audit_message(ev, what, db.get("source_path"))
        if problems:
            flag_problems(ev, problems, original_text(raw) if envelope is None else original_text(orjson.dumps(rec)),
                          product_time=ev["@timestamp"] is not read_at)
        return ev

    def _new_plan(self, keys: tuple, diagnostic: bool) -> _Plan:
        """The routing of one key set, decided once: a file holds a handful of key sets (one per shape,
        and per action where optional keys are left out), so the per-key work is a dict hit per record."""
        route = self._route
        levels = ((keys[0], True), (keys[1], False)) if diagnostic else ((keys, False),)
        where: dict[str, tuple[int, str]] = {}  # role → (level, key)
        to_db: tuple[list, list] = ([], [])  # (key, snake_case name) per level
        names: set[str] = set()
        simple = True
        for level, (level_keys, skip_properties) in enumerate(levels):
            for k in level_keys:
                role, sk = route.get(k) or self._new_route(k)
                if role is None:
                    simple = simple and sk not in names
                    names.add(sk)
                    to_db[level].append((k, sk))
                elif not (skip_properties and role == "properties"):
                    simple = simple and role not in where
                    where[role] = (level, k)
        if diagnostic:
            shape = "diagnostic"
        else:
            shape = next((name for hint, name in SHAPE_HINTS if hint in keys), "unknown")
        return self._plans.remember(keys, _Plan(shape, simple, to_db[0], to_db[1], where))

    def _new_cloud(self, key: tuple) -> dict:
        """`cloud` of a (resource id, subscription id, workspace id): the Azure subscription is the account,
        the Databricks workspace the project (id and, from the resource id, name)."""
        rid, sub, ws_id = key
        cloud: dict[str, Any] = {"provider": "azure"}
        name = None
        if isinstance(rid, str):
            parts = rid.split("/")
            upper = [p.upper() for p in parts]
            if len(parts) > 2 and upper[1] == "SUBSCRIPTIONS" and parts[2]:
                sub = sub or parts[2]
            if "WORKSPACES" in upper[:-1]:
                name = parts[upper.index("WORKSPACES") + 1] or None
        if sub is not None and sub != "":
            cloud["account"] = {"id": str(sub)}
        project = {}
        if ws_id is not None and str(ws_id) not in ("", "0"):  # 0: an account-level event, no workspace
            project["id"] = str(ws_id)
        if name:
            project["name"] = name
        if project:
            cloud["project"] = project
        try:
            return self._clouds.remember(key, cloud)
        except TypeError:  # an id that is an object: not memoised
            return cloud

    def _classify_new(self, service: str | None, action: str | None) -> Any:
        return self._classes.remember((service, action), CATALOG.get(((service or "").lower(), (action or "").lower())))

    def _split(self, src: dict, roles: dict, db: dict, skip_properties: bool) -> None:
        """Known keys to `roles`, the rest (non-null) to `db` under their snake_case name."""
        route = self._route
        for k, v in src.items():
            if v is None:
                continue
            role, sk = route.get(k) or self._new_route(k)
            if role is not None:
                if skip_properties and role == "properties":  # only the key 'properties' has that role
                    continue
                if role not in roles:
                    roles[role] = v
                    continue
                if roles[role] == v:
                    continue  # the same value under two spellings
            if sk in db and db[sk] != v:
                sk = f"{sk}_{len(db)}"  # two spellings, two values: keep both
            db[sk] = v

    def _new_route(self, key: str) -> tuple[str | None, str]:
        return self._route.remember(key, (ROLES.get(key), self._key(key)))

    def _time(self, value: Any) -> str | None:
        last = self._last_in
        if value == last and type(value) is type(last):  # True == 1, but True is no time
            return self._last_out  # records of a burst share their second
        if isinstance(value, str):
            out = self._iso.get(value, MISSING)
            if out is MISSING:
                s = value.strip()
                if s.isdigit():
                    return self._time(int(s))  # not memoised here: the epoch branch keeps its own last value
                out = self._iso.remember(value, vendor_time(s))  # a time without a zone: Azure writes UTC
        else:
            out = vendor_time(value)
        self._last_in, self._last_out = value, out
        return out

    def _actor(self, ev: dict, db: dict, identity: Any, metadata: Any) -> None:
        if identity.__class__ is str:  # a JSON string (or a bare name): a file's few actors repeat theirs
            rest, email = self._identities.get(identity) or self._new_identity(identity)
            if rest:
                db["identity"] = dict(rest)  # a copy: the memo's dict is no event's
        elif identity.__class__ is dict:  # _identity_fields inline: the usual identity, one call fewer
            rest = None
            for k, v in identity.items():
                if v is not None and k != "email":
                    if rest is None:
                        rest = {}
                    rest[self._keys.get(k) or self._key(k)] = v
            if rest:
                db["identity"] = rest
            email = identity.get("email")
        else:
            if identity is not None:
                db["identity"] = identity
            email = None
        if email is not None and email != "":
            name = email if email.__class__ is str else str(email)
            # Told by two comparisons, not memoised: a memo's lookup costs about what they do, and a workspace's
            # thousands of users (the bench's 5,000) overflow it into misses (~2,000 instructions each)
            actor_type = ("system" if name == SYSTEM_USER else
                          "service_principal" if len(name) == 36 and _is_uuid(name) else "user")
            if actor_type == "service_principal":
                ev["user"] = {"id": name}  # its application id: an id, not a name (docs/ecs-conventions.md)
            else:
                ev["user"] = {"name": name, "email": name} if "@" in name else {"name": name}
            db["actor_type"] = actor_type
            if actor_type != "system":
                ev["related"] = {"user": [name]}  # the first related entry of the event: nothing before adds one
        if metadata is None:
            return
        if metadata.__class__ is str:  # the system table's JSON string: repeats as the identity does
            kept = self._metadata.get(metadata, MISSING)
            if kept is MISSING:
                kept = self._new_metadata(metadata)
            if kept is None:
                db["identity_metadata"] = metadata  # not a JSON object: kept as written
                return
            kept = dict(kept)  # a copy: the memo's dict is no event's
        elif metadata.__class__ is dict:
            kept = self._metadata_fields(metadata)
        else:
            db["identity_metadata"] = metadata
            return
        if kept:
            db["identity_metadata"] = kept
            run_as = kept.get("run_as")
            if isinstance(run_as, str) and run_as:
                ev.setdefault("user", {})["effective"] = {"name": run_as}
                _related(ev, "user", run_as)
            run_by = kept.get("run_by")
            if isinstance(run_by, str) and run_by:
                _related(ev, "user", run_by)

    def _identity_fields(self, identity: dict) -> tuple[dict | None, Any]:
        """(the identity's fields but the email, snake_cased, non-null — None if none; the email)."""
        rest = None  # the usual identity is an email and nulls: no dict made for it
        for k, v in identity.items():
            if v is not None and k != "email":
                if rest is None:
                    rest = {}
                rest[self._keys.get(k) or self._key(k)] = v
        return rest, identity.get("email")

    def _new_identity(self, text: str) -> tuple[dict | None, Any]:
        decoded = _json_obj(text)
        fields = self._identity_fields(decoded) if decoded is not None else (None, text)  # a bare name
        return self._identities.remember(text, fields)

    def _metadata_fields(self, metadata: dict) -> dict:
        return {self._key(k): v for k, v in metadata.items() if v is not None}

    def _new_metadata(self, text: str) -> dict | None:
        decoded = _json_obj(text)
        return self._metadata.remember(text, self._metadata_fields(decoded) if decoded is not None else None)

    def _new_response(self, text: str) -> tuple[dict, str | None, str | None]:
        decoded = _json_obj(text)
        fields = self._response_fields(decoded) if decoded is not None else ({"text": text}, None, None)
        return self._responses.remember(text, fields)

    def _response_fields(self, response: Any) -> tuple[dict, str | None, str | None]:
        """(databricks.response, event.outcome, error.message) of a response object."""
        if not isinstance(response, dict):
            return {"text": orjson.dumps(response).decode()}, None, None
        out: dict[str, Any] = {}
        keys = self._keys
        for k, v in response.items():
            if v is None:
                continue
            sk = keys.get(k) or self._key(k)
            if sk == "result" and v.__class__ is not str:
                v = orjson.dumps(v).decode()  # one type for the field, whatever the action returned
            out[sk] = v
        outcome = None
        code = out.get("status_code")
        if code is not None:
            n = code if code.__class__ is int and 0 <= code < _LONG else _status(code)  # the usual case without a call
            if n is None:
                out["status_code_text"] = str(out.pop("status_code"))
            else:
                out["status_code"] = n
                # a redirect (3xx: a browser login's 302) is an answer, not a refusal: as Elastic's HTTP
                # integrations, only 4xx/5xx (and what is no HTTP status) are failures
                outcome = "success" if 200 <= n < 400 else "failure"
        err = out.get("error_message")
        return out, outcome, (err if isinstance(err, str) else str(err)) if err else None


class _Plan:
    """How the records of one key set are routed (see DatabricksParser._new_plan)."""

    __slots__ = ("inner", "inner_roles", "pick", "shape", "simple", "top", "top_roles")

    def __init__(self, shape: str, simple: bool, top: list, inner: list, where: dict[str, tuple[int, str]]):
        self.shape = shape
        self.simple = simple  # no role and no snake_case name twice: `_map` may skip `_split`
        self.top = tuple(top)  # (key, snake_case name) going to databricks.* from the record
        self.inner = tuple(inner)  # the same from its `properties` object
        # The role values are picked in C, in ROLE_ORDER, by
        #     pick(top_roles(record) + inner_roles(properties) + (None,))
        # each level's role keys in one itemgetter, the trailing None the value of a role the key set lacks.
        level_keys: tuple[list, list] = ([], [])
        for level, k in where.values():
            level_keys[level].append(k)
        top_keys, inner_keys = level_keys
        top_width = len(top_keys) if len(top_keys) != 1 else 2  # see _getter
        position = {role: top_keys.index(k) if level == 0 else top_width + inner_keys.index(k)
                    for role, (level, k) in where.items()}
        none_at = top_width + (len(inner_keys) if len(inner_keys) != 1 else 2)
        self.top_roles = _getter(top_keys)
        self.inner_roles = _getter(inner_keys)
        self.pick = itemgetter(*(position.get(role, none_at) for role in ROLE_ORDER))


_NONE = (None,)

# A job run's `jobTerminalState` → event.outcome (the run's own result).
TERMINAL_STATES = {"succeeded": "success", "success": "success", "failed": "failure", "failure": "failure",
                   "error": "failure", "internal_error": "failure", "internalerror": "failure",
                   "timedout": "failure", "timed_out": "failure", "canceled": "failure", "cancelled": "failure"}
# requestParams keys naming the file or notebook acted on (the first present wins); a move's destination
# is the path it has after the event (dbfs `dst`/`destination_path`, workspace moves and renames and a
# notebook's clone `destinationPath`, notebook and experiment moves `newPath`), so those come first.
PATH_KEYS = ("dst", "destination_path", "destinationPath", "newPath", "path", "notebookPath", "filePath",
             "notebook_path", "file_path")
DESTINATION_KEYS = frozenset(PATH_KEYS[:4])
# Where a moved, renamed or cloned object was (dbfs move `src`/`source_path`, notebook and experiment moves
# `oldPath`, workspace moves, renames and notebook clones `path`): databricks.source_path, beside file.path
# (ECS has no field for a file's former path).
SOURCE_KEYS = ("src", "source_path", "oldPath", "path")
# requestParams keys naming a user who is neither actor nor target (the creator of a job run): related.user.
RELATED_USER_KEYS = ("runCreatorUserName",)
# requestParams keys naming a principal that owns the object (Unity Catalog create/update `owner`, a share's
# `share_owner`, a DBFS mount's `owner`): related.user when a user (an e-mail) or a service principal (an
# application id); a group's name is no user.
OWNER_KEYS = ("owner", "share_owner")
# requestParams keys naming the object an action is about when it is no file, in order of preference, with
# the word the message puts before it, if any (conventions, "Context": "ada@x: clusters.delete cluster 0515-…").
# Only the message says it: ECS has no field for a cluster, job or table; the values stay in request_params.
OBJECT_KEYS = (
    ("securable_full_name", "securable"), ("table_full_name", "table"), ("volume_full_name", "volume"),
    ("full_name_arg", ""), ("name_arg", ""),  # Unity Catalog's catalog/schema/table: the action says which
    ("share_name", "share"), ("recipient_name", "recipient"), ("pipeline_id", "pipeline"), ("pipelineId", "pipeline"),
    ("job_id", "job"), ("jobId", "job"), ("run_id", "run"), ("runId", "run"),  # a job's run names its cluster too
    ("cluster_name", "cluster"), ("cluster_id", "cluster"), ("clusterId", "cluster"), ("existing_cluster_id", "cluster"),
    ("warehouseId", "warehouse"), ("warehouse_id", "warehouse"), ("instance_pool_name", "instance pool"),
    ("instance_pool_id", "instance pool"), ("policy_id", "cluster policy"), ("notebookId", "notebook"),
    ("dashboardId", "dashboard"), ("dashboard_id", "dashboard"), ("queryId", "query"), ("alertId", "alert"),
    ("experimentId", "experiment"), ("model_name", "model"), ("registered_model_name", "model"),
    ("tokenId", "token"), ("token_id", "token"), ("credential_id", "credential"), ("webhookId", "webhook"),
    ("schedule_id", "schedule"), ("repo_id", "repo"), ("repoId", "repo"), ("catalog_name", "catalog"),
    ("schema_name", "schema"),
)


def _object_named(rp: dict, candidates: tuple[tuple[str, str], ...] = OBJECT_KEYS) -> str | None:
    """'WORD VALUE' of the most telling OBJECT_KEYS key the request has (a value _str makes text of), else
    None. `candidates`: the (key, word) pairs to look at, most telling first — the request plan's, which holds
    only those of OBJECT_KEYS its key set has (usually none or one)."""
    for k, word in candidates:
        v = rp.get(k)
        if v is not None and v != "" and not isinstance(v, (dict, list)):
            text = v if v.__class__ is str else str(v)
            return f"{word} {text}" if word else text
    return None


def _str(v: Any) -> str | None:
    if v is None or v == "" or isinstance(v, (dict, list)):
        return None
    return v if v.__class__ is str else str(v)


# Every requestParams key _targets reads: a request with none of them promotes nothing (one C call, not ~18
# Python ones of _str on None).
_TARGETS_KEYSET = frozenset(("targetUserName", "targetUserId", "targetServicePrincipal", "targetGroupName",
                             "targetGroupId", "principal", "changes", *PATH_KEYS, *SOURCE_KEYS,
                             *RELATED_USER_KEYS, *OWNER_KEYS))


# Every requestParams key _login_account reads, and the two that give the request's own outcome.
_LOGIN_KEYSET = frozenset(("approver", "user", "userName"))
_OUTCOME_KEYSET = frozenset(("is_ip_access_denied", "jobTerminalState"))


class _Request(NamedTuple):
    """What a requestParams key set holds of the keys _map reads beyond the request itself, decided once per key
    set (a file's requests have a few per action): a record skips the lookups and calls its keys cannot answer
    (cachegrind, the bench's requests: a set intersection for the object keys, `_targets`' call, the outcome keys' gets)."""

    targets: bool  # a key _targets reads
    login: bool  # a key _login_account reads
    outcome: bool  # a key whose value is the request's own outcome
    objects: tuple[tuple[str, str], ...]  # its OBJECT_KEYS, most telling first (_object_named's candidates)


_NO_REQUEST = _Request(False, False, False, ())  # no requestParams object


def _request_plan(keys: tuple) -> _Request:
    return _Request(not _TARGETS_KEYSET.isdisjoint(keys), not _LOGIN_KEYSET.isdisjoint(keys),
                    not _OUTCOME_KEYSET.isdisjoint(keys), tuple((k, w) for k, w in OBJECT_KEYS if k in keys))


def _targets(ev: dict, db: dict, rp: dict) -> None:
    """The request's target user, group and file promoted (docs/ecs-conventions.md): membership is
    `user.target.*` + `user.target.group.*`, a group alone `group.*`; every user name in related.user."""
    if not rp or _TARGETS_KEYSET.isdisjoint(rp):  # most requests: none of its ~20 lookups would find a thing
        return
    t_name = _str(rp.get("targetUserName"))
    t_id = _str(rp.get("targetUserId")) or _str(rp.get("targetServicePrincipal"))
    if t_name and _is_uuid(t_name):
        # a service principal is named by its application id: an id, as for the actor (the numeric
        # targetUserId stays in request_params)
        t_id, t_name = t_name, None
        _related(ev, "user", t_id)
    g_name = _str(rp.get("targetGroupName"))
    g_id = _str(rp.get("targetGroupId"))
    if t_name or t_id:
        target: dict[str, Any] = {}
        if t_id:
            target["id"] = t_id
        if t_name:
            target["name"] = t_name
            if "@" in t_name:
                target["email"] = t_name
            _related(ev, "user", t_name)
        if g_name or g_id:
            target["group"] = {k: v for k, v in (("id", g_id), ("name", g_name)) if v}
        user = ev.get("user")
        if user is None:
            ev["user"] = {"target": target}
        else:
            user["target"] = target
    elif g_name or g_id:
        ev["group"] = {k: v for k, v in (("id", g_id), ("name", g_name)) if v}
    else:
        # The grantee or new owner of an ACL or ownership change (`principal`), or of a Unity Catalog
        # permission change (`changes`: a JSON list of {principal, add, remove}).
        principal = _str(rp.get("principal")) or _changes_principal(rp.get("changes"))
        if principal:
            _grantee(ev, principal)
    for k in PATH_KEYS:
        path = _str(rp.get(k))
        if path:
            name = path.rstrip("/").rsplit("/", 1)[-1]
            ev["file"] = {"path": path, "name": name} if name else {"path": path}
            if k in DESTINATION_KEYS:
                for sk in SOURCE_KEYS:
                    source = _str(rp.get(sk))
                    if source and "source_path" not in db:  # (a vendor key of that name is kept as written)
                        db["source_path"] = source
                        break
            break
    for k in RELATED_USER_KEYS:
        other = _str(rp.get(k))
        if other:
            _related(ev, "user", other)
    for k in OWNER_KEYS:
        owner = _str(rp.get(k))
        if owner and ("@" in owner or _is_uuid(owner)):
            _related(ev, "user", owner)


def _grantee(ev: dict, principal: str) -> None:
    """A user's e-mail → user.target name/email, a service principal's application id → user.target.id,
    else a group's name → group.name (Databricks' three kinds of principal)."""
    if "@" in principal:
        target = {"name": principal, "email": principal}
        _related(ev, "user", principal)
    elif _is_uuid(principal):
        target = {"id": principal}
        _related(ev, "user", principal)  # a service principal is a user identifier, as the actor's id is
    else:
        ev["group"] = {"name": principal}
        return
    user = ev.get("user")
    if user is None:
        ev["user"] = {"target": target}
    else:
        user["target"] = target


def _changes_principal(changes: Any) -> str | None:
    """The one principal a Unity Catalog `changes` list names (its JSON text or the list), else None:
    several grantees have no single place in user.target/group, and stay in request_params."""
    if changes.__class__ is str:
        if not changes.startswith("["):
            return None
        try:
            changes = exact_json.loads(changes)
        except orjson.JSONDecodeError:
            return None
    if changes.__class__ is not list:
        return None
    found = {_str(c.get("principal")) for c in changes if c.__class__ is dict}
    found.discard(None)
    return found.pop() if len(found) == 1 else None


def _login_account(ev: dict, rp: dict) -> None:
    """The account a login was attempted for (`requestParams.user`, an SSH login's `userName`): the actor
    when the identity names nobody (a failed login's), related.user always (docs/ecs-conventions.md)."""
    approver = _str(rp.get("approver"))  # who allowed Databricks personnel in (genie.databricksAccess)
    if approver:
        _related(ev, "user", approver)
    account = _str(rp.get("user")) or _str(rp.get("userName"))
    if not account:
        return
    user = ev.get("user")
    if user is None or not (user.get("name") or user.get("id")):
        ev["user"] = {**(user or {}), **({"id": account} if _is_uuid(account) else {"name": account})}
    _related(ev, "user", account)


def _no_roles(d: Any) -> tuple:
    return ()


def _getter(keys: list[str]):
    """d → the tuple of d's values at keys (itemgetter of one key returns the bare value: asked twice)."""
    if not keys:
        return _no_roles
    return itemgetter(*keys) if len(keys) > 1 else itemgetter(keys[0], keys[0])


def _params(db: dict, params: Any) -> dict | None:
    """requestParams whole, as an object (returned; None if it is none); cut values (`... truncated`,
    `TRUNCATED`) flagged, not changed."""
    if params.__class__ is str:
        decoded = _json_obj(params)
        if decoded is None:
            db["request_params_text"] = params  # not a JSON object: kept as written, out of the flattened field
            return None
        params = decoded
    if params.__class__ is not dict:  # orjson makes no subclass
        db["request_params_text"] = orjson.dumps(params).decode()
        return None
    db["request_params"] = params
    if TRUNCATED_KEY in params:
        db["request_params_truncated"] = True
        return params
    try:  # one C-level search over the values joined: if the suffix is nowhere, no value ends with it
        if TRUNCATED_SUFFIX not in "".join(params.values()):
            return params
    except TypeError:
        pass  # a value that is not a string (the vendor writes strings; other senders may not): value by value
    for v in params.values():
        if isinstance(v, str) and v.endswith(TRUNCATED_SUFFIX):
            db["request_params_truncated"] = True
            return params
    return params


def _json_obj(text: str) -> dict | None:
    if text[:1] == "{" and text[-1:] == "}":
        s = text  # the usual case: strip() would return it unchanged
    else:
        s = text.strip()
        if not s.startswith("{"):
            return None
    try:
        v = exact_json.loads(s)
    except orjson.JSONDecodeError:
        return None
    return v if isinstance(v, dict) else None


_LONG = 1 << 63  # ECS's long; an integer past 64 bits is one no output writes (orjson, msgpack), and ended the source


def _status(code: Any) -> int | None:
    """An HTTP status as ECS's http.response.status_code (a long); None for what is none (kept as its text)."""
    if isinstance(code, bool):
        n = None
    elif isinstance(code, int):
        n = code
    elif isinstance(code, float) and code.is_integer():
        n = int(code)
    elif isinstance(code, str) and code.strip().isdigit() and code.strip().isascii():
        n = int(code.strip())
    else:
        n = None
    return n if n is not None and 0 <= n < _LONG else None


def _from_operation(op: Any) -> tuple[str | None, str | None]:
    """'Microsoft.Databricks/jobs/runSucceeded' → ('jobs', 'runSucceeded')."""
    if not isinstance(op, str):
        return None, None
    parts = op.split("/")
    if len(parts) == 3 and parts[0].lower() == "microsoft.databricks" and parts[1] and parts[2]:
        return parts[1], parts[2]
    return None, None


def _is_uuid(s: str) -> bool:
    return len(s) == 36 and s[8] == s[13] == s[18] == s[23] == "-"


def _text(v: Any) -> str | None:
    if v.__class__ is str:  # the usual case first
        return v or None
    if v is None or v == "":
        return None
    return v if isinstance(v, str) else str(v)


def _related(ev: dict, kind: str, value: str) -> None:
    rel = ev.get("related")
    if rel is None:
        ev["related"] = {kind: [value]}
        return
    bucket = rel.get(kind)
    if bucket is None:
        rel[kind] = [value]
    elif value not in bucket:
        bucket.append(value)


def _mapping_failure(rec: Any, e: Exception) -> dict:
    return _failure(orjson.dumps(rec, default=str), f"databricks mapping failed: {type(e).__name__}: {e}")


def _failure(raw: bytes, message: str) -> dict:
    return failure_event(raw, message, DatabricksParser.module, DatabricksParser.dataset)
