"""Reads the action table out of Datameer's own documentation page (../shared/seeds/)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

TYPES = "FILESYSTEM|PERMISSION|JOB|WORKBOOK|AUTHENTICATION|USER_MANAGEMENT"
ROW = re.compile(rf"^(?P<desc>.*?)(?P<type>{TYPES})(?P<action>[A-Z_]+)(?P<fields>[a-z].*)?$")
FIELD_LIST = re.compile(r"^[a-z][a-z\-]*(,\s*[a-z][a-z\-]*)*,?$")


@dataclass
class SeedRow:
    performed: str
    action_type: str
    action: str
    fields: list[str]


def seed_rows(seed: Path) -> list[SeedRow]:
    text = seed.read_text(encoding="utf-8")
    start = text.index("Action performedLogged action type")
    end = text.index("Log4j appender configuration")
    lines = [l.strip() for l in text[start:end].splitlines()[1:]]
    rows: list[SeedRow] = []
    pending_desc: list[str] = []
    for line in lines:
        if not line:
            continue
        m = ROW.match(line)
        if m:
            desc = " ".join(pending_desc + [m["desc"].strip()]).strip()
            fields = [f.strip() for f in (m["fields"] or "").split(",") if f.strip()]
            rows.append(SeedRow(desc, m["type"], m["action"], fields))
            pending_desc = []
        elif FIELD_LIST.match(line) and rows and not pending_desc:
            rows[-1].fields += [f.strip() for f in line.split(",") if f.strip()]
        else:
            pending_desc.append(line)
    return rows
