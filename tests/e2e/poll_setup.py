"""The set-up the black-box http_poll tests (attack 11) share: the activity API peer's token in a file, and the
agent's config with one http_poll source, `pe`, reading the peer, before the outputs each test names."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.peers.puppet_activity_api import PuppetActivityAPI

SHIPPER = [sys.executable, "-m", "shipper.cli"]


def write_poll_config(tmp_path: Path, api: PuppetActivityAPI, outputs: list[str], *, services: str = "[rbac]",
                      page_size: int = 7, batch_size: int | None = 5, source_extra: str = "",
                      settings: str = "") -> Path:
    """tmp_path/shipper.yaml (written again at each call: a reload's new config) with its state_dir in tmp_path,
    `settings` (top-level YAML lines), the source `pe` with the given keys (`source_extra`: more `key: value, `
    pairs) and `outputs` (one YAML flow mapping each); the peer's token in tmp_path/token (mode 0600)."""
    token = tmp_path / "token"
    token.write_text("good-token\n")
    token.chmod(0o600)
    batch = "" if batch_size is None else f", batch_size: {batch_size}"
    listed = "".join(f"  - {o}\n" for o in outputs)
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
{settings}
sources:
  - {{name: pe, type: http_poll, parser: puppet_enterprise, url: '{api.url("v2")}', token_file: {token},
      services: {services}, page_size: {page_size}, poll_interval: 0.3{batch}{source_extra}}}
outputs:
{listed}""")
    return cfg


def run_once(cfg: Path, *extra: str) -> subprocess.CompletedProcess:
    """`shipper run --once` (with `extra` options), its output captured as text."""
    return subprocess.run(SHIPPER + ["run", "--once", *extra, "-c", str(cfg)], capture_output=True, text=True,
                          timeout=300)
