"""Azure Databricks records in every shape the parser reads, one per catalogue entry: written by the parser's
tests (tests/parsers/test_databricks.py) and bench/corpus.py, which runs in the bench's venv (no pytest).
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[2]
CSV_PATH = REPO / "plugins" / "parsers" / "databricks_actions.csv"


def catalogue_rows() -> list[dict]:
    with open(CSV_PATH, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


ROWS = catalogue_rows()


SHAPES = ("diagnostic", "diagnostic_strings", "eventhub", "log_analytics", "audit_delivery", "system_table")


def make_record(service: str, action: str, shape: str, *, n: int = 0, status: int | str = 200,
                email: str = "ada@example.com", ip: str | None = "10.1.2.3:0",
                params: dict | None = None, error: str | None = None) -> tuple[bytes, dict]:
    """A raw line in the given shape, and what the event must say."""
    log_id = f"5b3f2f1e-0000-4000-8000-{n:012d}"
    params = params if params is not None else {"name": f"obj-{n}", "nested": '{"a":1}'}
    resp = {"statusCode": status, "result": '{"ok":true}'}
    if error:
        resp["errorMessage"] = error
    ident = {"email": email, "subjectName": None}
    if shape in ("diagnostic", "diagnostic_strings", "eventhub"):
        strings = shape == "diagnostic_strings"
        rec = {
            "resourceId": "/SUBSCRIPTIONS/SUB-1/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.DATABRICKS/WORKSPACES/WS",
            "operationVersion": "1.0.0",
            "identity": json.dumps(ident) if strings else ident,
            "operationName": f"Microsoft.Databricks/{service}/{action}",
            "time": "2025-05-15T15:58:35Z",
            "category": service,
            "properties": {
                "sourceIPAddress": ip, "logId": log_id, "serviceName": service, "userAgent": "agent/1.0",
                "response": json.dumps(resp) if strings else resp, "sessionId": None, "actionName": action,
                "requestId": "req-shared-by-request-and-response",
                "requestParams": json.dumps(params) if strings else params,
            },
            "Host": "0515-010532-node",
        }
        raw = orjson.dumps({"records": [rec]} if shape == "eventhub" else rec)
        iso = "2025-05-15T15:58:35.000Z"
    elif shape == "log_analytics":
        rec = {
            "TenantId": "t", "SourceSystem": "|Databricks|", "TimeGenerated": "2019-05-01T00:18:58.1234567Z",
            "ResourceId": "/SUBSCRIPTIONS/SUB-1/RESOURCEGROUPS/RG", "OperationName": f"Microsoft.Databricks/{service}/{action}",
            "OperationVersion": "1.0.0", "Category": service, "Identity": json.dumps(ident),
            "SourceIpAddress": ip, "LogId": log_id, "ServiceName": service, "UserAgent": "agent/1.0",
            "SessionId": "s-1", "ActionName": action, "RequestId": "r-1", "Response": json.dumps(resp),
            "RequestParams": json.dumps(params), "Type": "DatabricksWorkspaceLogs",
        }
        raw = orjson.dumps(rec)
        iso = "2019-05-01T00:18:58.123Z"
    elif shape == "audit_delivery":
        rec = {
            "version": "2.0", "auditLevel": "WORKSPACE_LEVEL", "timestamp": 1700000000123, "workspaceId": 42,
            "accountId": "acc-1", "sourceIPAddress": ip, "userAgent": "agent/1.0", "sessionId": None,
            "userIdentity": ident, "serviceName": service, "actionName": action, "requestId": "r-1",
            "requestParams": params, "response": resp,
        }
        raw = orjson.dumps(rec)
        iso = "2023-11-14T22:13:20.123Z"
        log_id = None  # native delivery carries no logId
    else:  # system_table
        sresp = {"status_code": str(status), "error_message": error, "result": None}
        rec = {
            "account_id": "acc-1", "action_name": action, "audit_level": "WORKSPACE_LEVEL", "event_date": "2025-10-23",
            "event_id": log_id, "event_time": "2025-10-23T09:11:56.509Z",
            "identity_metadata": json.dumps({"run_by": None, "run_as": None, "acting_resource": None}),
            "request_id": "r-1", "request_params": json.dumps(params), "response": json.dumps(sresp),
            "service_name": service, "session_id": None, "source_ip_address": ip, "user_agent": "agent/1.0",
            "user_identity": json.dumps({"email": email, "subject_name": None}), "version": "2.0",
            "workspace_id": "4150696479394378",
        }
        raw = orjson.dumps(rec)
        iso = "2025-10-23T09:11:56.509Z"
    return raw, {"id": log_id, "iso": iso, "rec": rec}
