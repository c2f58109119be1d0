"""Cloudera AI (CML / CDSW) `user_events` rows, one JSON object per record.

The postgres source serialises each row under the documented column names (`id`, `user_id`,
`ipaddr`, `user_agent`, `event_name`, `description`, `created_at`), whatever the table's own
column names; `psql -At -c "SELECT row_to_json(u) FROM user_events u"` gives the same shape, so
`shipper cat -p cloudera_ai` works on an export too.

What is not public (docs/research/formats.md §2): the column types and the layout of `description`,
documented only as holding "the model name and ID, the user type (NORMAL or ADMIN), and the
username". So `description` is always kept verbatim (`cloudera_ai.description`) and read
best-effort: a JSON object, or `key: value` / `key=value` text; a NORMAL/ADMIN word is the user type;
for logins and LDAP/SAML user creation the LDAP/SAML/local word is the authentication method.
"""
from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from shipper.api import (
    AMBIGUOUS_LOCAL_TIME,
    ECS_VERSION,
    MISSING,
    UNMAPPED_ACTION,
    BoundedMemo,
    Parser,
    add_tag,
    audit_message,
    clean_ip,
    exact_json,
    failure_event,
    flag_problems,
    load_catalog,
    local_time_in_doubt,
    now_iso,
    original_text,
    snake_case,
    vendor_time,
    vendor_time_and_zoneless,
    zone_always_utc,
    zone_name,
)

CATALOG = load_catalog(Path(__file__).with_name("cloudera_ai_events.csv"), ("event_name",))

MODULE, DATASET = "cloudera_ai", "cloudera_ai.audit"
ECS = {"version": ECS_VERSION}  # one dict for every event: nothing writes to it
COLUMNS = ("id", "user_id", "ipaddr", "user_agent", "event_name", "description", "created_at")
INTERNAL_TAG = "cloudera_ai_internal"  # ipaddr 127.0.0.1: "an internal component" (vendor doc)
_COLUMN_SET = frozenset(COLUMNS)
AUTH_EVENTS = {"user login", "ldap/saml user creation"}

# Keys a description may use, compared lower-case with spaces/dashes as underscores. In order of
# preference when a description has several (tuples: a set's order changes with the hash seed, so the
# same row gave another user name after a restart).
USERNAME_KEYS = ("username", "user_name", "name_of_user", "login", "user")
USER_TYPE_KEYS = ("user_type", "usertype", "type_of_user", "role")
MODEL_NAME_KEYS = ("model_name", "modelname", "model")
MODEL_ID_KEYS = ("model_id", "modelid")
AUTH_KEYS = ("auth_method", "authmethod", "authentication_method", "auth_type", "authentication", "auth", "method")
# What an event acts on, where a key says so (docs/ecs-conventions.md, "Cloudera AI: what its events name"):
# the user acted on (a collaborator, team member, sharee) → user.target.name; a file → file.path / file.name;
# the project → cloudera_ai.project; the team → the target's group (membership) or group.name.
TARGET_USER_KEYS = ("target_user", "target_username", "target_user_name", "targetuser", "targetusername",
                    "collaborator", "collaborator_name", "collaborator_username", "collaboratorname",
                    "collaboratorusername", "member", "member_name", "member_username", "membername",
                    "memberusername", "team_member", "teammember", "new_member", "newmember", "shared_with",
                    "shared_with_user", "sharedwith", "sharee", "grantee")
FILE_PATH_KEYS = ("file_path", "filepath", "path", "file")
FILE_NAME_KEYS = ("file_name", "filename")
PROJECT_NAME_KEYS = ("project_name", "projectname", "project")
PROJECT_ID_KEYS = ("project_id", "projectid")
TEAM_KEYS = ("team_name", "teamname", "team")
# Words that make a key name someone other than the actor: such a key gives no shorter names ('collaborator
# username' is not 'username'), so its value never becomes the actor's.
_TARGET_WORDS = frozenset({"target", "collaborator", "member", "shared", "sharee", "grantee"})

