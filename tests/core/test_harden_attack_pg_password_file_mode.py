"""Attack (issue 14): a postgres `password_file` that everyone can read. The promise (operations.md): a
secret file (`password_file`, `api_key_file`, …) that others can read is named in a warning."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_world_readable_postgres_password_file_warned_by_check(tmp_path):
    pw = tmp_path / "pg.pw"
    pw.write_text("Zq9secret\n")
    pw.chmod(0o666)
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"state_dir: {tmp_path}/state\n"
                   "sources:\n  - name: pg\n    type: postgres\n"
                   "    dsn: \"host=127.0.0.1 port=1 dbname=d user=u connect_timeout=2\"\n"
                   f"    password_file: {pw}\n    table: audit\n    parser: cloudera_ai\n"
                   "outputs:\n  - {type: stdout}\n")
    r = subprocess.run([sys.executable, "-m", "shipper.cli", "check", "-c", str(cfg)],
                       capture_output=True, timeout=60, cwd=str(REPO))
    out = (r.stdout + r.stderr).decode()
    assert str(pw) in out and "0666" in out, out
    assert "Zq9secret" not in out
