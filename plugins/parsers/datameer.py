"""Datameer `useraction.log`: one JSON object per line, written by a Log4j RollingFileAppender.

The exact key spellings of real lines are not public (docs/research/formats.md §1.2), so keys are
compared in a spelling-blind form: `actionType`, `action-type`, `action_type` and `Action Type`
are the same key. Unused fields are written as null by Datameer; nulls are not shipped.

What an auditor asks is promoted to ECS (docs/ecs-conventions.md), every vendor field kept under
`datameer.*`: a failed login's attempted account (`user-name`) is `user.name` (the performer Datameer
writes, e.g. `anonymous`, stays in `datameer.performing_user`); membership is `user.target.name` +
`user.target.group.name`, a group alone `group.name`, a new owner `user.target.name`; the path acted
on `file.path`/`file.name`; a job's `execution-job-status` its outcome; `event.timezone` the zone
the zone-less time was read in; `message` one line saying who did what.
"""
from __future__ import annotations

from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson

from shipper.api import (
    AMBIGUOUS_LOCAL_TIME,
    ECS_VERSION,
    UNMAPPED_ACTION,
    BoundedMemo,
    LocalTimeParser,
    Parser,
    add_tag,
    audit_message,
    classify,
    clean_ip,
    exact_json,
    failure_event,
    flag_problems,
    load_catalog,
    local_time_in_doubt,
    names_no_zone,
    now_iso,
    original_text,
    snake_case,
    squash_key,
    vendor_time,
    zone_name,
)

CATALOG = load_catalog(Path(__file__).with_name("datameer_actions.csv"), ("action_type", "action"))

# Spelling-blind names of the six documented core fields, with the spellings we have seen guessed.
TIMESTAMP = {"timestamp", "time", "datetime", "eventtime", "date"}
ACTION_TYPE = {"actiontype", "type", "loggedactiontype"}
ACTION = {"action", "loggedaction", "actionname"}
PERFORMER = {"performinguser", "performingusername", "performer", "actor", "user"}  # not "username": that is the per-action target
ROLES = {"roles", "rolesofperforminguser", "performinguserroles", "userroles", "rolesoftheperforminguser"}
IP = {"ipaddress", "ip", "ipaddressofperforminguser", "performinguserip", "performinguseripaddress",
      "ipofperforminguser", "useripaddress", "clientip", "sourceip", "remoteaddress"}
CORE = TIMESTAMP | ACTION_TYPE | ACTION | PERFORMER | ROLES | IP

# Documented additional fields that also have a place in ECS (spelling-blind name → role).
EXTRA_ROLES = {
    "username": "x_user_name", "newowner": "x_new_owner", "executionjobuser": "x_job_user", "groupname": "x_group",
    "filepath": "x_file_path", "folderpath": "x_folder_path", "applicationpath": "x_application_path",
    "workbookpath": "x_workbook_path", "datasourcepath": "x_datasource_path",
    "executionconfigurationpath": "x_execution_configuration_path", "datapath": "x_data_path",
    # "the user who performed the job start action" (the job's owner when the scheduler started it):
    # Datameer's "Job Execution Status Events" page. Neither actor nor target: related.user.
    "executiontriggeredby": "x_triggered_by",
}
PATH_ROLES = ("x_file_path", "x_folder_path", "x_application_path", "x_workbook_path", "x_datasource_path",
              "x_execution_configuration_path", "x_data_path")
# A job's `execution-job-status` (Datameer's JobStatus) → event.outcome; running states say nothing yet.
JOB_STATUS_OUTCOME = {"COMPLETED": "success", "COMPLETED_WITH_WARNINGS": "success", "SUCCESS": "success",
                      "SUCCEEDED": "success", "ERROR": "failure", "FAILURE": "failure", "FAILED": "failure",
                      "CANCELED": "failure", "CANCELLED": "failure", "ABORTED": "failure", "KILLED": "failure"}
# The roles in the order a plan picks their values: the six core fields, then those with an ECS place.
ROLE_ORDER = ("timestamp", "action_type", "action", "performing_user", "roles", "ip",
              "x_user_name", "x_new_owner", "x_job_user", "x_group") + PATH_ROLES + ("x_triggered_by",)
TRIGGERED_BY = ROLE_ORDER.index("x_triggered_by") - 6  # its number among the placed roles (see _plan)
ANONYMOUS = "anonymous"  # the performer Datameer writes for a login not (yet) made: no user
CATALOG_EXACT = {(k[0].upper(), k[1].upper()): v for k, v in CATALOG.items()}
ECS = {"version": ECS_VERSION}


