"""A state_dir whose path cannot be made a folder — a symbolic link whose target is gone (a volume not mounted yet, a
folder removed), on the state_dir itself or on a folder above it, or a file in its place — is refused naming what is in
the way, not as a permissions matter: before, `cannot write to the state_dir (File exists) … make it writable by the user
shipper runs as`, which no chmod mends."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.journal_sinks import SHIPPER, numbered


def _start(tmp_path: Path, state_dir: Path) -> subprocess.CompletedProcess:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text(numbered(0, 3))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(state_dir),
                               "sources": [{"name": "app", "type": "file", "paths": [str(logs / "*.log")],
                                            "parser": "json"}],
                               "outputs": [{"type": "stdout"}]}))
    return subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)


@pytest.mark.parametrize("linked", ["state_dir", "its folder"])
def test_a_symbolic_link_whose_target_is_gone_is_named(tmp_path: Path, linked: str) -> None:
    link = tmp_path / "state"
    link.symlink_to(tmp_path / "volume" / "shipper")  # (the volume not mounted: nothing there)
    state_dir = link if linked == "state_dir" else link / "app"
    done = _start(tmp_path, state_dir)
    said = done.stderr.decode()
    assert done.returncode == 2, said
    assert f"{link} is a symbolic link to {tmp_path / 'volume' / 'shipper'}, which does not exist" in said, said
    assert "writable by the user shipper runs as, or set state_dir to another" in said, said
    assert "File exists" not in said and "make it writable" not in said, said
    assert done.stdout == b""


def test_a_file_in_its_place_is_named(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("")
    done = _start(tmp_path, tmp_path / "state")
    said = done.stderr.decode()
    assert done.returncode == 2, said
    assert f"{tmp_path / 'state'} is not a folder: move it away, or set state_dir to another" in said, said
    assert "make it writable" not in said, said
