"""`shipper run --once` from a real file: nothing lost, nothing repeated across runs."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

pytestmark = pytest.mark.slow

SHIPPER = [sys.executable, "-m", "shipper.cli"]


def line(n: int) -> bytes:
    return orjson.dumps({"timestamp": "2026-01-02 03:04:05", "action-type": "FILESYSTEM", "action": "EDIT",
                         "performing-user": f"user{n}", "file-path": f"/f/{n}"})


def setup(tmp_path: Path) -> tuple[Path, Path]:
    log = tmp_path / "useraction.log"
    log.write_bytes(b"")
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
sources:
  - name: dm
    type: file
    paths: [{log}]
    parser: datameer
outputs:
  - type: stdout
""")
    return log, cfg


def run_once(cfg: Path) -> list[dict]:
    r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    return [orjson.loads(l) for l in r.stdout.splitlines()]


def users(events: list[dict]) -> list[str]:
    return [e["user"]["name"] for e in events if "user" in e]


def test_second_run_emits_nothing_and_appended_lines_exactly_once(tmp_path):
    log, cfg = setup(tmp_path)
    log.write_bytes(b"\n".join(line(i) for i in range(250)) + b"\n")
    first = run_once(cfg)
    assert users(first) == [f"user{i}" for i in range(250)]
    assert all(e["log"]["file"]["path"] == str(log) for e in first)
    assert run_once(cfg) == []
    with open(log, "ab") as f:
        f.write(b"\n".join(line(i) for i in range(250, 260)) + b"\n")
    assert users(run_once(cfg)) == [f"user{i}" for i in range(250, 260)]
    assert run_once(cfg) == []


def test_partial_last_line_waits_and_is_completed_once(tmp_path):
    log, cfg = setup(tmp_path)
    whole = line(1)
    log.write_bytes(line(0) + b"\n" + whole[:20])
    assert users(run_once(cfg)) == ["user0"]
    assert run_once(cfg) == []
    with open(log, "ab") as f:
        f.write(whole[20:] + b"\n")
    assert users(run_once(cfg)) == ["user1"]


def test_bad_lines_are_shipped_flagged_in_order(tmp_path):
    log, cfg = setup(tmp_path)
    log.write_bytes(line(0) + b"\n\xff\xfe not utf8\n" + b"{\"a\":\x00}\n" + line(1) + b"\n")
    events = run_once(cfg)
    assert len(events) == 4
    assert [("_parse_failure" in e.get("tags", [])) for e in events] == [False, True, True, False]
    # the bytes stay recoverable (\\xNN, Python's backslashreplace), never U+FFFD (docs/ecs-conventions.md)
    assert events[1]["event"]["original"] == "\\xff\\xfe not utf8"
    assert "_invalid_encoding" in events[1]["tags"] and "_invalid_encoding" not in events[2]["tags"]


def test_run_once_on_missing_file_exits_0_with_nothing(tmp_path):
    log, cfg = setup(tmp_path)
    log.unlink()
    assert run_once(cfg) == []