# `key: value` or `key=value` pairs, values up to the next comma/semicolon, or quoted. The key is greedy (it
# may end in spaces, which _norm_key strips): the same matches as a lazy key, found ~2x faster.
_PAIR = re.compile(
    r"""(?P<key>[A-Za-z][A-Za-z _-]{0,30})\s*[:=]\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^,;\n]*))"""
)
# _pairs: a key is at most 31 characters then whitespace before its ':' or '=', so the key search runs only
# there (findall would try every position of the text, ~1 µs per character of a huge description).
_SEP_CHAR = re.compile(r"[:=]")
_KEY_TO_SEP = re.compile(r"[A-Za-z][A-Za-z _-]{0,30}?\s*[:=]")
# A part of a plain description (_plain_pairs) keyed by all its text before the ':' but leading whitespace: _PAIR's
# key there is that text (no earlier position can start a key: whitespace is no letter; the key ends at the ':').
_WHOLE_KEY = re.compile(r"\s*[A-Za-z][A-Za-z _-]{0,30}")
_USER_TYPE = re.compile(r"\b(NORMAL|ADMIN)\b")
_AUTH_METHOD = re.compile(r"\b(LDAP|SAML|local)\b", re.IGNORECASE)
_PREFIX_LEN = re.compile(r"/\d{1,3}$")  # PostgreSQL inet text: 10.0.0.1/32


