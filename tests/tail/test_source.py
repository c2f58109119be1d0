"""The `file` source through the real pipeline: `shipper run --once` and `shipper check`."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # (tens of seconds: `make test` hands it out with the slow files, early)


def run(args, cfg):
    return subprocess.run([sys.executable, "-m", "shipper.cli", *args, "-c", str(cfg)], capture_output=True,
                          timeout=120)


def test_once_ships_rotated_backups_flags_cut_lines_and_checks(tmp_path, assert_ecs):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "app.log").write_text('{"seq":1}\n')
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path}/state
sources:
  - name: app
    type: file
    paths: ["{logs}/*.log"]
    exclude: ["skip*"]
    parser: json
    max_line_bytes: 64
    encoding: latin-1
outputs:
  - type: stdout
""")
    (logs / "skip.log").write_text('{"seq":99}\n')
    res = run(["run", "--once"], cfg)
    assert res.returncode == 0, res.stderr.decode()
    first = [json.loads(x) for x in res.stdout.splitlines()]
    assert [e["generic"]["seq"] for e in first] == [1]
    assert first[0]["log"]["file"]["path"] == str(logs / "app.log")
    assert_ecs(first[0], "generic")
    # rotated while stopped; a long line; a latin-1 byte
    (logs / "app.log").rename(logs / "app.log.1")
    with open(logs / "app.log.1", "ab") as f:
        f.write(b'{"seq":2}\n')
    (logs / "app.log").write_bytes(b'{"seq":3,"name":"J\xfcrgen"}\n{"seq":4,"pad":"' + b"x" * 100 + b'"}\n')
    res = run(["run", "--once"], cfg)
    assert res.returncode == 0, res.stderr.decode()
    events = [json.loads(x) for x in res.stdout.splitlines()]
    good = [e for e in events if "generic" in e]
    assert [e["generic"]["seq"] for e in good] == [2, 3]
    assert good[1]["generic"]["name"] == "Jürgen"
    cut = [e for e in events if "_line_truncated" in e.get("tags", [])]
    assert len(cut) == 2 and all("_parse_failure" in e["tags"] for e in cut)
    check = run(["check"], cfg)
    assert check.returncode == 0
    assert str(logs / "app.log") in check.stdout.decode() and "app.log.1" in check.stdout.decode()
    assert "skip.log" not in check.stdout.decode()


def test_utf16_is_rejected_with_the_key(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path}/state
sources:
  - {{name: app, type: file, paths: [a.log], parser: json, encoding: utf-16}}
outputs:
  - type: stdout
""")
    res = run(["check"], cfg)
    assert res.returncode == 2
    assert b"encoding" in res.stderr


def test_a_byte_not_in_the_encoding_is_flagged_and_kept_recoverable(tmp_path):
    # cp1252 has no character 0x81: the line is still read (its fields, the byte as the text `\x81`), flagged;
    # a byte cp1252 has (0x80, the euro sign) is transcoded and not flagged
    (tmp_path / "app.log").write_bytes(b'{"seq":1,"name":"caf\x81"}\n{"seq":2,"name":"\x80"}\n{"seq":3,\x81}\n')
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path}/state
sources:
  - {{name: app, type: file, paths: ["{tmp_path}/app.log"], parser: json, encoding: cp1252, preserve_original_event: true}}
outputs:
  - type: stdout
""")
    res = run(["run", "--once"], cfg)
    assert res.returncode == 0, res.stderr.decode()
    one, two, three = [json.loads(x) for x in res.stdout.splitlines()]
    assert one["generic"] == {"seq": 1, "name": "caf\\x81"} and "_invalid_encoding" in one["tags"]
    assert one["event"]["original"] == '{"seq":1,"name":"caf\\x81"}'
    assert two["generic"] == {"seq": 2, "name": "\u20ac"} and "_invalid_encoding" not in two.get("tags", [])
    assert "_parse_failure" in three["tags"] and "_invalid_encoding" in three["tags"]
    assert three["event"]["original"] == '{"seq":3,\\x81}'
