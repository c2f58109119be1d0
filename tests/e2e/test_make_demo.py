"""`make demo` leaves the checkout as it found it: no build/, no *.egg-info (pip builds a copy)."""
from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def test_make_demo_leaves_the_tree_clean(tmp_path):
    tree = tmp_path / "shipper"
    tree.mkdir()
    files = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "--null", "-T", "-", "-cf", str(tmp_path / "src.tar")], input=files, cwd=str(REPO),
                   check=True)
    subprocess.run(["tar", "-C", str(tree), "-xf", str(tmp_path / "src.tar")], check=True)
    before = sorted(p.relative_to(tree) for p in tree.rglob("*"))
    venv = tmp_path / "venv"
    # Without a pip of its own (ensurepip costs ~4 s of CPU): the demo venv borrows the test venv's packages,
    # pip among them (no network needed for the dependencies); pip installs into the venv that runs it.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    r = subprocess.run(["make", "-s", "-C", str(tree), "demo", f"VENV={venv}"], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert '"module":"datameer"' in r.stdout
    after = sorted(p.relative_to(tree) for p in tree.rglob("*") if not p.is_relative_to(tree / "state"))
    assert after == before, sorted(set(map(str, after)) - set(map(str, before)))
