"""A Posit Connect audit log whose `entry_id`s are used again (its database restored from a backup, the
numbering going on from an earlier id), shipped to a strict Elasticsearch peer by `shipper run --once`:
what the attacks on reused vendor ids share (tests/e2e/test_attack5_vendor_ids_reused.py,
tests/outputs/test_attack6_*_reused_ids.py, tests/outputs/test_attack6_filtered_source_replay_repeats.py)."""
from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.peers.bulk_server import BulkServer

SHIPPER = [sys.executable, "-m", "shipper.cli"]
AUDIT_LOG = "rstudio-connect.audit.json"


def entry(entry_id: int, who: str, day: int = 1) -> str:
    """One audit line: `who` logged in, the product's `entry_id`, on 2026-11-0`day`."""
    return json.dumps({
        "time": f"2026-11-0{day}T07:30:{entry_id:02d}.000Z", "level": "info", "msg": f"User {who} logged in",
        "action": "user_login", "actor_description": f"{who} ({who})", "actor_guid": f"guid-{who}", "actor_id": 4,
        "actor_role": "administrator", "entry_id": entry_id, "type": "audit", "user_guid": f"guid-{who}",
        "user_id": 4, "user_role": "administrator"}) + "\n"


def before_restore() -> list[str]:
    """alice's entries 1-10, on day 1."""
    return [entry(i, "alice") for i in range(1, 11)]


def after_restore() -> list[str]:
    """The database restored from a backup taken at entry 4: mallory's entries number from 5 again (day 3)."""
    return [entry(i, "mallory", day=3) for i in range(5, 15)]


def run_once(tmp_path: Path, es: BulkServer, state: str) -> subprocess.CompletedProcess:
    """`shipper run --once` of tmp_path/AUDIT_LOG to `es`, its checkpoints in tmp_path/`state`."""
    cfg = tmp_path / f"{state}.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / state}
sources:
  - {{name: posit, type: file, paths: ['{tmp_path / AUDIT_LOG}'], parser: posit_connect}}
outputs:
  - {{type: elasticsearch, name: es, hosts: ['{es.url}'], index: 'audit-posit', backoff_base: 0.05}}
""")
    return subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, text=True, timeout=300)


@contextmanager
def es_after_first_run(tmp_path: Path) -> Iterator[BulkServer]:
    """A strict Elasticsearch 9 peer holding the 10 events of a first `run_once` of alice's entries (checkpoints
    in tmp_path/state); stopped when the block ends."""
    (tmp_path / AUDIT_LOG).write_text("".join(before_restore()))
    es = BulkServer(flavour="es9").start()
    try:
        first = run_once(tmp_path, es, "state")
        assert first.returncode == 0 and len(es.docs) == 10, first.stderr[-2000:]
        yield es
    finally:
        es.stop()