class DatameerParser(Parser):
    module = "datameer"
    dataset = "datameer.useraction"
    # Typed in Elasticsearch by `shipper setup elasticsearch` (elasticsearch_ingest_pipeline.py): the documented
    # additional fields (snake_cased); the rest of datameer.* stays in _source.
    vendor_field_types = {name: "keyword" for name in (
        "action_type", "performing_user", "ip_address", "file_uuid", "file_path", "folder_path", "file_type_id",
        "connection_id", "connection_name", "connection_type_id", "old_name", "application_uuid", "application_path",
        "performing_user_roles", "group_name", "user_name", "role_name", "new_owner", "execution_id",
        "execution_type", "execution_triggered_by", "execution_job_schedule", "execution_configuration_path",
        "execution_configuration_uuid", "execution_job_status", "execution_job_user", "data_uuid", "data_path",
        "workbook_uuid", "workbook_path", "workbook_sheet_name", "workbook_sheet_column_name", "datasource_uuid",
        "datasource_path", "read_permission", "write_permission", "execute_permission", "shared_public",
        "workbook_sheet_column_index", "workbook_join_sheets")}

    def __init__(self, options=None):
        super().__init__(options)
        self._local_time = LocalTimeParser(self.zone)
        # Memos, each bounded against hostile input (shipper.memo): a log repeats its few values.
        self._roles: BoundedMemo[str, tuple[str | None, str]] = BoundedMemo(16384, MEMO_CHARS)  # key → see _role_of
        self._plans: BoundedMemo[tuple, tuple] = BoundedMemo(4096, MEMO_CHARS)  # key set → see _plan
        # timestamp text → (ISO, zone-less?, in an hour the zone's clock repeats or skips?): lines of a second share it
        self._stamps: BoundedMemo[str, tuple[str | None, bool, bool]] = BoundedMemo(4096, MEMO_CHARS)
        self._zone_name = zone_name(self.zone)
        self._kinds: BoundedMemo[tuple, tuple] = BoundedMemo(4096, MEMO_CHARS)  # (action type, action) → see _kind
        self._role_lists: BoundedMemo[Any, list[str]] = BoundedMemo(4096, MEMO_CHARS)  # roles value → see _role_list

    def _role_of(self, key: str) -> tuple[str | None, str]:
        """(role, snake_case name) of a key, learned once per spelling: the hot loop is a dict hit."""
        known = self._roles.get(key)
        if known is None:
            sq = squash_key(key)
            role = _core_name(sq) if sq in CORE else EXTRA_ROLES.get(sq)
            known = self._roles.remember(key, (role, snake_case(key)))
        return known

    def parse(self, raw: bytes) -> list[dict]:
        return self.parse_batch([raw])[0]

    def parse_batch(self, raws: list[bytes]) -> list[list[dict]]:
        """parse() of each line, in one loop: no call per line to get there."""
        out: list[list[dict]] = []
        append, loads, map_ = out.append, exact_json.loads_for(raws), self._map
        for raw in raws:
            start = 0 if raw[:1] == b"{" else raw.find(b"{")  # tolerate a Log4j layout prefix before the object
            try:
                if start < 0:
                    raise ValueError("no JSON object on the line")
                # A NUL byte in the object orjson refuses (JSON has none but escaped): looked for once it did. Not
                # `in`: see shipper.exact_json's _ZEROS
                if start and raw.find(b"\x00") >= 0:
                    raise ValueError("line holds NUL bytes")
                try:
                    doc = loads(raw[start:] if start else raw)
                except orjson.JSONDecodeError as e:
                    if raw.find(b"\x00") >= 0:
                        raise ValueError("line holds NUL bytes") from None
                    try:
                        doc = exact_json.loads_replacing(raw[start:])  # a byte that is not UTF-8 costs that character only
                    except orjson.JSONDecodeError:
                        raise e from None
                if doc.__class__ is not dict:
                    raise ValueError(f"expected a JSON object, got {type(doc).__name__}")
            except (ValueError, orjson.JSONDecodeError) as e:
                append([_failure(raw, f"not a Datameer JSON record: {e}")])
                continue
            append([map_(doc, raw)])
        return out

    def _plan(self, keys: tuple) -> tuple:
        """For one key set (in order): (usual, pick, placed roles). pick(values of a record) gives the six core
        values, datameer.* (nulls dropped) and the values of the placed fields the set has, numbered
        by their place in ROLE_ORDER[6:] in the placed roles (None when it has none). A Datameer log
        has a few dozen key sets (one per action), so the per-key decisions are made once per set. `usual`, for a
        set whose pick has nothing to decide (see _pick): (datameer.* pairs, the core values' getter, the placed
        values' getter), else None."""
        by_role: dict[str, list[int]] = {}
        dm_pairs = []
        for i, key in enumerate(keys):
            role, snake = self._role_of(key)
            if role is None or role[0] == "x":  # an extra field with an ECS place is kept under datameer.* too
                dm_pairs.append((i, snake))
            if role is not None:
                by_role.setdefault(role, []).append(i)
        slots = [tuple(by_role.get(role, ())) for role in ROLE_ORDER]
        placed = [(n, slot) for n, slot in enumerate(slots[6:]) if slot]
        placed_roles = tuple(n for n, _ in placed)
        placed_slots = tuple(slot for _, slot in placed) or None
        # One generic picker for every key set (no code made at run time: the project's rule).
        snakes = [snake for _, snake in dm_pairs]
        simple = len(set(snakes)) == len(snakes) and _SET_BY_MAP.isdisjoint(snakes)  # _keep has nothing to decide
        # The usual key set has each field once: its values are read by index, without the slot loops
        single = all(len(slot) <= 1 for slot in slots)
        # each core field's one value in one C call; -1, a None put after the values, for a field the set lacks
        core_at = itemgetter(*[slot[0] if slot else -1 for slot in slots[:6]]) if single else None
        # the placed fields' values in one C call: a tuple even for one field, by the None at -1 after them (which the
        # zip with the placed roles in _map leaves out). tuple(map(vals.__getitem__, …)) cost ~2.6 k instructions
        placed_at = itemgetter(*[slot[0] for slot in placed_slots], -1) if single and placed_slots else None
        pick = partial(_pick, slots[:6], placed_slots, tuple(dm_pairs), tuple(self._role_of(k)[1] for k in keys), simple)
        # The usual key set (no name twice, no field spelled twice) is picked in _map itself: a call to the
        # partial and _pick, and one to the comprehension, cost more than the picking (bench/README.md, session 20)
        usual = (tuple(dm_pairs), core_at, placed_at) if simple and core_at is not None else None
        return self._plans.remember(keys, (usual, pick, placed_roles))

    def _map(self, doc: dict, raw: bytes) -> dict:
        keys = tuple(doc)
        usual, pick, placed_roles = self._plans.get(keys) or self._plan(keys)
        vals = list(doc.values())
        if usual is not None:  # what _pick does for such a set: datameer.* without the nulls, each value by index
            dm_pairs, core_at, placed_at = usual
            dm: dict[str, Any] = {}
            for i, snake in dm_pairs:
                v = vals[i]
                if v is not None:
                    dm[snake] = v
            vals.append(None)  # the value of a core field the set lacks (index -1)
            ts, action_type, action, performer, roles_value, ip_raw = core_at(vals)
            placed = None if placed_at is None else placed_at(vals)
        else:
            ts, action_type, action, performer, roles_value, ip_raw, dm, placed = pick(vals)

        # _text, with the usual str done here: a call per value is a good part of the mapping
        action_type = (action_type or None) if action_type.__class__ is str else _text(action_type)
        action = (action or None) if action.__class__ is str else _text(action)
        kind = (action_type, action)
        event, unmapped, is_auth, what = self._kinds.get(kind) or self._kind(kind)
        zoneless = in_doubt = False
        if ts.__class__ is str:
            stamp = self._stamps.get(ts)
            if stamp is None:
                stamp = self._stamps.remember(ts, self._stamp(ts))
            iso, zoneless, in_doubt = stamp
        else:
            iso = self._timestamp(ts) if ts is not None else None
        # event: a fresh dict, flags and the pipeline add keys to it
        ev: dict[str, Any] = {"ecs": ECS, "event": event.copy(), "datameer": dm, "@timestamp": iso or now_iso()}
        if zoneless and iso is not None:
            ev["event"]["timezone"] = self._zone_name  # ECS: the zone a time written without one was read in
        if action_type:
            dm["action_type"] = action_type

        performer = (performer or None) if performer.__class__ is str else _text(performer)
        if performer:
            user: dict[str, Any] = {"name": performer}
            related_users = [performer]
        else:
            user, related_users = {}, []
        if roles_value is not None:
            try:  # memoised per value: a log has a few role sets
                role_list = self._role_lists.get(tuple(roles_value) if roles_value.__class__ is list else roles_value)
            except TypeError:  # a list holding lists, an object
                role_list = None
            if role_list is None:
                role_list = self._role_list(roles_value)
            if role_list:
                user["roles"] = role_list
        ip = None
        if ip_raw is not None:
            ip = clean_ip(ip_raw)
            if ip:
                ev["source"] = {"ip": ip}
                if ip_raw.__class__ is str and ip != ip_raw:
                    dm["ip_address"] = ip_raw  # a port or zone id, cut from source.ip: kept as written
            elif ip_raw != "":
                dm["ip_address"] = str(ip_raw)  # not an address: kept, not put in an ip field

        group_name = path = None
        if placed is not None:  # documented extra fields with a place in ECS, in ROLE_ORDER
            is_owner = 1 in placed_roles  # a new owner is the target, not a member
            for n, v in zip(placed_roles, placed):
                if v is None:
                    continue
                text = v if v.__class__ is str else str(v)
                if not text:
                    continue
                if n == 0:  # user name
                    related_users.append(text)
                    if is_auth:  # the account a login was attempted for is the actor (ECS, Elastic's brute-force rules)
                        written = user.get("name")
                        if written is not None and written != text:
                            _keep(dm, "performing_user", written)  # e.g. `anonymous`: kept as written
                            if "roles" in user:  # the performer's roles, not the attempted account's
                                _keep(dm, "performing_user_roles", user.pop("roles"))
                            if written.lower() == ANONYMOUS and related_users[0] == written:
                                del related_users[0]  # nobody: no user to search for (as Databricks' System-User)
                        user["name"] = text
                    else:
                        user.setdefault("target", {})["name"] = text
                elif n == 1:  # new owner
                    related_users.append(text)
                    user.setdefault("target", {}).setdefault("name", text)
                elif n == 2 or n == TRIGGERED_BY:  # execution job user, the user who started the job
                    related_users.append(text)
                elif n == 3:
                    group_name = text
                elif path is None:  # PATH_ROLES: the first path there is
                    # the last part, trailing slashes left out (rpartition alone for a path without: ~500 instructions less)
                    name = text.rpartition("/")[2] or text.rstrip("/").rpartition("/")[2]
                    f = {"path": text, "name": name} if name else {"path": text}
                    if n == 5:
                        f["type"] = "dir"
                    ev["file"] = f
                    path = text
            if group_name is not None:
                target = user.get("target")
                if target is not None and not is_owner:  # membership: the group the target user joins or leaves
                    target["group"] = {"name": group_name}
                else:
                    ev["group"] = {"name": group_name}
        if user:
            ev["user"] = user
        if related_users or ip:
            related: dict[str, Any] = {}
            if related_users:
                if len(related_users) > 1:  # usually two: the performer and a target
                    if len(related_users) > 2:
                        related_users = list(dict.fromkeys(related_users))
                    elif related_users[0] == related_users[1]:
                        del related_users[1]
                related["user"] = related_users
            if ip:
                related["ip"] = [ip]
            ev["related"] = related

        status = dm.get("execution_job_status")
        if status.__class__ is str:  # the job's own end beats the catalogue's
            outcome = JOB_STATUS_OUTCOME.get(status.upper())
            if outcome is not None:
                ev["event"]["outcome"] = outcome
        if "target" in user or group_name is not None or "outcome" in ev["event"]:
            ev["message"] = audit_message(ev, what)
        else:  # audit_message's line for what most records give (an actor, a path), without its call and ~8 lookups:
            # ~2.5 k instructions a record (bench/README.md, session 21); test_datameer.py holds the two to one text
            actor = user.get("name") or "unknown user"
            ev["message"] = f"{actor}: {what}" if path is None else f"{actor}: {what} {path}"
        if unmapped:
            ev["tags"] = [UNMAPPED_ACTION]
        if in_doubt:
            add_tag(ev, AMBIGUOUS_LOCAL_TIME)  # the hour DST repeats or skips: @timestamp may be an hour off
        if iso is None or action_type is None or action is None:  # (_text made "" None)
            problems = []
            if iso is None:
                problems.append("missing timestamp" if ts is None else f"unreadable timestamp {ts!r}")
            if not action_type:
                problems.append("missing action type")
            if not action:
                problems.append("missing action")
            flag_problems(ev, problems, original_text(raw), product_time=iso is not None)
        return ev

    def _role_list(self, value: Any) -> list[str]:
        """The roles of a roles value (a list, or a comma-separated string), memoised for a string or a list
        of strings only: a key never equals a value of another type, so [1] cannot hit True's entry. The
        list is shared by the events with that value: nothing mutates it (outputs never mutate events)."""
        roles = _roles(value)
        key = tuple(value) if value.__class__ is list else value
        if key.__class__ is str or (key.__class__ is tuple and all(r.__class__ is str for r in key)):
            self._role_lists.remember(key, roles)
        return roles

    def _kind(self, key: tuple) -> tuple[dict, bool, bool, str]:
        """(event dict with the catalogue's category/type merged, unmapped?, a login?, what the message says was
        done) of an (action type, action): a log has a few dozen pairs, so each is looked up and built once.
        The category/type lists are shared by the events of a pair: nothing mutates them."""
        action_type, action = key
        cls = CATALOG_EXACT.get(key) or CATALOG.get(((action_type or "").lower(), (action or "").lower()))
        event: dict[str, Any] = {"kind": "event", "module": "datameer", "dataset": "datameer.useraction"}
        if action is not None:
            event["action"] = action
        shell = {"event": event}
        classify(shell, cls, bool(action_type or action))
        return self._kinds.remember(key, (event, "tags" in shell, bool(action_type) and action_type.upper() == "AUTHENTICATION",
                                          f"{action_type or '?'} {action or '?'}"))

    def _stamp(self, ts: str) -> tuple[str | None, bool, bool]:
        """What a timestamp text gives every line of its second (see _stamps)."""
        s = ts.strip()
        # the documented form, 'YYYY-MM-DD HH:MM:SS', names no zone: names_no_zone need not look (~3 k instructions)
        iso = self._local_time(s) if len(s) == 19 else None
        if iso is not None:  # a zone always at UTC+0 has no hour in doubt: not asked (two calls, ~2 k instructions)
            return iso, True, not self._local_time.is_utc and local_time_in_doubt(ts, self.zone)
        iso, zoneless = vendor_time(ts, self.zone), names_no_zone(ts)
        return iso, zoneless, zoneless and iso is not None and local_time_in_doubt(ts, self.zone)

    def _timestamp(self, value: Any) -> str | None:
        if isinstance(value, str):
            s = value.strip()
            # the documented form, no zone: the fast path. Only a text of its length (19) is given to it,
            # whose memo would keep any text (the answer for others is None all the same)
            documented = self._local_time(s) if len(s) == 19 else None
            if documented is not None:
                return documented
        return vendor_time(value, self.zone)