class ClouderaAIParser(Parser):
    module = MODULE
    monotonic_ids = True  # user_events.id: a PostgreSQL serial
    dataset = DATASET
    # Typed in Elasticsearch by `shipper setup elasticsearch` (elasticsearch_ingest_pipeline.py); the rest of
    # cloudera_ai.* (extra columns) stays in _source.
    vendor_field_types = {
        "description": "keyword", "username": "keyword", "user_type": "keyword", "auth_method": "keyword",
        "internal": "boolean", "ipaddr": "keyword", "model.name": "keyword", "model.id": "keyword",
        "project.name": "keyword", "project.id": "keyword",
    }

    def __init__(self, options=None):
        super().__init__(options)
        self._zone_name = zone_name(self.zone)
        # a zone always at UTC+0 has no hour in doubt: local_time_in_doubt not asked (two calls a record)
        self._hours_in_doubt = not zone_always_utc(self.zone)
        # Memos bounded against hostile input (shipper.memo): short texts only.
        self._descriptions: BoundedMemo[str, tuple] = BoundedMemo(4096, 512)  # description text → see _details
        self._kinds: BoundedMemo[str, tuple] = BoundedMemo(4096, 256)  # event_name → see _kind
        # ipaddr text → see _read_ipaddr (a forwarded list, the loopback test: more than clean_ip's memo holds)
        self._addresses: BoundedMemo[str, tuple[list[str], bool, bool]] = BoundedMemo(4096, 256)

    def parse(self, raw: bytes) -> list[dict]:
        return self.parse_batch([raw])[0]

    def parse_batch(self, raws: list[bytes]) -> list[list[dict]]:
        """parse() of each record, in one loop: no call per record to get there."""
        out: list[list[dict]] = []
        append, loads, map_ = out.append, exact_json.loads_for(raws), self._map
        for raw in raws:
            try:
                if raw.find(b"\x00") >= 0:  # not `in`: see shipper.exact_json's _ZEROS
                    raise ValueError("record holds NUL bytes")
                try:
                    doc = loads(raw)
                except orjson.JSONDecodeError as e:
                    try:
                        doc = exact_json.loads_replacing(raw)  # a byte that is not UTF-8 costs that character only
                    except orjson.JSONDecodeError:
                        raise e from None
                if doc.__class__ is not dict:
                    raise ValueError(f"expected a JSON object, got {type(doc).__name__}")
            except (ValueError, orjson.JSONDecodeError) as e:
                append([failure_event(raw, f"not a Cloudera AI user_events record: {e}", self.module, self.dataset)])
                continue
            append([map_(doc, raw)])
        return out

    def _map(self, doc: dict, raw: bytes) -> dict:
        get = doc.get
        action = get("event_name")
        if action is not None:
            action = (action.strip() or None) if action.__class__ is str else _text(action)
        event: dict[str, Any] = {"kind": "event", "module": MODULE, "dataset": DATASET}
        if action is not None:
            event["action"] = action
        ca: dict[str, Any] = {}
        ev: dict[str, Any] = {"ecs": ECS, "event": event, "cloudera_ai": ca}
        extra = not _COLUMN_SET.issuperset(doc)
        if extra:  # columns beyond the documented ones are kept
            for key, value in doc.items():
                if key not in _COLUMN_SET and value is not None:
                    ca[_snake(key)] = value
        problems = None

        row_id = get("id")
        if row_id is not None and row_id != "":
            event["id"] = row_id if row_id.__class__ is str else str(row_id)

        created = get("created_at")
        # ISO 8601 (orjson, row_to_json), PostgreSQL's text form ('2024-05-01 10:00:00.123+00'), or epoch
        # seconds/milliseconds from a numeric export: vendor_time reads the usual UTC ones by text.
        iso, zoneless = vendor_time_and_zoneless(created, self.zone) if created is not None else (None, False)
        if iso is None:
            problems = ["missing created_at" if created is None else f"unreadable created_at {created!r}"]
            ev["@timestamp"] = now_iso()
        else:
            ev["@timestamp"] = iso
            if self._zone_name is not None and zoneless:
                event["timezone"] = self._zone_name  # read in the source's zone (ECS)
                if self._hours_in_doubt and local_time_in_doubt(created, self.zone):
                    add_tag(ev, AMBIGUOUS_LOCAL_TIME)  # the hour DST repeats or skips: @timestamp may be an hour off
        if action is None:
            if problems is None:
                problems = ["missing event_name"]
            else:
                problems.append("missing event_name")
            kind = None
        else:
            kind = self._kinds.get(action)
            if kind is None:
                kind = self._kind(action)

        user: dict[str, Any] = {}
        user_id = get("user_id")
        if user_id is not None:
            user_id = (user_id.strip() or None) if user_id.__class__ is str else _text(user_id)
            if user_id:
                user["id"] = user_id

        ips = self._ips(get("ipaddr"), ev, ca)

        agent = get("user_agent")
        if agent is not None:
            agent = (agent.strip() or None) if agent.__class__ is str else _text(agent)
            if agent:
                ev["user_agent"] = {"original": agent}

        description = get("description")
        is_auth = kind is not None and kind[3]
        username = acted_on = None
        what = ""  # the model and project the message names
        if description is not None:
            if description.__class__ is str:
                ca["description"] = description
                details = self._descriptions.get(description)
                if details is None or (details[4] is UNREAD and is_auth):
                    details = self._descriptions.remember(description, _details(description, is_auth))
            else:
                ca["description"] = orjson.dumps(description).decode()
                details = _details(description, is_auth)
            username, user_type, roles, model, method, acted_on, what = details
            if acted_on is not None:
                target_name, path, file_name, project, team = acted_on
                if target_name:
                    target: dict[str, Any] = {"name": target_name}
                    if team:
                        target["group"] = {"name": team}  # the team the member joins or leaves (membership)
                    user["target"] = target
                elif team:
                    ev["group"] = {"name": team}
                if path:
                    name = path.rstrip("/").rsplit("/", 1)[-1]
                    ev["file"] = {"path": path, "name": name} if name else {"path": path}
                elif file_name:
                    ev["file"] = {"name": file_name}
                if project:
                    ca["project"] = project
            if username:
                user["name"] = username
                ca["username"] = username
            if user_type:
                ca["user_type"] = user_type
                user["roles"] = roles
            if model:
                ca["model"] = model
            if method and is_auth:
                ca["auth_method"] = method
        if user:
            ev["user"] = user
            # related: what add_related makes of (user.name, user.id, user.target.name) and the addresses
            # (nothing else writes it)
            if username:
                related = {"user": [username, user_id] if user_id and user_id != username else [username]}
            else:
                related = {"user": [user_id]} if user_id else {}
            named = user.get("target")
            if named is not None and named["name"] not in related.get("user", ()):
                related["user"] = [*related.get("user", ()), named["name"]]
            if ips:
                related["ip"] = ips  # the memo's list, shared: nothing writes to it
            if related:
                ev["related"] = related
        elif ips:
            ev["related"] = {"ip": ips}

        if kind is not None:
            if kind[0] is not None:
                event["category"], event["type"] = kind[0], kind[1]  # lists shared by the events of an action
                if kind[2] and "outcome" not in event:
                    event["outcome"] = kind[2]
            else:
                add_tag(ev, UNMAPPED_ACTION)
        if extra:  # a column named model or project: the message names what cloudera_ai holds
            what = _what(ca.get("model"), ca.get("project"))
        if acted_on is None and "outcome" not in event:
            # no target, group, file or outcome: audit_message's line, without its call and ~6 lookups
            ev["message"] = f"{username or user_id or 'unknown user'}: {action or 'unknown event'}{what}"
        else:
            ev["message"] = audit_message(ev, f"{action or 'unknown event'}{what}")
        if problems:
            flag_problems(ev, problems, original_text(raw), product_time=iso is not None)
        if not ca:
            del ev["cloudera_ai"]
        return ev

    def _kind(self, action: str) -> tuple:
        """(category list, type list, outcome, an authentication event) of an event name; Nones if uncatalogued."""
        low = action.lower()
        cls = CATALOG.get((low,))
        kind = ((list(cls.category), list(cls.type), cls.outcome) if cls is not None else (None, None, None)) + (low in AUTH_EVENTS,)
        return self._kinds.remember(action, kind)

    def _timestamp(self, value: Any) -> str | None:
        return vendor_time(value, self.zone)  # what _map does inline (a call a record saved)

    def _ips(self, value: Any, ev: dict, ca: dict) -> list[str]:
        """source.ip from ipaddr (a forwarded list keeps its first valid address); loopback = internal."""
        if value is None or value == "":
            return []
        text = value if value.__class__ is str else str(value)
        if "," not in text and "/" not in text and ":" not in text and clean_ip(text) == text:
            # one IPv4 address in clean_ip's own text (the usual ipaddr): what _read_ipaddr says of it, without
            # the memo (distinct addresses would only churn it) and without a call (~700 instructions a record)
            ips, keep_text, internal = [text], False, text.startswith("127.")
        else:
            known = self._addresses.get(text)
            if known is None:
                known = self._addresses.remember(text, _read_ipaddr(text))
            ips, keep_text, internal = known
        if keep_text:
            ca["ipaddr"] = text
        if not ips:
            return []
        ev["source"] = {"ip": ips[0]}
        ca["internal"] = internal
        if internal:
            add_tag(ev, INTERNAL_TAG)
        return ips



