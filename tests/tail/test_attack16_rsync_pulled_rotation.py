"""Examiner attack 16 (session 18, issue 21): a rotating log pulled from another host by rsync.

Central collection often pulls audit logs with `rsync -a`: each file whose size or mtime changed is copied to a
temporary name beside it and renamed over it (unchanged files are skipped). When the remote log rotated since the
last pull, the pull brings `app.log.1` (a new inode: what the agent read of `app.log`, and the lines the remote
wrote before rotating) and a new `app.log`. The lines past what was read exist only in that copy: the agent
never reads them, and says nothing (README: a copy or backup is "recognised only by the bytes it shares with what
was read"; issue 21: every line still on disk delivered once, every loss named).

Found with the real agent and stdout: 100 lines pulled and read; the remote appends 20, rotates (Log4j 1.2
rename), writes 20 to its new file; one pull: the 20 lines in the local app.log.1 are never shipped, no warning,
4 of 4 runs (also with a second rotation pulled a second later: 40 of 180 lost, 2 of 2). A random schedule of
appends, rotations and pulls (scratch e20) also repeated up to 697 lines silently, which this test does not pin.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SHIPPER = str(Path(sys.executable).parent / "shipper")


def _seqs(out: Path) -> Counter:
    return Counter(json.loads(ln)["generic"]["seq"] for ln in out.read_bytes().splitlines() if ln.strip())


def _pull(remote: Path, local: Path, count: list[int]) -> None:
    """What `rsync -a` does with each file: skipped when size and mtime match, else copied beside it and renamed
    over it, its mtime the remote's."""
    for name in sorted(os.listdir(remote)):
        src, dst = remote / name, local / name
        st = os.stat(src)
        if dst.exists() and (dst.stat().st_size, dst.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns):
            continue
        count[0] += 1
        tmp = local / f".{name}.{count[0]:06d}"
        shutil.copyfile(src, tmp)
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.rename(tmp, dst)


def test_lines_a_pull_brings_only_in_the_rotated_copy_are_read(tmp_path):
    remote, local = tmp_path / "remote", tmp_path / "logs"
    remote.mkdir()
    local.mkdir()
    seq, count = 0, [0]

    def write(n: int) -> None:
        nonlocal seq
        with open(remote / "app.log", "a") as f:
            for _ in range(n):
                f.write(json.dumps({"seq": seq, "msg": "x" * 60}) + "\n")
                seq += 1

    write(100)
    _pull(remote, local, count)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        f"state_dir: {tmp_path / 'state'}\nshutdown_timeout: 5\n"
        "sources:\n  - name: app\n    type: file\n"
        f"    paths: [{json.dumps(str(local / 'app.log'))}]\n    parser: json\n"
        "outputs:\n  - type: stdout\n")
    out, journal = tmp_path / "out.jsonl", tmp_path / "journal.log"
    with open(out, "wb") as o, open(journal, "wb") as err:
        agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=o, stderr=err)
    try:
        deadline = time.monotonic() + 60
        while len(_seqs(out)) < 100 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(_seqs(out)) == 100, journal.read_text()
        write(20)  # the remote's last lines before it rotates
        os.rename(remote / "app.log", remote / "app.log.1")
        write(20)  # its new app.log
        _pull(remote, local, count)
        deadline = time.monotonic() + 30
        while len(_seqs(out)) < seq and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=60)
    got = _seqs(out)
    text = journal.read_text()
    missing = [s for s in range(seq) if s not in got]
    assert not missing, f"{len(missing)} lines on disk in {local / 'app.log.1'} never shipped ({missing[0]}-" \
                        f"{missing[-1]}):\n{text}"
    assert not [s for s, k in got.items() if k > 1], f"lines shipped twice:\n{text}"
