"""Cloudera AI (CML / CDSW) `user_events` rows, one JSON object per record.

The postgres source serialises each row under the documented column names (`id`, `user_id`,
`ipaddr`, `user_agent`, `event_name`, `description`, `created_at`), whatever the table's own
column names; `psql -At -c "SELECT row_to_json(u) FROM user_events u"` gives the same shape, so
`shipper cat -p cloudera_ai` works on an export too.

What is not public (research/formats.md §2): the column types and the layout of `description`,
documented only as holding "the model name and ID, the user type (NORMAL or ADMIN), and the
username". So `description` is always kept verbatim (`cloudera_ai.description`) and read
best-effort: a JSON object, or `key: value` / `key=value` text; a NORMAL/ADMIN word is the user type;
for logins and LDAP/SAML user creation the LDAP/SAML/local word is the authentication method.
"""
from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from shipper.ecs import (
    vendor_time,
    classify, flag_problems,
    add_related, add_tag, base_event, clean_ip, decode_text, failure_event, load_catalog, now_iso, snake_case,
)
from shipper.plugin import Parser

CATALOG = load_catalog(Path(__file__).with_name("cloudera_ai_events.csv"), ("event_name",))

COLUMNS = ("id", "user_id", "ipaddr", "user_agent", "event_name", "description", "created_at")
INTERNAL_TAG = "cloudera_ai_internal"  # ipaddr 127.0.0.1: "an internal component" (vendor doc)
AUTH_EVENTS = {"user login", "ldap/saml user creation"}

# Keys a description may use, compared lower-case with spaces/dashes as underscores. In order of
# preference when a description has several (tuples: a set's order changes with the hash seed, so the
# same row gave another user name after a restart).
USERNAME_KEYS = ("username", "user_name", "name_of_user", "login", "user")
USER_TYPE_KEYS = ("user_type", "usertype", "type_of_user", "role")
MODEL_NAME_KEYS = ("model_name", "modelname", "model")
MODEL_ID_KEYS = ("model_id", "modelid")
AUTH_KEYS = ("auth_method", "authmethod", "authentication_method", "auth_type", "authentication", "auth", "method")

# `key: value` or `key=value` pairs, values up to the next comma/semicolon, or quoted.
_PAIR = re.compile(
    r"""(?P<key>[A-Za-z][A-Za-z _-]{0,30}?)\s*[:=]\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^,;\n]*))"""
)
_USER_TYPE = re.compile(r"\b(NORMAL|ADMIN)\b")
_AUTH_METHOD = re.compile(r"\b(LDAP|SAML|local)\b", re.IGNORECASE)
_PREFIX_LEN = re.compile(r"/\d{1,3}$")  # PostgreSQL inet text: 10.0.0.1/32
# created_at as orjson / row_to_json / psql write it: naive, or UTC (Z, +00, +00:00); up to microseconds.
_ISO_TIME = re.compile(r"([1-9][0-9]{3})-([0-9]{2})-([0-9]{2})[T ]([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9])"
                       r"(?:\.([0-9]{1,6}))?(Z|\+00(?::00)?)?")
_valid_days: dict[str, bool] = {}  # 'YYYY-MM-DD' → a real date


