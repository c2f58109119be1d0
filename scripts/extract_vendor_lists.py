#!/usr/bin/env python3
"""Extracts the vendors' documented action lists the tests check the catalogues against
(tests/data/vendors/) from the vendors' documentation pages saved as text.

    .venv/bin/python scripts/extract_vendor_lists.py DOCS_DIR

DOCS_DIR holds each page saved as plain text (open it in a browser, select all, paste into a file;
one cell per line, as browsers copy tables). The file names and where to find the pages:

- datameer-useraction_log.txt: Datameer, "Logging User Actions",
  datameer.atlassian.net/wiki/spaces/DAS100/pages/19309592680/Logging+User+Actions (Datameer X 10;
  7.0: .../DAS70/pages/31963973128/Logging+User+Actions; www.datameer.com/documentation/current/Logging+User+Actions)
- posit_connect-audited_events.txt: Posit Connect Admin Guide, "Audited Events",
  docs.posit.co/connect/admin/auditing/events/
- azure_databricks-diagnostic_logs.txt: Azure Databricks, "Diagnostic log reference",
  learn.microsoft.com/azure/databricks/admin/account-settings/audit-logs
- cloudera_ai-user_events.txt: Cloudera AI, "Tracked User Events",
  docs.cloudera.com/machine-learning/1.5.4/site-administration/topics/ml-monitoring-tracked-events.html
- puppet_enterprise-activity_events.txt: Puppet Enterprise, "Event types reported by the activity service",
  help.puppet.com/pe/current/topics/activity_api_events.htm (earlier: puppet.com/docs/pe/2023.1/activity_api_events.html)

The pages themselves are not in the project (they are the vendors' documents); the extracted lists
are: names of actions and fields, with the page they came from in tests/data/vendors/PROVENANCE.md.
scripts/build_databricks_catalog.py reads the Databricks page itself to build the catalogue.
The readers below are independent of the parsers and of the catalogue builder on purpose: a page
read one way and a catalogue built another must agree (the tests).
"""
from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "data" / "vendors"


def datameer_rows(text: str) -> list[tuple[str, str, str, list[str]]]:
    """(action performed, action type, action, additional fields) for each row of the action table."""
    types = "FILESYSTEM|PERMISSION|JOB|WORKBOOK|AUTHENTICATION|USER_MANAGEMENT"
    row_re = re.compile(rf"^(?P<desc>.*?)(?P<type>{types})(?P<action>[A-Z_]+)(?P<fields>[a-z].*)?$")
    field_list = re.compile(r"^[a-z][a-z\-]*(,\s*[a-z][a-z\-]*)*,?$")
    start = text.index("Action performedLogged action type")
    end = text.index("Log4j appender configuration")
    rows: list[tuple[str, str, str, list[str]]] = []
    pending: list[str] = []
    for line in (l.strip() for l in text[start:end].splitlines()[1:]):
        if not line:
            continue
        m = row_re.match(line)
        if m:
            desc = " ".join(" ".join(pending + [m["desc"].strip()]).replace("\xa0", " ").split())
            fields = [f.strip() for f in (m["fields"] or "").split(",") if f.strip()]
            rows.append((desc, m["type"], m["action"], fields))
            pending = []
        elif field_list.match(line) and rows and not pending:
            rows[-1][3].extend(f.strip() for f in line.split(",") if f.strip())
        else:
            pending.append(line)
    return rows


def posit_connect_events(text: str) -> dict[str, list[str]]:
    """action → its documented fields: the name is the last single-word line before its description."""
    lines = [l.strip() for l in text.split("\n")]
    out: dict[str, list[str]] = {}
    for i, line in enumerate(lines):
        if line.startswith("Event logging fields:"):
            name = [l for l in lines[:i] if l][-2]
            if not re.fullmatch(r"[a-z_]+", name):
                raise SystemExit(f"posit_connect: {name!r} does not look like an action name: has the page changed?")
            out[name] = [f.strip() for f in line.split(":", 1)[1].split(",")]
    return out


