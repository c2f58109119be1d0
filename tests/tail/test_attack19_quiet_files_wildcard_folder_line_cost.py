"""Examiner exam23b (session 21, docs only): after 3c09d32, a line among quiet files still costs a pass over all of
them when the glob has a wildcard folder (`logs/*/*.log`, as `/var/log/*/audit.log`).

3c09d32 made an open-append-close write (IN_CLOSE_WRITE) a write to that file, not a structure change, in a folder
that holds followed files: tests/tail/test_attack19_quiet_files_line_cost.py (one folder, `logs/*.log`) passes.
The same 2,000 quiet files spread over 10 folders matched by `logs/*/*.log` (the folders watched for new log
folders too, docs/operations.md "inotify limits"), measured the same way after 3c09d32 (g_idle.py, load 20-40,
2026-12-06 21:15-21:20): ~120-150 ms of agent CPU a line (2,000 files; 10,000 files 250-600 ms, shipped after
2-8 s), and one line a second for 60 s costs 14.0 % of a core at 2,000 files, 21.7 % at 10,000 — as before the fix;
with or without the HTTP endpoint, `parse_workers` 0 or the default (same figures).
Why (the lead): a root watched recursively goes to watchdog, whose handler took its `closed` event (IN_CLOSE_WRITE)
for a structure change. Fixed: it is a write to the file there too (shipper/tail/watchdog_roots.py).
"""
from __future__ import annotations

import random
import subprocess
import sys
import time

from tests.tail.test_attack19_quiet_files_line_cost import _cpu_seconds, _lines, _wait

FILES = 2000
FOLDERS = 10
LINES = 12


def test_a_line_in_one_of_many_quiet_files_under_a_wildcard_folder_costs_one_file_s_read(tmp_path):
    logs = tmp_path / "logs"
    for j in range(FOLDERS):
        (logs / f"d{j}").mkdir(parents=True)
    path = [logs / f"d{i % FOLDERS}" / f"f{i:05d}.log" for i in range(FILES)]
    for i, p in enumerate(path):
        p.write_text(f'{{"n": {i}}}\n')
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"state_dir: {tmp_path}/state\nsources:\n  - name: quiet\n    type: file\n"
                   f"    paths: ['{logs}/*/*.log']\n    parser: json\n    parse_workers: 0\noutputs:\n  - type: stdout\n")
    out, err = tmp_path / "out.jsonl", tmp_path / "err.log"
    with open(out, "wb") as so, open(err, "wb") as se:
        proc = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)], stdout=so, stderr=se)
    try:
        _wait(lambda: _lines(out) >= FILES, 300, "the agent did not ship the quiet files' first lines", proc, err)
        end = time.monotonic() + 120
        while time.monotonic() < end:  # quiet: first-look decisions settled
            c0 = _cpu_seconds(proc.pid)
            time.sleep(2)
            if _cpu_seconds(proc.pid) - c0 <= 0.02:
                break
        rng = random.Random(23)
        spent = 0.0
        for k, i in enumerate(rng.sample(range(FILES), LINES)):
            want = FILES + k + 1
            c0 = _cpu_seconds(proc.pid)
            with open(path[i], "a") as f:
                f.write(f'{{"n": {i}, "late": {k}}}\n')
            _wait(lambda: _lines(out) >= want, 120, f"appended line {k} not shipped", proc, err)
            time.sleep(0.3)  # what the read set going (a pass it asked for) counts with it
            spent += _cpu_seconds(proc.pid) - c0
        per_line = spent / LINES
    finally:
        proc.terminate()
        proc.wait(60)
    assert _lines(out) == FILES + LINES
    assert per_line <= 0.030, f"a line appended to one of {FILES} quiet files cost {per_line * 1000:.0f} ms of CPU"
