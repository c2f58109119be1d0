"""The anchors every shipper number is compared with, on the same corpus file:

* the bare loop (issue 19's anchor, what a host pays for any JSON shipper at all): read a line,
  `orjson.loads`, a small dict around the record (a fixed time and host, the record under `log`),
  `orjson.dumps`, write in 1000-line writes. No product knowledge: the same for every product;
* the Python floor: a tight loop over the file's lines doing `orjson.loads` + a small hand-written ECS
  mapping of the product's known keys (timestamp, action, its catalogue category/type, user, source
  address, the record itself under the product namespace) + `orjson.dumps`, written to a file in
  1000-line writes. No spelling-blind keys, no validation, no flags, no ids, no checkpoints: what any
  Python shipper pays at least (issue 8's "floor Python allows");
* `orjson.loads` + `orjson.dumps` alone (the parse/serialise cost without any mapping);
* pygtail 0.14.0 + orjson: `Pygtail` (a line-by-line tailer with an offset file) feeding loads + dumps.

Each runs in its own process (`python bench/floor.py KIND PRODUCT FILE OUT`) so its CPU and peak RSS
are measured like shipper's.
"""
from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

import orjson

PARSERS = Path(__file__).resolve().parents[1] / "plugins" / "parsers"
ECS = {"version": "9.4.0"}


def _catalogue(name: str, keys: tuple[str, ...]) -> dict:
    with open(PARSERS / name, encoding="utf-8") as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        return {tuple(r[k] for k in keys): (r["category"].split("|"), r["type"].split("|")) for r in rows}


def datameer_mapper():
    cat = _catalogue("datameer_actions.csv", ("action_type", "action"))

    def m(doc: dict) -> list[dict]:
        ts = doc.get("timestamp")
        action = doc.get("action")
        c = cat.get((doc.get("action-type"), action))
        ev = {"@timestamp": ts[:10] + "T" + ts[11:] + ".000Z", "ecs": ECS,
              "event": {"kind": "event", "module": "datameer", "dataset": "datameer.useraction", "action": action,
                        "category": c[0] if c else None, "type": c[1] if c else None},
              "user": {"name": doc.get("performing-user"), "roles": doc.get("roles")},
              "source": {"ip": doc.get("ip-address")},
              "datameer": {k: v for k, v in doc.items() if v is not None}}
        return [ev]
    return m


def databricks_mapper():
    cat = _catalogue("databricks_actions.csv", ("service", "action"))

    def m(doc: dict) -> list[dict]:
        p = doc.get("properties") or doc
        service, action = p.get("serviceName"), p.get("actionName")
        ident = doc.get("identity") or doc.get("userIdentity")
        if isinstance(ident, str):
            ident = orjson.loads(ident)
        c = cat.get((service, action))
        ev = {"@timestamp": doc.get("time") or doc.get("timestamp"), "ecs": ECS,
              "event": {"kind": "event", "module": "databricks", "dataset": "databricks.audit", "action": action,
                        "provider": service, "id": p.get("logId"),
                        "category": c[0] if c else None, "type": c[1] if c else None},
              "user": {"email": ident.get("email") if isinstance(ident, dict) else None},
              "source": {"ip": p.get("sourceIPAddress")},
              "user_agent": {"original": p.get("userAgent")},
              "databricks": {k: v for k, v in doc.items() if v is not None}}
        return [ev]
    return m


def posit_connect_mapper():
    cat = _catalogue("posit_connect_actions.csv", ("action",))

    def m(doc: dict) -> list[dict]:
        action = doc.get("action")
        c = cat.get((action,))
        ev = {"@timestamp": doc.get("time"), "ecs": ECS, "message": doc.get("msg"),
              "event": {"kind": "event", "module": "posit_connect", "dataset": "posit_connect.audit", "action": action,
                        "id": str(doc.get("entry_id")), "category": c[0] if c else None, "type": c[1] if c else None},
              "user": {"id": str(doc.get("actor_id")), "roles": [doc.get("actor_role")]},
              "posit_connect": {k: v for k, v in doc.items() if v is not None}}
        return [ev]
    return m


