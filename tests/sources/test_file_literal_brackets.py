"""A literal path holding glob characters ('/var/log/app[1]/x.log') is a glob that matches nothing: `shipper
run` says so once at the start, naming the escaped form; the escaped form ships the file."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run_once(tmp_path: Path, path: str) -> subprocess.CompletedProcess:
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"state_dir: {tmp_path}/state\n"
                   f"sources:\n  - {{name: a, type: file, parser: json, read_from: beginning, paths: ['{path}']}}\n"
                   "outputs:\n  - {type: stdout}\n")
    return subprocess.run([sys.executable, "-m", "shipper.cli", "run", "--once", "-c", str(cfg)],
                          capture_output=True, text=True, cwd=str(REPO), timeout=300)


def test_run_warns_once_for_a_literal_name_taken_as_a_glob(tmp_path):
    (tmp_path / "app[1]").mkdir()
    (tmp_path / "app[1]" / "x.log").write_text('{"message": "kept-7c1d"}\n')
    literal = f"{tmp_path}/app[1]/x.log"
    r = _run_once(tmp_path, literal)
    assert r.returncode == 0, r.stderr
    assert "kept-7c1d" not in r.stdout  # the glob matches nothing
    assert r.stderr.count("matches nothing, but a file of that very name exists") == 1, r.stderr
    escaped = f"{tmp_path}/app[[]1]/x.log"
    assert escaped in r.stderr, r.stderr

    r = _run_once(tmp_path, escaped)
    assert r.returncode == 0, r.stderr
    assert "kept-7c1d" in r.stdout, r.stdout
    assert "very name exists" not in r.stderr, r.stderr