UNREAD = object()  # an auth method not looked for
_snakes: BoundedMemo[str, str] = BoundedMemo(1024, 128)  # an extra column's name → its name under cloudera_ai


def _snake(key: str) -> str:
    name = _snakes.get(key)
    if name is None:
        name = _snakes.remember(key, snake_case(key) or "column")
    return name


def _read_ipaddr(text: str) -> tuple[list[str], bool, bool]:
    """(valid addresses in order, whether ipaddr is kept as written, whether the first is loopback)."""
    ips: list[str] = []
    for part in text.split(","):
        part = part.strip()
        ip = clean_ip(_PREFIX_LEN.sub("", part) if "/" in part else part)
        if ip and ip not in ips:
            ips.append(ip)
    if not ips:
        return ips, True, False  # not an address: kept, not put in an ip field
    first = ips[0]
    # clean_ip's IPv4 text is canonical: loopback is 127/8, read without building an address object
    loopback = first.startswith("127.") if ":" not in first else ipaddress.ip_address(first).is_loopback
    return ips, text.strip() != first, loopback


def _text(value: Any) -> str | None:
    if value is None:
        return None
    s = value if isinstance(value, str) else str(value)
    s = s.strip()
    return s or None


_KEY_SEP = re.compile(r"[\s-]+")
# (field, keys in order of preference) that _read_description looks for.
_FIELD_KEYS = (("username", USERNAME_KEYS), ("user_type", USER_TYPE_KEYS), ("model_name", MODEL_NAME_KEYS),
               ("model_id", MODEL_ID_KEYS), ("target_user", TARGET_USER_KEYS), ("file_path", FILE_PATH_KEYS),
               ("file_name", FILE_NAME_KEYS), ("project_name", PROJECT_NAME_KEYS), ("project_id", PROJECT_ID_KEYS),
               ("team", TEAM_KEYS), ("auth_method", AUTH_KEYS))


def _norm_key(key: str) -> str:
    return _KEY_SEP.sub("_", key.strip().lower())


_key_names: BoundedMemo[str, tuple[str, ...]] = BoundedMemo(4096, 64)  # a `key:` of description text → see _names_of_key