def _core_name(sq: str) -> str:
    if sq in TIMESTAMP:
        return "timestamp"
    if sq in ACTION_TYPE:
        return "action_type"
    if sq in ACTION:
        return "action"
    if sq in PERFORMER:
        return "performing_user"
    if sq in ROLES:
        return "roles"
    return "ip"


MEMO_CHARS = 1024  # the most text a memo entry keeps: 4096 entries of a hostile line's megabytes would not do


def _first(slot: tuple[int, ...], vals: list) -> Any:
    """The value of the first of a field's spellings that is not null ("unused fields are set to null")."""
    for i in slot:
        v = vals[i]
        if v is not None:
            return v
    return None


def _pick(core: list, placed: tuple | None, dm_pairs: tuple, names: tuple, simple: bool, vals: list) -> tuple:
    """What a plan's pick gives (see _plan), for a key set _map does not pick itself (a name twice, a
    field spelled twice). Two spellings with two values are both kept (the first is the field's value,
    the other goes under datameer.*), as the Databricks parser does: nothing the vendor wrote is dropped."""
    if simple:  # no name twice, none _map writes: what _keep would do, without a call per value
        dm: dict[str, Any] = {snake: v for i, snake in dm_pairs if (v := vals[i]) is not None}
    else:
        dm = {}
        for i, snake in dm_pairs:
            v = vals[i]
            if v is not None:
                _keep(dm, snake, v)
    firsts = []
    for slot in core:
        first = None
        for i in slot:
            v = vals[i]
            if v is None:
                continue
            if first is None:
                first = v
            elif v != first:
                _keep(dm, names[i], v)
        firsts.append(first)
    # Placed fields are under datameer.* already (dm_pairs): the first spelling is their value.
    return (*firsts, dm, None if placed is None else tuple(_first(slot, vals) for slot in placed))


_SET_BY_MAP = frozenset({"action_type", "ip_address"})  # datameer.* names _map writes itself


def _keep(dm: dict, name: str, v: Any) -> None:
    if dm.get(name, v) != v or name in _SET_BY_MAP:
        name = f"{name}_{len(dm)}"  # two spellings, two values: both kept
    dm[name] = v


def _text(value: Any) -> str | None:
    if value is None:
        return None
    s = value if isinstance(value, str) else str(value)
    return s or None


def _roles(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v is not None and v != ""]
    return [r.strip() for r in str(value).split(",") if r.strip()]


def _failure(raw: bytes, message: str) -> dict:
    return failure_event(raw, message, DatameerParser.module, DatameerParser.dataset)
