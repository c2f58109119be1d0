#!/usr/bin/env python3
"""The Cloudera AI parser on rows with huge fields: CPU seconds per MB of description, for texts of 1, 4 and
16 MB of several shapes (letters, words, whitespace runs, dense `key: value` pairs, JSON, a huge user_agent).
Linear parsing shows as a flat seconds-per-MB column; a quadratic one as a column growing with size.

    .venv/bin/python bench/parsers_cloudera_ai_huge_fields.py [--sizes 1,4,16]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from shipper_plugins.parsers.cloudera_ai import ClouderaAIParser  # noqa: E402

MB = 1_000_000
SHAPES = {
    "letters": lambda n: "a" * n,
    "words": lambda n: ("word " * (n // 5 + 1))[:n],
    "space-run": lambda n: "a" + " " * (n - 3) + ":x",
    "pairs": lambda n: ("username: alice, user type: NORMAL; " * (n // 36 + 1))[:n],
    "json": lambda n: orjson.dumps({"username": "alice", "note": "x" * (n - 40)}).decode(),
    "NORMAL/LDAP": lambda n: ("NORMAL LDAP " * (n // 12 + 1))[:n],
}


def row(description: str, user_agent: str = "curl/8") -> bytes:
    return orjson.dumps({"id": 1, "user_id": None, "ipaddr": "10.0.0.1", "user_agent": user_agent,
                         "event_name": "user login", "description": description,
                         "created_at": "2024-03-01T12:00:00"})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,4,16", help="description sizes in MB")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    parser = ClouderaAIParser()
    print(f"{'shape':12} " + " ".join(f"{s:>5} MB s/MB" for s in sizes))
    for name, make in [*SHAPES.items(), ("user_agent", None)]:
        cells = []
        for size in sizes:
            raw = row("d", "Mozilla/5.0 " * (size * MB // 12)) if make is None else row(make(size * MB))
            start = time.process_time()
            parser.parse(raw)
            cells.append((time.process_time() - start) / size)
        print(f"{name:12} " + " ".join(f"{c:>13.4f}" for c in cells))


if __name__ == "__main__":
    main()