def _names_of_key(key: str) -> tuple[str, ...]:
    """The names a `key:` of description text stands for: 'Logged in as user' → logged_in_as_user, as_user,
    user (the key is the words before the colon). Memoised: _PAIR keeps keys to 31 characters."""
    norm = _norm_key(key)
    words = norm.split("_")
    names = (norm, "_".join(words[-2:]), words[-1]) if len(words) > 1 and _TARGET_WORDS.isdisjoint(words) else (norm,)
    return _key_names.remember(key, names)


def _pairs(text: str) -> list[tuple[str, str, str, str]]:
    """What `_PAIR.findall(text)` gives, in time linear in the text: only the window before each ':' or
    '=' can start a key ending at it (a match crossing a separator is impossible: no key or space is one)."""
    out: list[tuple[str, str, str, str]] = []
    pos = 0  # where findall would resume: the end of the last match
    after = 0  # just past the last separator looked at
    while True:
        m = _SEP_CHAR.search(text, max(pos, after))
        if m is None:
            return out
        sep = m.start()
        lo = max(pos, after)
        spaces_from = lo + len(text[lo:sep].rstrip())  # a key ends where this run of whitespace starts
        k = _KEY_TO_SEP.search(text, max(lo, spaces_from - 31), sep + 1)
        after = sep + 1
        if k is not None:
            pair = _PAIR.match(text, k.start())
            if pair is None:  # never: _PAIR matches wherever _KEY_TO_SEP did (its bare value may be empty)
                continue
            out.append(pair.groups(""))  # type: ignore[arg-type]  # _PAIR has four groups
            pos = pair.end()


def _plain_pairs(text: str) -> tuple[list[str], list[str]] | None:
    """(the text before the first ':' of each part between commas that has one, what follows it stripped) of a
    description without quotes, '=', ';' or newlines; None for any other text. Such a text's `_PAIR.findall`
    pairs are one per part with a ':' (a bare value ends at the comma), each the key _PAIR finds before that
    ':' and this value (stripped as _read_description strips findall's): where each part's text before it is
    whitespace then a key (_WHOLE_KEY) the two readings agree, which _plain_plan checks once per shape.
    str.split and str.partition are ~4x cheaper than findall, which tries a key at every character."""
    if '"' in text or "'" in text or "=" in text or ";" in text or "\n" in text or "{" in text:  # "{": JSON, maybe
        return None
    heads: list[str] = []
    values: list[str] = []
    for part in text.split(","):
        head, colon, value = part.partition(":")
        if colon:
            heads.append(head)
            values.append(value.strip())
    return heads, values


def _details(description: Any, want_auth: bool) -> tuple:
    """(username, user type, [user type], cloudera_ai.model, auth method, what it acted on, what the message
    names) of a description, Nones for what it lacks; the auth method is UNREAD unless wanted (only logins keep
    it); what it acted on is None or (target user name, file path, file name, cloudera_ai.project, team); what
    the message names is _what's text ('' if nothing). Memoised per text by the parser: the roles list and
    model and project dicts are shared by the events of one description (nothing writes to them). A plain text
    (_plain_pairs) is read by its shape's plan, any other by _read_description."""
    if description.__class__ is str:
        plain = _plain_pairs(description)
        if plain is not None:
            heads, values = plain
            # which values are empty: asked of each only when one is (~1,500 instructions a description)
            shape = (tuple(heads), tuple(map(bool, values)) if "" in values else None, want_auth)
            plan = _plain_plans.get(shape, MISSING)
            if plan is MISSING:
                plan = _plain_plans.remember(shape, _plain_plan(*shape))
            if plan is not None:
                return _planned_details(plan, values, description)
    return _details_of_fields(_read_description(description, want_auth), want_auth)


def _details_of_fields(d: dict[str, str], want_auth: bool) -> tuple:
    """_details of what _read_description found."""
    user_type = d.get("user_type")
    model = _name_and_id(d.get("model_name"), d.get("model_id"))
    acted_on = None
    if not _ACTED_ON.isdisjoint(d):
        project = _name_and_id(d.get("project_name"), d.get("project_id"))
        parts = (d.get("target_user"), d.get("file_path"), d.get("file_name"), project, d.get("team"))
        if any(parts):
            acted_on = parts
    return (d.get("username"), user_type, [user_type] if user_type else None, model,
            d.get("auth_method") if want_auth else UNREAD, acted_on, _what(model, acted_on and acted_on[3]))


