"""Datameer `useraction.log`: one JSON object per line, written by a Log4j RollingFileAppender.

The exact key spellings of real lines are not public (research/formats.md §1.2), so keys are
compared in a spelling-blind form: `actionType`, `action-type`, `action_type` and `Action Type`
are the same key. Unused fields are written as null by Datameer; nulls are not shipped.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from shipper.ecs import (
    PARSE_FAILURE, add_related, add_tag, base_event, clean_ip, decode_text, epoch_ms_to_iso, failure_event,
    iso_utc, load_catalog, now_iso, snake_case, squash_key, unmapped,
)
from shipper.plugin import Parser

CATALOG = load_catalog(Path(__file__).with_name("datameer_actions.csv"), ("action_type", "action"))

# Spelling-blind names of the six documented core fields, with the spellings we have seen guessed.
TIMESTAMP = {"timestamp", "time", "datetime", "eventtime", "date"}
ACTION_TYPE = {"actiontype", "type", "loggedactiontype"}
ACTION = {"action", "loggedaction", "actionname"}
PERFORMER = {"performinguser", "performingusername", "performer", "actor"}
ROLES = {"roles", "rolesofperforminguser", "performinguserroles", "userroles", "rolesoftheperforminguser"}
IP = {"ipaddress", "ip", "ipaddressofperforminguser", "performinguserip", "performinguseripaddress",
      "ipofperforminguser", "useripaddress", "clientip", "sourceip", "remoteaddress"}
CORE = TIMESTAMP | ACTION_TYPE | ACTION | PERFORMER | ROLES | IP

# Documented additional fields that also have a place in ECS.
PATHS = ("filepath", "folderpath", "applicationpath", "workbookpath", "datasourcepath")


class DatameerParser(Parser):
    module = "datameer"
    dataset = "datameer.useraction"

    def __init__(self, options=None):
        super().__init__(options)
        self.zone = ZoneInfo(self.options.get("timezone") or "UTC")
        self._squashed: dict[str, str] = {}
        self._snake: dict[str, str] = {}

    def _squash(self, key: str) -> str:
        s = self._squashed.get(key)
        if s is None:
            s = self._squashed[key] = squash_key(key)
        return s

    def _snake_of(self, key: str) -> str:
        s = self._snake.get(key)
        if s is None:
            s = self._snake[key] = snake_case(key)
        return s

    def parse(self, raw: bytes) -> list[dict]:
        start = raw.find(b"{")  # tolerate a Log4j layout prefix before the object
        try:
            if start < 0:
                raise ValueError("no JSON object on the line")
            if b"\x00" in raw:
                raise ValueError("line holds NUL bytes")
            doc = orjson.loads(raw[start:])
            if not isinstance(doc, dict):
                raise ValueError(f"expected a JSON object, got {type(doc).__name__}")
        except (ValueError, orjson.JSONDecodeError) as e:
            return [_failure(raw, f"not a Datameer JSON record: {e}")]
        return [self._map(doc, raw)]

    def _map(self, doc: dict, raw: bytes) -> dict:
        core: dict[str, Any] = {}
        extra: dict[str, Any] = {}  # squashed name → (snake name, value)
        for key, value in doc.items():
            if value is None:
                continue
            sq = self._squash(key)
            if sq in CORE:
                core.setdefault(_core_name(sq), value)
            else:
                extra[sq] = (self._snake_of(key), value)

        action_type = _text(core.get("action_type"))
        action = _text(core.get("action"))
        ev = base_event(self.module, self.dataset, action)
        dm: dict[str, Any] = {snake: value for snake, value in extra.values()}
        if action_type:
            dm["action_type"] = action_type
        ev["datameer"] = dm
        problems: list[str] = []

        ts = core.get("timestamp")
        iso = self._timestamp(ts) if ts is not None else None
        if iso is None:
            problems.append("missing timestamp" if ts is None else f"unreadable timestamp {ts!r}")
            ev["@timestamp"] = now_iso()
        else:
            ev["@timestamp"] = iso
        if not action_type:
            problems.append("missing action type")
        if not action:
            problems.append("missing action")

        user: dict[str, Any] = {}
        performer = _text(core.get("performing_user"))
        if performer:
            user["name"] = performer
        roles = _roles(core.get("roles"))
        if roles:
            user["roles"] = roles
        ip_raw = core.get("ip")
        ip = clean_ip(ip_raw)
        if ip:
            ev["source"] = {"ip": ip}
        elif ip_raw not in (None, ""):
            dm["ip_address"] = str(ip_raw)  # not an address: kept, not put in an ip field

        target_name = _text(extra.get("username", (None, None))[1])
        if target_name:
            if action_type and action_type.upper() == "AUTHENTICATION" and "name" not in user:
                user["name"] = target_name  # the account a login was attempted for
            else:
                user.setdefault("target", {})["name"] = target_name
        new_owner = _text(extra.get("newowner", (None, None))[1])
        if new_owner:
            user.setdefault("target", {}).setdefault("name", new_owner)
        if user:
            ev["user"] = user
        group = _text(extra.get("groupname", (None, None))[1])
        if group:
            ev["group"] = {"name": group}
        for sq in PATHS:
            path = _text(extra.get(sq, (None, None))[1])
            if path:
                ev["file"] = {"path": path}
                if sq == "folderpath":
                    ev["file"]["type"] = "dir"
                break
        job_user = _text(extra.get("executionjobuser", (None, None))[1])
        add_related(ev, users=(performer, target_name, new_owner, job_user), ips=(ip,))

        cls = CATALOG.get(((action_type or "").lower(), (action or "").lower()))
        if cls is not None:
            cls.apply(ev)
        elif action_type or action:
            unmapped(ev)
        if problems:
            add_tag(ev, PARSE_FAILURE)
            ev["error"] = {"message": "; ".join(problems)}
            ev["event"]["original"] = decode_text(raw)
        return ev

    def _timestamp(self, value: Any) -> str | None:
        try:
            return self._timestamp_of(value)
        except (ValueError, OverflowError, OSError):  # epoch numbers out of any calendar's range
            return None

    def _timestamp_of(self, value: Any) -> str | None:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return epoch_ms_to_iso(value if value > 1e11 else value * 1000)
        if not isinstance(value, str):
            return None
        s = value.strip()
        try:
            dt = datetime.strptime(s, "%Y-%m-%d %H:%M:%S")  # the documented form: no zone
        except ValueError:
            try:
                dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
            except ValueError:
                return None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=self.zone)
        return iso_utc(dt)


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
