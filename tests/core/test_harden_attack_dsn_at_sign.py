"""Attack (issue 14): a careless operator writes a postgres URL dsn whose password holds an unencoded
'@' (and ':'). libpq then reads the password's tail as host and port, and `shipper check` printed them
(`host=Yw8v port=Ut7s@127.0.0.1:1`, "failed to resolve host 'Yw8v'"). The promise: a password written
into a dsn is never shown; a dsn that cannot be what was meant is a config error (exit 2) naming the key."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("dsn", ["postgresql://alice:Zq9x@Yw8v:Ut7s@127.0.0.1:1/db",
                                 "postgres://alice:Zq9x@Yw8v@127.0.0.1:1/db?connect_timeout=2"])
def test_unencoded_at_sign_in_a_dsn_password_is_a_config_error_that_hides_it(tmp_path, dsn):
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"state_dir: {tmp_path}/state\n"
                   f"sources:\n  - name: pg\n    type: postgres\n    dsn: \"{dsn}\"\n"
                   "    table: audit\n    parser: cloudera_ai\n"
                   "outputs:\n  - {type: stdout}\n")
    r = subprocess.run([sys.executable, "-m", "shipper.cli", "check", "-c", str(cfg)],
                       capture_output=True, timeout=60, cwd=str(REPO))
    out = (r.stdout + r.stderr).decode()
    assert r.returncode == 2, out
    assert "shipper.yaml:5" in out and "dsn" in out, out
    for piece in ("Zq9x", "Yw8v", "Ut7s"):
        assert piece not in out, out
