"""Attack on the key (issue 18): every event carries the key id, an HMAC of a fixed text under the
key, so whoever reads the trail can test guesses of the key offline; a short key ("changeme") is
found at once and the whole chain forged. The agent must refuse it as a config error (exit 2, the
file and key named, the key never printed)."""
from __future__ import annotations

import subprocess

from tests.core.test_integrity import SHIPPER, setup


def test_a_key_too_short_to_stay_secret_is_a_config_error(tmp_path):
    _, cfg = setup(tmp_path)
    (tmp_path / "key").write_text("changeme\n")
    r = subprocess.run(SHIPPER + ["check", "-c", str(cfg)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "integrity.key_file" in r.stderr and "too short" in r.stderr
    assert "changeme" not in r.stderr + r.stdout
