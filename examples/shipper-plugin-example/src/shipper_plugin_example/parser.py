"""`parser: acme_vault` — the JSON-lines audit log of Acme Vault (a fictional secrets vault).

One JSON object per line: `time` (ISO 8601; a time without a zone is in the source's `timezone`),
`request_id`, `actor`, `client_ip`, `operation` (catalogued in acme_vault_operations.csv), `path`,
`status` (ok, denied, error) and, for errors, `error`. Everything the vault wrote is kept under
`acme_vault.*`; the ECS fields are set from it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from shipper.api import (
    Parser,
    add_related,
    base_event,
    classify,
    clean_ip,
    decode_text,
    failure_event,
    flag_problems,
    is_utf8,
    load_catalog,
    now_iso,
    original_text,
    vendor_time,
)

CATALOG = load_catalog(Path(__file__).with_name("acme_vault_operations.csv"), ("operation",))
OUTCOMES = {"ok": "success", "denied": "failure", "error": "failure"}


class AcmeVaultParser(Parser):
    module = "acme_vault"
    dataset = "acme_vault.audit"
    vendor_field_types = {
        "acme_vault.request_id": "keyword",
        "acme_vault.actor": "keyword",
        "acme_vault.operation": "keyword",
        "acme_vault.path": "keyword",
        "acme_vault.status": "keyword",
    }

    def parse(self, raw: bytes) -> list[dict[str, Any]]:
        # A byte that is not UTF-8 (a Latin-1 name) must not cost the whole record: its fields are read
        # with it as U+FFFD (docs/ecs-conventions.md); the record's text for an auditor, original_text,
        # keeps which byte it was. orjson refuses such bytes, so they are replaced first.
        try:
            doc = orjson.loads(raw if is_utf8(raw) else decode_text(raw))
        except orjson.JSONDecodeError as e:
            return [failure_event(raw, f"not JSON: {e}", self.module, self.dataset)]  # kept as original_text(raw)
        if not isinstance(doc, dict):
            return [failure_event(raw, "expected a JSON object", self.module, self.dataset)]

        operation = doc.get("operation")
        action = operation if isinstance(operation, str) and operation else None
        ev = base_event(self.module, self.dataset, action)
        problems = []

        stamp = vendor_time(doc.get("time"), self.zone)
        product_time = stamp is not None  # the vault's own time (an integrity seal covers it), not the reading's
        if stamp is None:
            problems.append(f"no readable time (time: {doc.get('time')!r})")
            stamp = now_iso()
        ev["@timestamp"] = stamp

        request_id = doc.get("request_id")
        if isinstance(request_id, (str, int)) and not isinstance(request_id, bool) and str(request_id):
            ev["event"]["id"] = str(request_id)

        classify(ev, CATALOG.get((action.lower(),)) if action else None, has_action=action is not None)
        if action is None:
            problems.append("no operation")

        status = doc.get("status")
        outcome = OUTCOMES.get(status) if isinstance(status, str) else None
        if outcome is not None:
            ev["event"]["outcome"] = outcome  # what happened beats the catalogue's usual outcome
        if status == "error" and isinstance(doc.get("error"), str):
            ev["error"] = {"message": doc["error"]}

        actor = doc.get("actor")
        if isinstance(actor, str) and actor:
            ev["user"] = {"name": actor}
        ip = clean_ip(doc.get("client_ip"))
        if ip is not None:
            ev["source"] = {"ip": ip}
        add_related(ev, users=[actor] if isinstance(actor, str) and actor else [], ips=[ip] if ip else [])

        who = actor if isinstance(actor, str) and actor else "someone"
        what = action or "an unknown operation"
        where = f" on {doc['path']}" if isinstance(doc.get("path"), str) else ""
        ev["message"] = f"{who}: {what}{where}" + (f" ({status})" if isinstance(status, str) else "")

        ev[self.module] = doc  # the vault's own record, as written
        flag_problems(ev, problems, original_text(raw), product_time=product_time)
        return [ev]
