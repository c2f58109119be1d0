"""`shipper check` names folders it may not list and matched files it may not read (glob alone just
matches nothing there)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def tree():
    # Not pytest's tmp_path: its folders are 0700 root, which an unprivileged user cannot enter.
    top = Path(tempfile.mkdtemp(prefix="shipper-access-"))
    os.chmod(top, 0o755)
    yield top
    shutil.rmtree(top)


def _check_as_unprivileged(cfg: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "shipper.cli", "check", "-c", str(cfg)]
    if os.geteuid() == 0:  # root reads everything: ask as nobody, as the daemon's own user would
        cmd = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=str(REPO), timeout=120)


def test_check_names_permission_denied(tree):
    (tree / "locked").mkdir()
    (tree / "locked" / "a.log").write_text("{}\n")
    os.chmod(tree / "locked", 0o700)
    (tree / "open").mkdir(mode=0o755)
    os.chmod(tree / "open", 0o755)
    (tree / "open" / "b.log").write_text("{}\n")
    (tree / "open" / "c.log").write_text("{}\n")
    os.chmod(tree / "open" / "b.log", 0o644)
    os.chmod(tree / "open" / "c.log", 0o600)
    cfg = tree / "shipper.yaml"
    cfg.write_text(f"state_dir: {tree}/state\n"
                   f"sources:\n  - {{name: a, type: file, parser: json, paths: [{tree}/locked/*.log]}}\n"
                   f"  - {{name: b, type: file, parser: json, paths: [{tree}/open/*.log]}}\n"
                   "outputs:\n  - {type: stdout}\n")
    os.chmod(cfg, 0o644)
    r = _check_as_unprivileged(cfg)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    import grp
    import pwd

    me = "nobody" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    owner = f"{pwd.getpwuid(os.geteuid()).pw_name}:{grp.getgrgid(os.getegid()).gr_name}"
    assert "(matches nothing now)" not in out
    a = out.split("source a ")[1].split("source b ")[0]
    assert f"permission denied: {me} may not list the folder {tree}/locked (owner {owner}, mode 0700)" in a, out
    b = out.split("source b ")[1]
    assert f"  {tree}/open/b.log\n" in b
    assert f"permission denied: {me} may not read {tree}/open/c.log (owner {owner}, mode 0600)" in b, out
    assert f"may not read {tree}/open/b.log" not in b


def test_nothing_there_still_says_so(tree):
    cfg = tree / "shipper.yaml"
    cfg.write_text(f"state_dir: {tree}/state\nsources:\n  - {{name: a, type: file, parser: json, paths: [{tree}/none/*.log]}}\n"
                   "outputs:\n  - {type: stdout}\n")
    os.chmod(cfg, 0o644)
    r = _check_as_unprivileged(cfg)
    assert r.returncode == 0 and "(matches nothing now)" in r.stdout and "permission" not in r.stdout, r.stdout
