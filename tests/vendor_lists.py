"""The vendors' documented action lists (tests/data/vendors/, extracted by scripts/extract_vendor_lists.py)."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
VENDORS = DATA / "vendors"
SAMPLES = DATA / "samples"


def _rows(name: str) -> list[dict[str, str]]:
    with open(VENDORS / name, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@dataclass
class DatameerAction:
    performed: str
    action_type: str
    action: str
    fields: list[str]


def datameer_actions() -> list[DatameerAction]:
    return [DatameerAction(r["action_performed"], r["action_type"], r["action"], r["additional_fields"].split())
            for r in _rows("datameer-actions.csv")]


def posit_connect_events() -> dict[str, list[str]]:
    """action → its documented fields."""
    return {r["action"]: r["fields"].split() for r in _rows("posit_connect-events.csv")}


def databricks_pairs() -> set[tuple[str, str]]:
    return {(r["service"], r["action"]) for r in _rows("azure_databricks-actions.csv")}


def cloudera_ai_event_names() -> list[str]:
    return [r["event_name"] for r in _rows("cloudera_ai-events.csv")]


def puppet_enterprise_rows() -> list[tuple[str, str]]:
    """(section, table row as the page words it)."""
    return [(r["section"], r["row"]) for r in _rows("puppet_enterprise-events.csv")]
