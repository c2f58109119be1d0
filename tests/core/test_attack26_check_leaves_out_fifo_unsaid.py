"""Attack 26 (exam26d): `shipper check` over paths that match a FIFO, a symlink to a FIFO and a symlink to a device.
Session 25 made `run` name each such match once (`… is a FIFO or pipe, not a regular file: not read …`;
tests/tail/test_fifo_matched_named.py) because an operator who pointed `paths` at a pipe waited for lines that never
came. `check` "shows what each source matches now" (README) and names an unreadable match with its errno
(tests/core/test_check_access.py); found by hand (1 of 1, 1 of 1 here): it listed the regular file alone, exit 0, and
said nothing of the FIFO, the symlink to one, or the symlink to /dev/zero — the operator's first look says all is well,
and what run says lands only in its journal. Fixed: check names each `NOT READ: <kind>, not a regular file`."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SHIPPER = str(Path(sys.executable).with_name("shipper"))


def test_check_names_what_the_paths_match_and_run_will_not_read(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text('{"n": 1}\n')
    os.mkfifo(logs / "pipe.log")
    os.mkfifo(tmp_path / "elsewhere.fifo")
    os.symlink(tmp_path / "elsewhere.fifo", logs / "linked.log")
    os.symlink("/dev/zero", logs / "zero.log")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state"),
                               "sources": [{"name": "app", "type": "file", "paths": [str(logs / "*.log")],
                                            "parser": "json"}],
                               "outputs": [{"type": "stdout"}]}))
    check = subprocess.run([SHIPPER, "check", "-c", str(cfg)], capture_output=True, text=True, timeout=60)
    said = check.stdout + check.stderr
    assert str(logs / "a.log") in said, said
    for name in ("pipe.log", "linked.log", "zero.log"):
        assert name in said, f"check says nothing of {name}: {said}"
    for name in ("pipe.log", "linked.log"):
        assert f"{logs / name}  NOT READ: a FIFO or pipe, not a regular file" in said, said
    assert f"{logs / 'zero.log'}  NOT READ: a character device" in said, said
