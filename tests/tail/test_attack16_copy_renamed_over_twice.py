"""Examiner attack 16 (session 18, issue 21): a log replaced by a copy of itself twice in quick succession.

A sync tool (rsync's default: a temporary copy beside the file, renamed over it) or two `sed -i` in a row that
alter a line to one of the same length replace the live file by a copy of what was read. Once, the agent says
"was replaced by a copy of itself holding what was read (a sync tool's rename over it): read on from there"
and repeats nothing (docs/operations.md, "A live log trimmed or edited in place": a repeat is always warned and
counted, never silent). Twice within ~50 ms (before the agent looked at the first copy), it reads the second
copy from its start: every line read so far is shipped again without a word, or (other runs) nothing is
repeated but a false "data lost: … 1 rotated file(s) that appeared and were gone" is warned.

Found with the real agent and stdout: 100 lines read, then rsync-style copies (append to the source, copy
beside the log, rename over it) 50 ms apart: 5 copies, 3 of 3 runs repeated 140-180 of 200 lines silently;
2 copies, 4 of 5 runs repeated 120 of 140; 0.2-0.5 s apart, 0 of 6 repeated. Two `sed -i` altering a line to
one of the same length, back to back: 1 of 2 repeated all 200 lines silently, the other warned a false loss.
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


def _wait(out: Path, want: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(_seqs(out)) < want:
        time.sleep(0.1)


@pytest.mark.xfail(strict=False, reason=(
    "attack 16, a race (2 of 3 runs of one burst of 5 copies 50 ms apart at load 30-40, three bursts here; not tried on a quiet host): a live "
    "log replaced by a copy of itself (rsync's rename over it) twice before the agent looked at the first copy "
    "is read again from its start, every line read so far shipped twice without a warning (or a false 'data "
    "lost' is warned instead). It should read on from where it was, as it does for one copy, and never repeat "
    "or lose silently"))
def test_a_log_copied_over_itself_twice_quickly_is_read_on_not_again(tmp_path):
    src, logs = tmp_path / "src", tmp_path / "logs"
    src.mkdir()
    logs.mkdir()
    seq = 0

    def append(n: int) -> None:
        nonlocal seq
        with open(src / "app.log", "a") as f:
            for _ in range(n):
                f.write(json.dumps({"seq": seq, "msg": "x" * 60}) + "\n")
                seq += 1

    def sync(k: int) -> None:  # what rsync -a does: a copy beside the file, renamed over it
        tmp = logs / f".app.log.{k:06d}"
        shutil.copyfile(src / "app.log", tmp)
        os.rename(tmp, logs / "app.log")

    append(100)
    sync(0)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        f"state_dir: {tmp_path / 'state'}\nshutdown_timeout: 5\n"
        "sources:\n  - name: app\n    type: file\n"
        f"    paths: [{json.dumps(str(logs / 'app.log'))}]\n    parser: json\n"
        "outputs:\n  - type: stdout\n")
    out, journal = tmp_path / "out.jsonl", tmp_path / "journal.log"
    with open(out, "wb") as o, open(journal, "wb") as err:
        agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=o, stderr=err)
    try:
        _wait(out, 100, 60)
        assert len(_seqs(out)) == 100, journal.read_text()
        for burst in range(3):  # a race: three bursts of five copies 50 ms apart
            for k in range(5):
                append(20)
                sync(1 + 5 * burst + k)
                time.sleep(0.05)
            _wait(out, seq, 30)
            time.sleep(2)  # a repeat comes with the reads after the last line
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=60)
    got = _seqs(out)
    text = journal.read_text()
    assert sorted(got) == list(range(seq)), f"lines missing:\n{text}"
    twice = [s for s, k in got.items() if k > 1]
    assert not twice, f"{len(twice)} of {seq} lines shipped twice ({twice[0]}-{twice[-1]}), journal:\n{text}"
    assert "data lost" not in text, text
