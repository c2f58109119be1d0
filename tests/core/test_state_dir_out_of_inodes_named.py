"""A state_dir whose filesystem has no inode left is named as full, not as a matter of permissions (exam23d, session
23: the start said `cannot write to the state_dir (No space left on device) … make it writable by the user shipper
runs as`, which sends the operator to the wrong fix; `df -h` showed room, only `df -i` the cause)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.fs_faults import kept_full, small_tmpfs


def test_a_state_dir_out_of_inodes_is_named_full_exit_2(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text('{"a": 1}\n')
    cfg = tmp_path / "cfg.yaml"
    with small_tmpfs(tmp_path / "state", 8192, inodes=8) as state:
        n = 0
        while True:  # every inode taken (the root folder has one)
            try:
                (state / f"f{n}").touch()
            except OSError:
                break
            n += 1
        cfg.write_text(f"state_dir: {state}\nsources: [{{name: s, type: file, paths: [{log}], parser: json}}]\n"
                       "outputs: [{type: stdout}]\n")
        run = subprocess.run([str(Path(sys.executable).with_name("shipper")), "run", "--once", "-c", str(cfg)],
                             capture_output=True, text=True, timeout=60)
    assert run.returncode == 2, (run.returncode, run.stderr)
    assert "df -i" in run.stderr and "writable by the user" not in run.stderr, run.stderr


def test_a_new_state_dir_on_a_full_filesystem_is_named_full_exit_2(tmp_path: Path) -> None:
    """A new state_dir on a filesystem already full of blocks (exam24d noticed, session 24): the start said only
    `error: …/state: [Errno 28] No space left on device` (the lock file is made, its pid cannot be written). It names
    the path, says the filesystem is full and what to do, as the other state_dir refusals, exit 2."""
    log = tmp_path / "app.log"
    log.write_text('{"a": 1}\n')
    cfg = tmp_path / "cfg.yaml"
    with small_tmpfs(tmp_path / "fs", 1024) as fs, kept_full(fs):
        state = fs / "state"
        cfg.write_text(f"state_dir: {state}\nsources: [{{name: s, type: file, paths: [{log}], parser: json}}]\n"
                       "outputs: [{type: stdout}]\n")
        run = subprocess.run([str(Path(sys.executable).with_name("shipper")), "run", "--once", "-c", str(cfg)],
                             capture_output=True, text=True, timeout=60)
    assert run.returncode == 2, (run.returncode, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert str(state) in lines[0] and "full" in lines[0] and "df -h" in lines[0], run.stderr
    assert "[Errno" not in lines[0] and "writable by the user" not in lines[0], run.stderr
