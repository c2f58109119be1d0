#!/usr/bin/env python3
"""Builds plugins/parsers/databricks_actions.csv from the vendor's diagnostic log reference.

    python scripts/build_databricks_catalog.py PAGE [OUT]

PAGE is Azure Databricks' "Diagnostic log reference" saved as text (open
learn.microsoft.com/azure/databricks/admin/account-settings/audit-logs in a browser, select all, paste
into a file: tables come one cell per line); it is the vendor's document and not in the project. OUT
defaults to plugins/parsers/databricks_actions.csv. Re-run it when the page changes, and re-extract
tests/data/vendors/ (scripts/extract_vendor_lists.py). The tests (tests/parsers/test_databricks.py) prove every
(service, action) pair of the page is in the CSV, that the CSV's classification is what these rules
give, and that every category/type pair is one ECS 9.4 expects.

The page's tables come as text with one cell per line, each ending in '|': `service |`, `action |`,
`description | request parameters |`. A table starts after `---|---|---|---|` and ends at the first
line that does not end in '|'. The pairs listed only in prose (legacy SQL endpoint names, deprecated
alert destinations) are added too, marked by `source`.

Categorisation (ECS categorisation guide, docs/research/ecs.md §3): the *activity* comes from the verb of
the action name (createX → creation, getX → access, runX → start …), the *category* from what the
action acts on: identity, permissions and tokens → iam (with the object `user`/`group`/`admin` as a
second type, per ECS' IAM rule); logins → authentication; files, notebooks, DBFS, Git folders → file;
runs, commands, pipelines → process; clusters → host; libraries → package; Unity Catalog securables,
feature tables and SQL query executions → database; everything else (workspace objects and settings)
→ configuration. When ECS does not expect the activity for that category (database + creation, say),
the category falls back to the one ECS does expect it for (configuration for creation/deletion,
process for start/end). A few actions the verb rule gets wrong are listed in OVERRIDES, each with why.
"""
from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "plugins" / "parsers" / "databricks_actions.csv"

# Expected event.type per event.category (ecs_flat.yml 9.4.0, `expected_event_types`).
EXPECTED = {
    "api": {"access", "admin", "allowed", "change", "creation", "deletion", "denied", "end", "info", "start", "user"},
    "authentication": {"start", "end", "info"},
    "configuration": {"access", "change", "creation", "deletion", "info"},
    "database": {"access", "change", "info", "error"},
    "file": {"access", "change", "creation", "deletion", "info"},
    "host": {"access", "change", "end", "info", "start"},
    "iam": {"admin", "change", "creation", "deletion", "group", "info", "user"},
    "network": {"access", "allowed", "connection", "denied", "end", "info", "protocol", "start"},
    "package": {"access", "change", "deletion", "info", "installation", "start"},
    "process": {"access", "change", "end", "info", "start"},
    "session": {"start", "end", "info"},
}

# Verb (a word of the camelCase action name; the first one found wins) → activity (event.type).
VERBS = {
    "creation": "create add generate mint import clone fork duplicate mkdirs upload take snapshot register",
    "deletion": "delete remove trash purge revoke uninstall unmount drop garbage",
    "change": ("update edit change set rename move reset restore transfer grant deny approve reject publish "
               "unpublish migrate activate deactivate mute unmute favorite unfavorite resize attach detach "
               "checkout commit discard pull reattach unmark transition rotate put write mount validate "
               "repair finalize assign"),
    "access": "get list read download export search show head fetch open query queried preview",
    "start": "start restart run execute submit trigger login authentication authorization test",
    "end": "stop cancel close finish logout",
    "info": "reach exceeded failed failure",
    "denied": "denied",
    "installation": "install",
}
VERB = {w: act for act, words in VERBS.items() for w in words.split()}

AUTH_WORDS = {"login", "logout", "authentication", "authorization"}
IAM_SERVICES = {"accounts", "groups", "accountsAccessControl", "sqlPermissions"}
IAM_WORDS = {"acl", "acls", "permission", "permissions", "owner", "ownership", "admin", "principal",
             "principals", "role", "token", "credential", "credentials"}
