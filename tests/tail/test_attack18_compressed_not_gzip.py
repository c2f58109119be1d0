"""Attack 18 (issue 21, examiner exam21): logrotate `compress` with a `compresscmd` other than gzip.

logrotate lets an operator compress backups with xz, zstd or bzip2 (`compresscmd`/`compressext`), and Debian
ships all three. Here the agent is stopped (SIGTERM, a clean stop) with 300 lines of app.log unread; while it is
away the log rotates twice with `compress` + `compresscmd /usr/bin/xz`: app.log.2.xz holds the 300 unread lines
and 200 more, app.log.1.xz a whole file (500 lines) the agent never saw. Every one of those 1,000 lines is still on
disk. At the restart none of them is read, and the journal names neither backup: one warning says the unread rest of
app.log was "deleted (more rotations than backups), or renamed where the source's `paths` do not reach", 0 bytes,
size unknown — a wrong cause (the bytes are in app.log.2.xz, beside the live file) — and the 500 lines of
app.log.1.xz go without a word. Seen 5 of 5 runs by hand (xz 3, zstd 2; bzip2 the same), 0 lost with gzip.

What should happen: a backup under a rotated name in a compression the agent cannot read is either read, or named
(its name, that it cannot be read, and that what it holds is lost). The test passes once each backup's lines are
delivered or a warning names the backup.
"""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SHIPPER = str(Path(sys.executable).parent / "shipper")
HEADER = "#HEADER app v1 layout=json"

pytestmark = pytest.mark.skipif(not (shutil.which("logrotate") and shutil.which("xz")), reason="needs logrotate, xz")


def _append(path: Path, first: int, count: int) -> list[int]:
    with open(path, "a") as f:
        if f.tell() == 0:
            f.write(HEADER + "\n")
        for seq in range(first, first + count):
            f.write(json.dumps({"seq": seq, "pad": "x" * 40}) + "\n")
    return list(range(first, first + count))


def _delivered(out: Path) -> list[int]:
    seqs = []
    for line in out.read_bytes().splitlines():
        generic = json.loads(line).get("generic") or {}
        if "seq" in generic:
            seqs.append(generic["seq"])
    return seqs


def _wait(predicate, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _start(tmp_path: Path, run: int) -> tuple[subprocess.Popen, Path, Path]:
    out, err = tmp_path / f"out{run}.jsonl", tmp_path / f"err{run}.log"
    proc = subprocess.Popen([SHIPPER, "run", "-c", str(tmp_path / "cfg.yaml")],
                            stdout=out.open("wb"), stderr=err.open("wb"))
    _wait(lambda: "msg=started" in err.read_text(errors="replace"), "the agent's start")
    return proc, out, err


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=(
    "backups compressed by logrotate with xz while the agent was stopped are neither read nor named: 1,000 lines "
    "lost, app.log.1.xz (a whole file) without a word, the rest of app.log warned as deleted or renamed out of "
    "reach; should read them or name each backup as unreadable"))
def test_xz_backups_made_while_stopped_are_read_or_named(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    (tmp_path / "lr.conf").write_text(
        f"{live} {{\n  rotate 5\n  compress\n  compresscmd /usr/bin/xz\n  uncompresscmd /usr/bin/unxz\n"
        "  compressext .xz\n  create\n  missingok\n}\n")
    (tmp_path / "cfg.yaml").write_text(
        f"state_dir: {tmp_path}/state\nshutdown_timeout: 10\nsources:\n  - name: s\n    type: file\n"
        f"    paths: [{live}]\n    parser: json\noutputs:\n  - type: stdout\n")

    def rotate() -> None:
        subprocess.run(["logrotate", "-f", "-s", str(tmp_path / "lr.state"), str(tmp_path / "lr.conf")], check=True)

    written = _append(live, 1, 1000)
    proc, out1, _ = _start(tmp_path, 1)
    _wait(lambda: len(_delivered(out1)) >= 1000, "the first 1,000 lines")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    in_2 = _append(live, 1001, 500)        # unread at the stop; ends in app.log.2.xz
    rotate()
    in_1 = _append(live, 1501, 500)        # a whole file the agent never saw; ends in app.log.1.xz
    rotate()
    written += in_2 + in_1 + _append(live, 2001, 200)
    assert sorted(p.name for p in logs.iterdir()) == ["app.log", "app.log.1.xz", "app.log.2.xz"]

    proc, out2, err2 = _start(tmp_path, 2)
    _wait(lambda: set(range(2001, 2201)) <= set(_delivered(out2)), "the live file's lines")
    # let the restart's scans decide about the backups (a file too short to tell waits 10 s)
    time.sleep(12)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    delivered = _delivered(out1) + _delivered(out2)
    journal = err2.read_text(errors="replace")
    warnings = [line for line in journal.splitlines() if "level=warn" in line or "level=error" in line]

    assert len(delivered) == len(set(delivered)), "a line delivered twice"
    for name, seqs in (("app.log.2.xz", in_2), ("app.log.1.xz", in_1)):
        unread = set(seqs) - set(delivered)
        named = [w for w in warnings if name in w]
        assert not unread or named, f"{len(unread)} lines of {name} neither delivered nor named: {warnings}"
    assert set(written) - set(in_2) - set(in_1) <= set(delivered)