class ClouderaAIParser(Parser):
    module = "cloudera_ai"
    dataset = "cloudera_ai.audit"

    def __init__(self, options=None):
        super().__init__(options)
        self._utc = getattr(self.zone, "key", None) in ("UTC", "Etc/UTC")  # no offset at any date
        self._addresses: dict[str, tuple[list[str], bool, bool]] = {}  # ipaddr text → see _read_ipaddr

    def parse(self, raw: bytes) -> list[dict]:
        try:
            if b"\x00" in raw:
                raise ValueError("record holds NUL bytes")
            doc = orjson.loads(raw)
            if not isinstance(doc, dict):
                raise ValueError(f"expected a JSON object, got {type(doc).__name__}")
        except (ValueError, orjson.JSONDecodeError) as e:
            return [failure_event(raw, f"not a Cloudera AI user_events record: {e}", self.module, self.dataset)]
        return [self._map(doc, raw)]

    def _map(self, doc: dict, raw: bytes) -> dict:
        action = _text(doc.get("event_name"))
        ev = base_event(self.module, self.dataset, action)
        ca: dict[str, Any] = {}
        for key, value in doc.items():  # columns beyond the documented ones are kept
            if key not in COLUMNS and value is not None:
                ca[snake_case(key) or "column"] = value
        ev["cloudera_ai"] = ca
        problems: list[str] = []

        row_id = doc.get("id")
        if row_id is not None and row_id != "":
            ev["event"]["id"] = str(row_id)

        created = doc.get("created_at")
        iso = self._timestamp(created) if created is not None else None
        if iso is None:
            problems.append("missing created_at" if created is None else f"unreadable created_at {created!r}")
            ev["@timestamp"] = now_iso()
        else:
            ev["@timestamp"] = iso
        if not action:
            problems.append("missing event_name")

        user: dict[str, Any] = {}
        user_id = _text(doc.get("user_id"))
        if user_id:
            user["id"] = user_id

        ips = self._ips(doc.get("ipaddr"), ev, ca)

        agent = _text(doc.get("user_agent"))
        if agent:
            ev["user_agent"] = {"original": agent}

        description = doc.get("description")
        if description is not None:
            ca["description"] = description if isinstance(description, str) else orjson.dumps(description).decode()
            details = _read_description(description)
            username = details.get("username")
            if username:
                user["name"] = username
                ca["username"] = username
            user_type = details.get("user_type")
            if user_type:
                ca["user_type"] = user_type
                user["roles"] = [user_type]
            if details.get("model_name") or details.get("model_id"):
                ca["model"] = {k: details[f"model_{k}"] for k in ("name", "id") if details.get(f"model_{k}")}
            if (action or "").lower() in AUTH_EVENTS:
                method = details.get("auth_method")
                if method:
                    ca["auth_method"] = method
        if user:
            ev["user"] = user
        add_related(ev, users=(user.get("name"), user.get("id")), ips=ips)

        classify(ev, CATALOG.get(((action or "").lower(),)), bool(action))
        flag_problems(ev, problems, decode_text(raw) if problems else None)
        if not ca:
            del ev["cloudera_ai"]
        return ev

    def _ips(self, value: Any, ev: dict, ca: dict) -> list[str]:
        """source.ip from ipaddr (a forwarded list keeps its first valid address); loopback = internal."""
        if value is None or value == "":
            return []
        text = value if value.__class__ is str else str(value)
        known = self._addresses.get(text)
        if known is None:
            known = _read_ipaddr(text)
            if len(text) <= 256:  # bounded against hostile input: short texts only, 4096 of them
                if len(self._addresses) >= 4096:
                    self._addresses.clear()
                self._addresses[text] = known
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

    def _timestamp(self, value: Any) -> str | None:
        # ISO 8601 (orjson, row_to_json), PostgreSQL's text form ('2024-05-01 10:00:00.123+00'),
        # or epoch seconds/milliseconds from a numeric export.
        if value.__class__ is str:
            # The usual row, each its own time (no memo hits): naive in a UTC source, or UTC, by text;
            # the same result as vendor_time's fromisoformat + isoformat (milliseconds truncated).
            m = _ISO_TIME.fullmatch(value)
            if m is not None and (self._utc or m[8] is not None):
                day = value[:10]
                ok = _valid_days.get(day)
                if ok is None:
                    ok = _valid_day(m)
                    if len(_valid_days) >= 4096:
                        _valid_days.clear()
                    _valid_days[day] = ok
                if ok:
                    frac = m[7]
                    return f"{day}T{value[11:19]}.{(frac + '00')[:3] if frac else '000'}Z"
        return vendor_time(value, self.zone)


def _valid_day(m: re.Match) -> bool:
    try:
        datetime(int(m[1]), int(m[2]), int(m[3]))
        return True
    except ValueError:
        return False


