"""Attack (issue 14): a careless operator writes `user:password@` into a fluentd `host` (there is no such
form: the handshake's user and password have their own keys). `shipper check` printed it twice and
`run` logged it ("fluentd forward to bob:Zq9x7pw@127.0.0.1:24224"). The promise: a password written
into a connection string is never shown; a host that is not a host is a config error (exit 2)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("block", ['{type: fluentd, host: "bob:Zq9x7pw@127.0.0.1", port: 24224}',
                                   '{type: fluentd, servers: [{host: "bob:Zq9x7pw@127.0.0.1"}]}'],
                         ids=["host", "servers"])
def test_user_password_in_a_fluentd_host_is_a_config_error_that_hides_it(tmp_path, block):
    (tmp_path / "a.log").write_text('{"a": 1}\n')
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"state_dir: {tmp_path}/state\n"
                   f"sources:\n  - {{name: a, type: file, paths: [{tmp_path}/a.log], parser: json}}\n"
                   f"outputs:\n  - {block}\n")
    r = subprocess.run([sys.executable, "-m", "shipper.cli", "check", "--outputs", "-c", str(cfg)],
                       capture_output=True, timeout=60, cwd=str(REPO))
    out = (r.stdout + r.stderr).decode()
    assert r.returncode == 2, out
    assert "shipper.yaml:5" in out and "host" in out, out
    assert "Zq9x7pw" not in out, out