CREDENTIAL_WORDS = {"token", "credential", "credentials"}  # a user's own (personal tokens, Git credentials)
USER_WORDS = {"user", "admin", "principal", "principals", "email"}
SERVICE_CATEGORY = {
    "clusters": "host", "clusterLibraries": "package", "dbfs": "file", "filesystem": "file",
    "ingestion": "file", "mlflowAcledArtifact": "file", "notebook": "file", "repos": "file",
    "jobs": "process", "deltaPipelines": "process", "webTerminal": "session", "ssh": "session",
    "unityCatalog": "database", "featureStore": "database",
}
FALLBACK = {"creation": "configuration", "deletion": "configuration", "start": "process", "end": "process",
            "access": "configuration", "change": "configuration", "info": "configuration",
            "denied": "network", "installation": "package"}

# (service, action) → (categories, types, why). Only where the verb rule is wrong.
OVERRIDES = {
    ("accounts", "add"): ("iam", "user|creation", "a user is added to the workspace"),
    ("accounts", "delete"): ("iam", "user|deletion", "a user is deleted from the workspace"),
    ("accounts", "IpAccessDenied"): ("network", "denied", "a connection refused by an IP access list"),
    ("accounts", "accountIpAclsValidationFailed"): ("iam", "admin|info", "IP access list rejected as invalid"),
    ("accounts", "ipAccessListQuotaExceeded"): ("iam", "admin|info", "a quota notice, no change"),
    ("accounts", "validateEmail"): ("iam", "user|change", "the user's e-mail becomes verified"),
    ("accounts", "passwordVerifyAuthentication"): ("authentication", "start", "a password login"),
    ("clusters", "delete"): ("host", "end", "documented as: a cluster is terminated"),
    ("clusters", "deleteResult"): ("host", "end", "result of a termination"),
    ("clusters", "permanentDelete"): ("configuration", "deletion", "the cluster definition is deleted"),
    ("dbfs", "addBlock"): ("file", "change", "appends a block to a file being written"),
    ("dbfs", "put"): ("file", "creation", "uploads a file"),
    ("dbfs", "create"): ("file", "creation", "opens a stream to write a new file"),
    ("dbfs", "mount"): ("file", "creation", "creates a mount point"),
    ("dbfs", "unmount"): ("file", "deletion", "removes a mount point"),
    ("genie", "databricksAccess"): ("session", "start", "support personnel access a workspace"),
    ("jobs", "runFailed"): ("process", "end", "a run ended (failed)"),
    ("jobs", "runSucceeded"): ("process", "end", "a run ended (succeeded)"),
    ("jobs", "sendRunWebhook"): ("process", "info", "a notification about a run"),
    ("jobs", "setTaskValue"): ("process", "change", "a task value is set during a run"),
    ("databrickssql", "commandFinish"): ("database", "info", "a SQL command completed"),
    ("databrickssql", "cancelQueryExecution"): ("process", "end", "a running query is cancelled"),
    ("modelRegistry", "finishCreateModelVersionAsync"): ("configuration", "creation", "model version creation completes"),
    ("modelRegistry", "createTransitionRequest"): ("configuration", "creation", "a stage transition request is created"),
    ("modelRegistry", "testRegistryWebhook"): ("configuration", "info", "a webhook test call"),
    ("modelRegistry", "triggerRegistryWebhook"): ("configuration", "info", "a webhook fires"),
    ("notebook", "runCommand"): ("process", "start", "a notebook command runs"),
    ("sqlPermissions", "requestPermissions"): ("iam", "admin|info", "a request, no change yet"),
    ("sqlPermissions", "createSecurable"): ("configuration", "creation", "a table/view is created"),
    ("sqlPermissions", "renameSecurable"): ("configuration", "change", "a table/view is renamed"),
    ("unityCatalog", "deleteResourceFailure"): ("configuration", "info", "a failed deletion, no change"),
    ("unityCatalog", "metadataSnapshot"): ("database", "access", "reads catalogue metadata"),
    ("unityCatalog", "metadataAndPermissionsSnapshot"): ("database", "access", "reads metadata and grants"),
    ("unityCatalog", "updateMetadataSnapshot"): ("database", "access", "reads updated metadata"),
    ("workspace", "workspaceInHouseOAuthClientAuthentication"): ("authentication", "start", "an OAuth client logs in"),
    ("workspace", "fileEditorOpenEvent"): ("file", "access", "a file is opened in the editor"),
    # docs/ecs-conventions.md: a job's or pipeline's definition is configuration, whatever the verb
    ("jobs", "update"): ("configuration", "change", "a job's settings are changed (its runs are process)"),
    ("jobs", "reset"): ("configuration", "change", "a job's settings are replaced (its runs are process)"),
    ("deltaPipelines", "edit"): ("configuration", "change", "a pipeline's settings are changed"),
    # docs/ecs-conventions.md: tokens and credentials are the user's (iam user), a sharing recipient's are admin
    ("accounts", "reachMaxQuotaDbToken"): ("iam", "user|info", "a quota notice, no change"),
    ("accounts", "garbageCollectDbToken"): ("iam", "user|deletion", "expired tokens are removed"),
    ("workspace", "mintOAuthToken"): ("iam", "user|creation", "an OAuth token is issued"),
    ("workspace", "mintOAuthAuthorizationCode"): ("iam", "user|creation", "an OAuth code is issued"),
    ("unityCatalog", "rotateRecipientToken"): ("iam", "admin|change", "a Delta Sharing recipient's token"),
    ("unityCatalog", "getForeignCredentials"): ("iam", "admin|info", "a connection's credentials are read"),
    # the vendor's record of who accessed a table, path, volume or model: the data is read
    ("unityCatalog", "generateTemporaryTableCredential"): ("database", "access", "who reads a table"),
    ("unityCatalog", "generateTemporaryPathCredential"): ("database", "access", "who reads a path"),
    ("unityCatalog", "generateTemporaryVolumeCredential"): ("database", "access", "who reads a volume"),
    ("unityCatalog", "generateTemporaryModelVersionCredential"): ("database", "access", "who reads a model version"),
}