def _what(model: Any, project: Any) -> str:
    """What the message names besides the action: the model and the project (cloudera_ai.model, .project: dicts)
    by name or id."""
    what = f" model {model.get('name') or model.get('id')}" if model.__class__ is dict else ""
    if project.__class__ is dict:
        what += f" project {project.get('name') or project.get('id')}"
    return what


def _name_and_id(name: str | None, id_: str | None) -> dict[str, str] | None:
    """cloudera_ai.model or .project: {name, id}, each if given."""
    return ({"name": name, "id": id_} if id_ else {"name": name}) if name else ({"id": id_} if id_ else None)


def _planned_details(plan: _Plan, values: list[str], text: str) -> tuple:
    """_details of a plain description from its values, by its shape's plan: _read_description's dict of fields
    and _details_of_fields' lookups in it are worked out once per shape (_details of a bench description
    23,164 → 17,636 instructions). The values a plan points at are not empty, so the model's keys are the plan's."""
    at_name, at_type, at_model, at_model_id, acted, at_method, want_auth = plan
    user_type = values[at_type] if at_type is not None else None
    if user_type != "NORMAL" and user_type != "ADMIN":  # the usual value as written: no call
        user_type = _user_type(user_type, text)
    model: dict[str, str] | None
    if at_model is not None:  # what _what names of the model, without its call
        model = {"name": values[at_model], "id": values[at_model_id]} if at_model_id is not None else {"name": values[at_model]}
        what = f" model {values[at_model]}"
    elif at_model_id is not None:
        model, what = {"id": values[at_model_id]}, f" model {values[at_model_id]}"
    else:
        model, what = None, ""
    acted_on = None
    if acted is not None:
        target, path, file_name, pname, pid, team = [None if i is None else values[i] for i in acted]
        project = _name_and_id(pname, pid)
        acted_on = (target, path, file_name, project, team)
        if project is not None:
            what += _what(None, project)
    return (values[at_name] if at_name is not None else None, user_type, [user_type] if user_type else None, model,
            _auth_method(values[at_method] if at_method is not None else None, text) if want_auth else UNREAD,
            acted_on, what)


_ACTED_ON_ORDER = ("target_user", "file_path", "file_name", "project_name", "project_id", "team")
_ACTED_ON = frozenset(_ACTED_ON_ORDER)


# A key's (field, its place in the field's order of preference): each key names one field (a test says so).
_KEY_FIELD = {k: (name, rank) for name, keys in _FIELD_KEYS for rank, k in enumerate(keys)}


def _pick_fields(pairs: dict[str, Any], found: dict[str, str], want_auth: bool, as_text: bool) -> None:
    """For each field, the value of its most preferred key among `pairs` whose value is text (`as_text`: made
    text by _text; else stripped text already) — by the description's few keys, not by the fields' ~60."""
    ranks: dict[str, int] = {}
    key_field = _KEY_FIELD.get
    for k, v in pairs.items():
        known = key_field(k)
        if known is None:
            continue
        name, rank = known
        if rank < ranks.get(name, 1 << 30) and (want_auth or name != "auth_method"):
            if as_text:
                v = _text(v)
            if v:
                ranks[name] = rank
                found[name] = v


def _plan_fields(keys: tuple[str, ...], given: tuple[bool, ...], want_auth: bool) -> tuple[tuple[str, int], ...]:
    """(field, the index of the pair whose value it takes) for a description's `key:` pairs, `given` telling
    which have a value: each name the keys stand for takes its first pair's value, then _pick_fields."""
    first: dict[str, tuple[int] | None] = {}
    for i, key in enumerate(keys):
        for name in _key_names.get(key) or _names_of_key(key):
            first.setdefault(name, (i,) if given[i] else None)
    found: dict[str, Any] = {}
    _pick_fields(first, found, want_auth, False)
    return tuple((name, at[0]) for name, at in found.items())


# (keys, which have a value, want_auth) → _plan_fields: bounded in entries and in the key text an entry keeps.
_field_plans: BoundedMemo[tuple, tuple[tuple[str, int], ...]] = BoundedMemo(4096, 512)


