"""Attack on the integrity key's secrecy (issue 18: "a secret key, read like the other secrets";
project rule: secrets are never printed). An operator who pastes the key itself where the config
wants the `integrity:` mapping (`integrity: "<base64 key>"`) gets a config error that quotes the
value: the key lands in the terminal, the journal, CI logs. The error must name file, line and key
without repeating what was given there (it quoted it: fixed in config's error words)."""
from __future__ import annotations

import base64
import os
import subprocess

from tests.core.test_integrity import SHIPPER


def test_a_key_pasted_as_the_integrity_value_is_not_printed(tmp_path):
    key = base64.b64encode(os.urandom(32)).decode()
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
integrity: "{key}"
sources:
  - {{name: a, type: file, paths: ['{tmp_path / 'a.log'}'], parser: datameer}}
outputs:
  - type: stdout
""")
    for command in (["check", "-c", str(cfg)], ["run", "--once", "-c", str(cfg)]):
        r = subprocess.run(SHIPPER + command, capture_output=True, text=True, timeout=120)
        assert r.returncode == 2, r.stdout + r.stderr
        assert "shipper.yaml:3" in r.stderr and "integrity" in r.stderr, r.stderr  # file, line and key named
        assert key not in r.stdout + r.stderr and key[:16] not in r.stdout + r.stderr, r.stderr