def cloudera_ai_mapper():
    cat = _catalogue("cloudera_ai_events.csv", ("event_name",))

    def m(doc: dict) -> list[dict]:
        name = doc.get("event_name")
        c = cat.get((name,))
        ts = doc.get("created_at")
        ev = {"@timestamp": ts[:23] + "Z", "ecs": ECS,
              "event": {"kind": "event", "module": "cloudera_ai", "dataset": "cloudera_ai.audit", "action": name,
                        "id": str(doc.get("id")), "category": c[0] if c else None, "type": c[1] if c else None},
              "user": {"id": doc.get("user_id")}, "source": {"ip": doc.get("ipaddr")},
              "user_agent": {"original": doc.get("user_agent")},
              "cloudera_ai": {"description": doc.get("description")}}
        return [ev]
    return m


def puppet_enterprise_mapper():
    def m(doc: dict) -> list[dict]:
        commit = doc.get("commit") or doc
        subject = commit.get("subject") or {}
        out = []
        for e in commit.get("events") or ():
            out.append({"@timestamp": commit.get("timestamp"), "ecs": ECS, "message": e.get("message"),
                        "event": {"kind": "event", "module": "puppet_enterprise", "dataset": "puppet_enterprise.activity",
                                  "action": e.get("description") or e.get("type")},
                        "user": {"id": subject.get("id"), "name": subject.get("name")},
                        "source": {"ip": commit.get("ip_address")},
                        "puppet_enterprise": {"service_id": doc.get("service_id"), "objects": commit.get("objects"),
                                              "event": e}})
        return out
    return m


MAPPERS = {"datameer": datameer_mapper, "databricks": databricks_mapper, "posit_connect_json": posit_connect_mapper,
           "cloudera_ai": cloudera_ai_mapper, "puppet_enterprise": puppet_enterprise_mapper}


def floor(product: str, path: str, out_path: str) -> int:
    m = MAPPERS[product]()
    loads, dumps = orjson.loads, orjson.dumps
    n = 0
    with open(path, "rb", buffering=1 << 20) as f, open(out_path, "wb") as out:
        buf: list[bytes] = []
        for line in f:
            for ev in m(loads(line)):
                buf.append(dumps(ev))
            if len(buf) >= 1000:
                n += len(buf)
                buf.append(b"")
                out.write(b"\n".join(buf))
                buf = []
        n += len(buf)
        buf.append(b"")
        out.write(b"\n".join(buf))
    return n


HOST = {"name": "bench-host"}


def bare(path: str, out_path: str) -> int:
    loads, dumps = orjson.loads, orjson.dumps
    n = 0
    with open(path, "rb", buffering=1 << 20) as f, open(out_path, "wb") as out:
        buf: list[bytes] = []
        for line in f:
            buf.append(dumps({"@timestamp": "2026-01-01T00:00:00.000Z", "host": HOST, "log": loads(line)}))
            if len(buf) >= 1000:
                n += len(buf)
                buf.append(b"")
                out.write(b"\n".join(buf))
                buf = []
        n += len(buf)
        buf.append(b"")
        out.write(b"\n".join(buf))
    return n


def loads_dumps(path: str, out_path: str) -> int:
    loads, dumps = orjson.loads, orjson.dumps
    n = 0
    with open(path, "rb", buffering=1 << 20) as f, open(out_path, "wb") as out:
        buf: list[bytes] = []
        for line in f:
            buf.append(dumps(loads(line)))
            if len(buf) >= 1000:
                n += len(buf)
                buf.append(b"")
                out.write(b"\n".join(buf))
                buf = []
        n += len(buf)
        buf.append(b"")
        out.write(b"\n".join(buf))
    return n


def pygtail(path: str, out_path: str) -> int:
    from pygtail import Pygtail

    offset_file = out_path + ".offset"
    if os.path.exists(offset_file):
        os.unlink(offset_file)
    loads, dumps = orjson.loads, orjson.dumps
    n = 0
    with open(out_path, "wb") as out:
        buf: list[bytes] = []
        for line in Pygtail(path, offset_file=offset_file):
            buf.append(dumps(loads(line)))
            if len(buf) >= 1000:
                n += len(buf)
                buf.append(b"")
                out.write(b"\n".join(buf))
                buf = []
        n += len(buf)
        buf.append(b"")
        out.write(b"\n".join(buf))
    return n


if __name__ == "__main__":
    kind, product, path, out = sys.argv[1:5]
    if kind == "floor":
        print(floor(product, path, out))
    elif kind == "loads_dumps":
        print(loads_dumps(path, out))
    elif kind == "bare":
        print(bare(path, out))
    else:
        print(pygtail(path, out))
