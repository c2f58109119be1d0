"""The README's demo: every product's sample logs come out as valid ECS, once."""
from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[2]
NAMESPACES = ("datameer", "posit_connect", "databricks", "cloudera_ai", "puppet_enterprise")


def run_demo(config_dir: Path) -> list[dict]:
    r = subprocess.run([sys.executable, "-m", "shipper.cli", "run", "--once", "-c", str(config_dir / "demo.yaml")],
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    return [orjson.loads(l) for l in r.stdout.splitlines()]


def test_demo_ships_every_product_as_valid_ecs_once(tmp_path, ecs):
    config_dir = tmp_path / "config"
    shutil.copytree(REPO / "config", config_dir)
    events = run_demo(config_dir)
    modules = Counter(e["event"]["module"] for e in events)
    assert set(modules) == set(NAMESPACES), modules
    for e in events:
        assert ecs.check(e, NAMESPACES) == [], e
    failures = [e for e in events if "_parse_failure" in e.get("tags", [])]
    # The two lines the samples README says are deliberately broken, and nothing else.
    assert sorted(e["event"]["module"] for e in failures) == ["datameer", "posit_connect"]
    assert all(e["event"]["original"] and e["error"]["message"] for e in failures)
    assert [e["event"]["action"] for e in events if "_unmapped_action" in e.get("tags", [])] == ["accounts.brandNewAction"]
    assert run_demo(config_dir) == [], "a second run ships nothing: the checkpoints say all was delivered"
