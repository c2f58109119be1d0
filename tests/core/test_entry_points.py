"""shipper.entry_points reads the distributions' entry points from the folders on sys.path as
importlib.metadata.entry_points() finds them (without its imports): the same entry points, of the same
distributions, the first of a name on sys.path kept."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _dist(site: Path, folder: str, name: str, version: str, entry_points: str) -> None:
    info = site / folder
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(entry_points)


COMPARE = """
import json
from importlib.metadata import entry_points
from shipper import entry_points as ours
every = entry_points()
theirs = sorted((ep.group, ep.name, ep.value, ep.dist.name, ep.dist.version)
                for group in every.groups for ep in every.select(group=group))
fast = sorted((ep.group, ep.name, ep.value, ep.dist.name, ep.dist.version) for ep in ours.installed())
ours._needs_importlib_metadata = lambda: True
asked = sorted((ep.group, ep.name, ep.value, ep.dist.name, ep.dist.version) for ep in ours.installed())
print(json.dumps([theirs, fast, asked]))
"""


def test_the_entry_points_read_are_importlib_metadatas(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    _dist(first, "Acme.Plugins-1.0.dist-info", "Acme.Plugins", "1.0",
          "# a comment\n[shipper.parsers]\nacme = acme_plugins.parser:AcmeParser\n\n[shipper.outputs]\n"
          "acme_out=acme_plugins:Out [extra]\n")
    _dist(second, "acme_plugins-0.9.dist-info", "acme-plugins", "0.9",  # the same name, later on the path: hidden
          "[shipper.parsers]\nold = acme_plugins:Old\n")
    _dist(second, "legacy-2.0.egg-info", "legacy", "2.0", "[shipper.sources]\nlegacy = legacy:Source\n")
    _dist(second, "no_entry_points-1.0.dist-info", "no-entry-points", "1.0", "")
    (second / "no_entry_points-1.0.dist-info" / "entry_points.txt").unlink()
    env = {**os.environ, "PYTHONPATH": f"{first}:{second}:{REPO}"}
    out = subprocess.run([sys.executable, "-c", COMPARE], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=120, check=True)
    theirs, fast, asked = json.loads(out.stdout.strip().splitlines()[-1])
    assert ["shipper.parsers", "acme", "acme_plugins.parser:AcmeParser", "Acme.Plugins", "1.0"] in theirs
    assert ["shipper.sources", "legacy", "legacy:Source", "legacy", "2.0"] in theirs
    assert not [ep for ep in theirs if ep[1] == "old"]
    assert fast == theirs
    assert asked == theirs