# The action's own result, which beats the response's HTTP status (docs/ecs-conventions.md, outcome order).
OUTCOMES = {
    ("accounts", "IpAccessDenied"): "failure",
    ("accounts", "accountIpAclsValidationFailed"): "failure",
    ("unityCatalog", "deleteResourceFailure"): "failure",
    ("jobs", "runFailed"): "failure",
    ("jobs", "runSucceeded"): "success",
}

_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


def words_of(action: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(action)]


def classify(service: str, action: str) -> tuple[str, str, str]:
    """(categories, types, rule) for one pair; categories/types joined by '|'."""
    if (service, action) in OVERRIDES:
        cat, typ, why = OVERRIDES[(service, action)]
        return cat, typ, f"override: {why}"
    words = words_of(action)
    if words and words[-1] == "result":  # clusters' createResult etc.: the outcome of the base action
        words = words[:-1]
    wset = set(words)
    # moveQueryToTrash is a soft delete like trashDashboard
    activity = "deletion" if "trash" in wset else next((VERB[w] for w in words if w in VERB), "info")
    if wset & AUTH_WORDS:
        if service == "ssh":
            return "authentication|session", activity, "ssh login/logout"
        return "authentication", activity, "login/logout verb"
    if service in IAM_SERVICES or wset & IAM_WORDS and not (service == "unityCatalog" and "storage" in wset):
        if "setting" in wset:
            return "configuration", activity, "account/workspace setting"
        if activity == "access" or activity not in EXPECTED["iam"]:
            activity = "info"
        if {"principal", "principals"} & wset and wset & {"group", "groups"}:
            obj = "group"  # membership: the group changes, the member stays (docs/ecs-conventions.md)
        elif service in IAM_SERVICES and wset & USER_WORDS and activity != "info" or {"principal", "principals"} & wset:
            obj = "user"
        elif wset & {"group", "groups"}:
            obj = "group"
        elif wset & {"acl", "acls", "permission", "permissions", "owner", "ownership", "rule", "role", "ip"}:
            obj = "admin"
        elif wset & CREDENTIAL_WORDS:
            obj = "user"
        else:
            obj = "admin"  # ECS: an iam event names its object; neither a user nor a group is administration
        if obj in ("user", "group") and activity in ("creation", "deletion") and (
            {"principal", "principals"} & wset or (wset & {"admin"})
        ):
            activity = "change"  # membership or a role is added/removed: the user itself stays
        if activity == "info":
            return "iam", f"{obj}|info", "iam read"
        return "iam", "|".join(x for x in (obj, activity) if x), "iam: identity, permission or token"
    cat = SERVICE_CATEGORY.get(service, "configuration")
    rule = f"service {service} → {cat}"
    if service == "workspace" and wset & {"file", "node", "nodes", "folder", "export"}:
        cat, rule = "file", "workspace files"
    if service == "databrickssql" and (wset & {"execute", "command"} or action == "downloadQueryResult"):
        cat, rule = "database", "SQL query execution reads the database"
        if activity == "start":
            activity = "access"
    if activity not in EXPECTED[cat]:
        cat = FALLBACK[activity]
        rule += f", {activity} not expected → {cat}"
    return cat, activity, rule


