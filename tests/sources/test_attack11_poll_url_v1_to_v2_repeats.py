"""Black-box attack 11: an operator moves a Puppet Enterprise source from the activity API's v1 to its v2
URL, as config/puppet_enterprise.yaml invites ("v1 … works too"; v2 from PE 2019.7 on), keeping its
state_dir. Promised: nothing is lost or repeated across restarts and reloads (README); a history that moved
is re-read "skipping the commits it remembers shipping" (docs/operations.md, http_poll). Found: the same
commits, answered in v2's form, do not match the digests remembered from v1's: the next run warns "history
of service … moved … re-reading … skipping the 20 commits it remembers shipping", then ships every one of
them again (40 of 40 repeated, with a reload or a restart; the events differ only in v2's richer fields, so
a store's stable id does not drop them either). Fixed: commits are remembered by what both versions list
(http_poll_cursor.COMMON); moving back from v2 to v1 is checked too."""
from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
import pytest

from tests.peers.puppet_activity_api import PuppetActivityAPI

SHIPPER = [sys.executable, "-m", "shipper.cli"]


def write_config(tmp_path: Path, url: str) -> Path:
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
sources:
  - {{name: pe, type: http_poll, parser: puppet_enterprise, url: '{url}', token_file: {tmp_path / 'token'},
      services: [rbac, classifier], page_size: 7, poll_interval: 0.3}}
outputs:
  - {{type: stdout}}
""")
    return cfg


def run_once(cfg: Path) -> tuple[list[str], str]:
    r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return [orjson.loads(line)["message"] for line in r.stdout.splitlines()], r.stderr


@pytest.mark.parametrize("before, after", [("v1", "v2"), ("v2", "v1")])
def test_moving_between_the_api_versions_repeats_no_commit(tmp_path, before, after):
    (tmp_path / "token").write_text("good-token\n")
    (tmp_path / "token").chmod(0o600)
    with PuppetActivityAPI(tmp_path, tls=False) as api:
        for i in range(40):
            api.add("rbac" if i % 2 else "classifier", [f"change {i}"])
        first, _ = run_once(write_config(tmp_path, api.url(before)))
        assert Counter(first) == Counter(f"change {i}" for i in range(40))  # read every commit once
        for i in range(40, 50):
            api.add("rbac" if i % 2 else "classifier", [f"change {i}"])
        second, err = run_once(write_config(tmp_path, api.url(after)))
    repeated = sorted(set(first) & set(second), key=lambda m: int(m.split()[1]))
    assert Counter(second) == Counter(f"change {i}" for i in range(40, 50)), (
        f"{len(repeated)} of {len(first)} commits shipped under {before} were shipped again under {after} "
        f"(first: {repeated[:5]}); warnings: {[x for x in err.splitlines() if 'level=warning' in x][:3]}")