def _read_ipaddr(text: str) -> tuple[list[str], bool, bool]:
    """(valid addresses in order, whether ipaddr is kept as written, whether the first is loopback)."""
    ips: list[str] = []
    for part in text.split(","):
        ip = clean_ip(_PREFIX_LEN.sub("", part.strip()))
        if ip and ip not in ips:
            ips.append(ip)
    if not ips:
        return ips, True, False  # not an address: kept, not put in an ip field
    return ips, text.strip() != ips[0], ipaddress.ip_address(ips[0]).is_loopback


def _text(value: Any) -> str | None:
    if value is None:
        return None
    s = value if isinstance(value, str) else str(value)
    s = s.strip()
    return s or None


_KEY_SEP = re.compile(r"[\s-]+")
# (field, keys in order of preference) that _read_description looks for.
_FIELD_KEYS = (("username", USERNAME_KEYS), ("user_type", USER_TYPE_KEYS), ("model_name", MODEL_NAME_KEYS),
               ("model_id", MODEL_ID_KEYS), ("auth_method", AUTH_KEYS))


def _norm_key(key: str) -> str:
    return _KEY_SEP.sub("_", key.strip().lower())


_key_names: dict[str, tuple[str, ...]] = {}  # a `key:` of description text → see _names_of_key


def _names_of_key(key: str) -> tuple[str, ...]:
    """The names a `key:` of description text stands for: 'Logged in as user' → logged_in_as_user, as_user,
    user (the key is the words before the colon). Memoised: _PAIR keeps keys to 31 characters."""
    norm = _norm_key(key)
    words = norm.split("_")
    names = (norm, "_".join(words[-2:]), words[-1]) if len(words) > 1 else (norm,)
    if len(_key_names) >= 4096:
        _key_names.clear()
    _key_names[key] = names
    return names


def _read_description(description: Any) -> dict[str, str]:
    """username, user_type, model_name, model_id, auth_method: whichever the text holds."""
    found: dict[str, str] = {}
    pairs: dict[str, Any] = {}
    text = description if isinstance(description, str) else None
    obj = description if isinstance(description, dict) else None
    if text is not None and text.lstrip().startswith("{"):
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            obj = parsed
    if obj is not None:
        pairs = {_norm_key(str(k)): v for k, v in obj.items() if v is not None and not isinstance(v, (dict, list))}
        text = " ".join(str(v) for v in pairs.values())
    elif text is not None:
        setdefault, names_of = pairs.setdefault, _key_names.get
        for key, dq, sq, bare in _PAIR.findall(text):
            # findall gives '' for a group that did not take part; one that did take part alone is non-empty
            # or all three are '': so the first non-empty one is the value
            value = (dq or sq or bare).strip()
            names = names_of(key)
            if names is None:
                names = _names_of_key(key)
            for name in names:
                setdefault(name, value)
        get = pairs.get
        for name, keys in _FIELD_KEYS:
            for k in keys:
                v = get(k)
                if v:  # stripped text already
                    found[name] = v
                    break
    else:
        return found
    if obj is not None:
        get = pairs.get
        for name, keys in _FIELD_KEYS:
            for k in keys:
                v = get(k)
                if v is not None:
                    v = _text(v)
                    if v:
                        found[name] = v
                        break
    ut = found.get("user_type")
    if ut is not None and ut.upper() in ("NORMAL", "ADMIN"):
        found["user_type"] = ut.upper()
    elif text:
        m = _USER_TYPE.search(text)
        if m:
            found["user_type"] = m.group(1)
        elif ut is not None:
            del found["user_type"]  # a 'role'/'type' key that is not NORMAL/ADMIN: stays in the raw text only
    am = found.get("auth_method")
    m = _AUTH_METHOD.search(am if am is not None else (text or ""))
    if m:
        found["auth_method"] = "local" if m.group(1).lower() == "local" else m.group(1).upper()
    elif am is not None:
        del found["auth_method"]
    return found
