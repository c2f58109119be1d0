"""A plugin distribution installed for a test the way pip leaves one, seen by the shipper processes it starts."""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def installed(tmp_path: Path, module: str, source: str, version: str, entry_points: str) -> dict[str, str]:
    """A distribution (named as the module, with dashes) installed the way pip leaves one: a dist-info
    with its entry points beside the module. The environment of shipper processes that see it."""
    site = tmp_path / "site"
    site.mkdir()
    (site / f"{module}.py").write_text(source)
    info = site / f"{module}-{version}.dist-info"
    info.mkdir()
    name = module.replace("_", "-")
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(entry_points)
    return {**os.environ, "PYTHONPATH": f"{site}:{REPO}"}
