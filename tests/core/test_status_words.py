"""`shipper status` in plain words: no internal checkpoint keys, one wording for a daemon it cannot ask."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _status(tmp_path: Path, http: str) -> str:
    log = tmp_path / "app.log"
    log.write_text('{"a": 1}\n')
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"state_dir: {tmp_path}/state\n{http}"
                   f"sources:\n  - {{name: app, type: file, parser: json, paths: [{tmp_path}/*.log]}}\n"
                   "outputs:\n  - {type: stdout}\n")
    r = subprocess.run([sys.executable, "-m", "shipper.cli", "run", "--once", "-c", str(cfg)], capture_output=True,
                       cwd=str(REPO), timeout=120)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "shipper.cli", "status", "-c", str(cfg)], capture_output=True,
                       text=True, cwd=str(REPO), timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_no_internal_keys_and_one_wording(tmp_path):
    from tests.e2e.test_daemon import free_port

    port = free_port()
    with_http = _status(tmp_path, f'http: {{listen: "127.0.0.1:{port}"}}\n')
    without = _status(tmp_path, "")
    for out in (with_http, without):
        assert "seen:" not in out, out
        assert "last success: unknown (daemon not reachable)" in out, out
        assert "not asked" not in out
    assert f"daemon: not reachable at 127.0.0.1:{port} (stopped?)" in with_http
    assert "daemon: not reachable (no http endpoint in the config)" in without


def test_other_saved_positions_in_words():
    """Each source says what its saved keys mean: the file source counts its `seen:` marks; any
    other source's keys show with their values."""
    from shipper import registry
    from shipper.status import render

    file_state = {"seen:/var/log/a.log": 1, "seen:/var/log/b.log": 1}
    pg_state = {"cursor": {"last_id": 42, "gaps": []}}
    notes = registry.load("source", "file").saved_notes(file_state) + registry.load("source", "postgres").saved_notes(pg_state)
    doc = {"config": "c.yaml", "state_dir": "/s",
           "daemon": {"endpoint": None, "reachable": False, "pid": None},
           "sources": [{"name": "pg", "type": "postgres", "parser": "json", "tag": "audit.pg", "follows": None,
                        "files": [], "other_keys": ["cursor", "seen:/var/log/a.log", "seen:/var/log/b.log"],
                        "saved_notes": notes, "last_ack": None,
                        "in_flight_batches": None, "running": None, "error": None}],
           "outputs": []}
    lines = render(doc, now=0)
    assert '  saved position (cursor): {"last_id":42,"gaps":[]}' in lines
    assert "  2 followed paths already looked through (read_from applies only to what was never seen)" in lines
    assert not any("seen:" in line for line in lines)


def test_status_says_where_saved_positions_come_from_and_how_old(tmp_path):
    """Stopped: the database. Running: the agent's snapshot, with its age, and a word when it is late
    (the agent's writes wait: a frozen filesystem); none to show: why."""
    from shipper.status import render

    without = _status(tmp_path, "")
    assert "saved positions: from the checkpoint database" in without, without

    def saved_line(saved: dict) -> str:
        doc = {"config": "c.yaml", "state_dir": "/s", "saved": saved, "sources": [], "outputs": [],
               "daemon": {"endpoint": None, "reachable": False, "pid": None, "holds_checkpoints": "41"}}
        (line,) = [x for x in render(doc, now=1000.0) if x.startswith("saved positions:")]
        return line

    fresh = saved_line({"from": "snapshot", "written": 997.0})
    assert fresh.startswith("saved positions: from the running agent's snapshot, written 3s ago (every 5s"), fresh
    assert "older than it should be" not in fresh
    late = saved_line({"from": "snapshot", "written": 880.0})
    assert "written 2m ago (older than it should be: is the state_dir's filesystem frozen" in late, late
    # the database written well after the snapshot and no snapshot since: late; not written since: idle, not late
    assert "older than it should be" in saved_line({"from": "snapshot", "written": 880.0, "db_written": 990.0})
    idle = saved_line({"from": "snapshot", "written": 880.0, "db_written": 879.5})
    assert "written 2m ago" in idle and "older than it should be" not in idle, idle
    none = saved_line({"from": None, "why": "it has written no snapshot of them yet"})
    assert none == "saved positions: cannot be shown while the agent runs: it has written no snapshot of them yet"