class _Plan(NamedTuple):
    """Where _planned_details finds each field among a plain description's values (an index, None where the
    shape has no value for it): one per shape (keys, which values are empty, want_auth)."""

    username: int | None
    user_type: int | None
    model_name: int | None
    model_id: int | None
    acted_on: tuple[int | None, ...] | None  # target user, file path, file name, project name and id, team
    auth_method: int | None
    want_auth: bool


def _plain_plan(heads: tuple[str, ...], given: tuple[bool, ...] | None, want_auth: bool) -> _Plan | None:
    """The plan of _plan_fields for _plain_pairs' heads (`given` None: every value given) when each is
    whitespace then a key (the names of a key are made of its text stripped: the whitespace changes none),
    else None: findall must read that text."""
    if not all(_WHOLE_KEY.fullmatch(head) for head in heads):
        return None
    at = dict(_plan_fields(heads, (True,) * len(heads) if given is None else given, want_auth)).get
    acted = tuple(at(name) for name in _ACTED_ON_ORDER)
    return _Plan(at("username"), at("user_type"), at("model_name"), at("model_id"),
                 acted if any(i is not None for i in acted) else None, at("auth_method"), want_auth)


# (_plain_pairs' heads, which have a value or None if all, want_auth) → _plain_plan, as _field_plans.
_plain_plans: BoundedMemo[tuple, _Plan | None] = BoundedMemo(4096, 512)


def _read_description(description: Any, want_auth: bool = True) -> dict[str, str]:
    """username, user_type, model_name, model_id, what it acted on, auth_method (if wanted): whichever
    the description holds."""
    found: dict[str, str] = {}
    pairs: dict[str, Any] = {}
    text = description if isinstance(description, str) else None
    obj = description if isinstance(description, dict) else None
    if text is not None and text.lstrip().startswith("{"):
        try:
            parsed = exact_json.loads(text)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            obj = parsed
    if obj is not None:
        pairs = {_norm_key(str(k)): v for k, v in obj.items() if v is not None and not isinstance(v, (dict, list))}
        text = " ".join(str(v) for v in pairs.values())
    elif text is not None:
        # Which value each field takes depends only on the keys and on which values are empty: worked out
        # once per such shape (the descriptions of one kind of event share theirs), then read off the values.
        matches = _PAIR.findall(text) if len(text) <= 1024 else _pairs(text)
        # findall gives '' for a group that did not take part; one that did take part alone is non-empty
        # or all three are '': so the first non-empty one is the value
        values = [(dq or sq or bare).strip() for _, dq, sq, bare in matches]
        shape = (tuple([m[0] for m in matches]), tuple(map(bool, values)), want_auth)
        plan = _field_plans.get(shape)
        if plan is None:
            plan = _field_plans.remember(shape, _plan_fields(*shape))
        for name, i in plan:
            found[name] = values[i]
    else:
        return found
    if obj is not None:
        _pick_fields(pairs, found, want_auth, True)
    ut = found.get("user_type")
    if ut != "NORMAL" and ut != "ADMIN":  # the usual value as written: no call
        ut = _user_type(ut, text or "")
        if ut is not None:
            found["user_type"] = ut
        else:
            found.pop("user_type", None)
    if not want_auth:
        return found
    am = _auth_method(found.get("auth_method"), text or "")
    if am is not None:
        found["auth_method"] = am
    else:
        found.pop("auth_method", None)
    return found


def _user_type(written: str | None, text: str) -> str | None:
    """NORMAL or ADMIN: the value of a user type key (`written`, any case), else the word in the description's
    text; None if neither (a 'role'/'type' key that is not NORMAL/ADMIN stays in the raw text only)."""
    if written is not None:
        written = written.upper()
        if written == "NORMAL" or written == "ADMIN":
            return written
    m = _USER_TYPE.search(text) if "NORMAL" in text or "ADMIN" in text else None  # the search costs 20x
    return m.group(1) if m else None


def _auth_method(written: str | None, text: str) -> str | None:
    """LDAP, SAML or local: the word in an auth method key's value (`written`), or if none is keyed, in the
    description's text; None if not there."""
    where = written if written is not None else text
    # The search costs 20x the test: casefold maps every letter IGNORECASE matches to an ASCII one ('ſ' → 's')
    cf = where.casefold()
    m = _AUTH_METHOD.search(where) if "ldap" in cf or "saml" in cf or "local" in cf else None
    if m is None:
        return None
    return "local" if m.group(1).lower() == "local" else m.group(1).upper()