def seed_rows(text: str) -> list[dict]:
    lines = text.split("\n")
    rows: list[dict] = []
    section = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("---|---|---|---|"):
            i += 1
            buf = []
            while i < len(lines) and lines[i].rstrip().endswith("|"):
                buf.append(lines[i])
                i += 1
            cells = [c.strip() for c in " ".join(buf).split("|")][:-1]
            if len(cells) % 4 == 3:  # the page's last row lacks its empty last cell
                cells.append("")
            if len(cells) % 4:
                raise SystemExit(f"table before line {i + 1}: {len(cells)} cells, not rows of 4")
            for k in range(0, len(cells), 4):
                service, action, desc, params = cells[k : k + 4]
                if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", service) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", action):
                    raise SystemExit(f"unexpected service/action cells {service!r} {action!r} near line {i + 1}")
                if params and not desc.strip():
                    desc = ""
                rows.append({"service": service, "action": action, "section": section,
                             "description": desc, "source": "table"})
            continue
        if line.strip() and not line.endswith("|") and line[0].isupper() and line.strip().endswith("events"):
            section = line.strip()
        i += 1
    # Pairs named only in prose.
    m = re.search(r"The SQL endpoint events are:\n((?:[a-zA-Z]+\n?)+)", text)
    for action in (m.group(1).split() if m else []):
        rows.append({"service": "databrickssql", "action": action, "section": "SQL endpoint logs",
                     "description": "legacy SQL endpoint name of the matching Warehouse event", "source": "prose"})
    for action in re.findall(r"^\)?(\w+AlertDestination)$", text, re.M):
        rows.append({"service": "databrickssql", "action": action, "section": "Deprecated log events",
                     "description": "deprecated; now the NotificationDestination event", "source": "prose"})
    return rows


def build(seed: Path, out: Path) -> int:
    return write(seed_rows(seed.read_text(encoding="utf-8")), out)


def write(rows: list[dict], out: Path) -> int:
    """The catalogue of the page's rows (service, action, section, description, source), classified."""
    seen: set[tuple[str, str]] = set()
    with open(out, "w", newline="", encoding="utf-8") as f:
        f.write("# Azure Databricks diagnostic-log action catalogue. GENERATED by scripts/build_databricks_catalog.py\n"
                "# from the vendor's \"Diagnostic log reference\" page (the script says where to find it).\n"
                "# Do not edit by hand: change the rules in the script and re-run it. category/type: ECS 9.4, joined by '|'.\n")
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["service", "action", "category", "type", "outcome", "source", "section", "rule", "description"])
        for r in rows:
            key = (r["service"], r["action"])
            if key in seen:
                continue  # documented twice (workspace- and account-level tables)
            seen.add(key)
            cat, typ, rule = classify(*key)
            outcome = OUTCOMES.get(key, "")
            w.writerow([r["service"], r["action"], cat, typ, outcome, r["source"], r["section"], rule,
                        " ".join(r["description"].split())])
    return len(seen)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else OUT
    n = build(Path(sys.argv[1]), out)
    print(f"{out}: {n} (service, action) pairs")