DATABRICKS_SERVICES = {
    "accounts", "clusters", "clusterLibraries", "clusterPolicies", "dashboards", "databrickssql", "dbfs",
    "deltaPipelines", "featureStore", "filesystem", "genie", "gitCredentials", "globalInitScripts", "groups",
    "ingestion", "instancePools", "jobs", "mlflowAcledArtifact", "mlflowExperiment", "modelRegistry", "notebook",
    "remoteHistoryService", "repos", "secrets", "sqlPermissions", "ssh", "webTerminal", "workspace",
    "accountBillableUsage", "accountsAccessControl", "accountsManager", "unityCatalog"}


def databricks_pairs(text: str) -> set[tuple[str, str]]:
    """(service, action): in the page's tables a row starts with two lines holding one word each,
    `service |` then `action |`."""
    lines = text.split("\n")
    one = re.compile(r"^([A-Za-z][A-Za-z0-9]*) \|$")
    pairs = set()
    for a, b in zip(lines, lines[1:]):
        ma, mb = one.match(a), one.match(b)
        if ma and mb and ma.group(1) in DATABRICKS_SERVICES:
            pairs.add((ma.group(1), mb.group(1)))
    return pairs


def cloudera_ai_event_names(text: str) -> list[str]:
    """Event names: rows of tables 2-12 are '<name> <description or ->'."""
    names = []
    in_events = False
    for line in (l.strip() for l in text.splitlines()):
        if line.startswith("Table ") and "Events Related" in line:
            in_events = True
            continue
        if not in_events or not line or line.startswith(("Event Description", "•", "Table ")):
            continue
        m = re.match(r"^(.*?) (-|The logged event.*|If the logged event.*)$", line)
        if m:
            names.append(m.group(1))
        elif line == "site config updated The logged event indicates when a setting on the Admin Settings page is changed.":
            names.append("site config updated")
    return names


PUPPET_SECTIONS = ["user", "token", "group", "role", "orchestrator", "directory"]


def puppet_enterprise_rows(text: str) -> list[tuple[str, str]]:
    """(section, table line) for every row of the page's six tables."""
    rows: list[tuple[str, str]] = []
    block, inside = -1, False
    for line in text.splitlines():
        if line.strip() == "Event Description Example":
            block += 1
            inside = True
            continue
        if inside and (not line.strip() or line.startswith("The user page also")):
            inside = False
            continue
        if inside:
            rows.append((PUPPET_SECTIONS[block], line.strip()))
    if block != len(PUPPET_SECTIONS) - 1:
        raise SystemExit("puppet_enterprise: the page has a table this reader does not know")
    return rows


def _write(name: str, header: list[str], rows) -> None:
    with open(OUT / name, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    print(f"{OUT / name}: {len(rows)} rows")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    docs = Path(argv[1])

    def page(name: str) -> str:
        return (docs / name).read_text(encoding="utf-8")

    _write("datameer-actions.csv", ["action_performed", "action_type", "action", "additional_fields"],
           [(d, t, a, " ".join(f)) for d, t, a, f in datameer_rows(page("datameer-useraction_log.txt"))])
    _write("posit_connect-events.csv", ["action", "fields"],
           [(a, " ".join(f)) for a, f in posit_connect_events(page("posit_connect-audited_events.txt")).items()])
    _write("azure_databricks-actions.csv", ["service", "action"],
           sorted(databricks_pairs(page("azure_databricks-diagnostic_logs.txt"))))
    _write("cloudera_ai-events.csv", ["event_name"],
           [(n,) for n in cloudera_ai_event_names(page("cloudera_ai-user_events.txt"))])
    _write("puppet_enterprise-events.csv", ["section", "row"],
           puppet_enterprise_rows(page("puppet_enterprise-activity_events.txt")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
