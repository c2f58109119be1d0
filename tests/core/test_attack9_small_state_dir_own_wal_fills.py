"""Black-box attack 9 (issue 13, the one commit thread): a state_dir on a small filesystem (a 2 MiB tmpfs; the
checkpoint database itself is 16 KiB) with 20 file sources at ~1,500 lines/s. Nothing else writes there, yet within
seconds the agent's own `checkpoints.sqlite-wal` grows to fill the filesystem (2,076,672 bytes of 2 MiB, no other
file), the commit fails (`checkpoint commit failed; reading paused, retrying … database or disk is full`) and never
succeeds again: no space ever returns, since the WAL holds it. Every SIGTERM then waits the whole shutdown_timeout,
exits 1 (`stopped while checkpoints cannot be saved`), and the next start sends again everything delivered since the
last saved checkpoint: 4 of 4 restarts by hand (/tmp/ac/attack.py fullnofill, FSKIB=2048): 104,634 of 142,256 lines
repeated, every stop 20 s, exit 1; the same with a filler freed after the 503 (6 of 6). With 8 MiB it held. This
test 5 of 5 runs (stop exit 1, --once exit 1, 4-52 of ~3,800 lines repeated; WAL 2,076,672 bytes, database 12 KiB).
The promise (docs/operations.md, "The state_dir fills up"): reading pauses, the agent carries on by
itself once there is room, nothing lost and nothing sent twice; a SIGTERM stop repeats nothing.
Why (session 12): the WAL's first checkpoint was due at SQLite's 1,000 pages (~4 MiB), and the checkpoint that
would have emptied the 2 MiB WAL must first grow the database (its 10 pages lived only in the WAL: 12 KiB to 40 KiB)
with no byte free. The WAL is now checkpointed before it holds an eighth of the filesystem (checkpoint_db.WAL_PAGES)."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

from tests.fs_faults import small_tmpfs
from tests.support import writer_pid

pytestmark = pytest.mark.slow

SOURCES = 20


def delivered(path) -> list:
    with open(path, "rb") as f:
        return [json.loads(line)["generic"]["seq"] for line in f if line.endswith(b"\n")]


def written_by_the_checkpoint_writer(agent_pid: int) -> int:
    """The bytes the agent's checkpoint writer has written (its WAL, the database, the snapshot); 0 before it runs."""
    try:
        with open(f"/proc/{writer_pid(agent_pid)}/io") as f:
            return int(next(line for line in f if line.startswith("wchar:")).split()[1])
    except (AssertionError, OSError):  # (no writer yet)
        return 0


def test_small_state_dir_is_not_filled_by_the_agent_itself(tmp_path):
    (tmp_path / "logs").mkdir()
    sources = "".join(f"""
  - name: s{k}
    type: file
    paths: [{tmp_path}/logs/f{k}.log]
    parser: json
    poll_interval: 0.2
""" for k in range(SOURCES))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"state_dir: {tmp_path}/state\nshutdown_timeout: 5\nsources:{sources}\noutputs:\n  - type: stdout\n")
    written = [0] * SOURCES
    done = threading.Event()

    def write() -> None:  # ~1,500 lines/s over the 20 files
        while not done.is_set():
            for k in range(SOURCES):
                with open(tmp_path / f"logs/f{k}.log", "a") as f:
                    f.write("".join(json.dumps({"seq": k * 10_000_000 + i, "msg": "y" * 30}) + "\n"
                                    for i in range(written[k], written[k] + 4)))
                written[k] += 4
            time.sleep(0.05)

    def start(i: int, *extra: str) -> subprocess.Popen:
        with open(tmp_path / f"out{i}.jsonl", "wb") as out, open(tmp_path / f"out{i}.err", "wb") as err:
            return subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", *extra, "-c", str(cfg)],
                                    stdout=out, stderr=err)

    with small_tmpfs(tmp_path / "state", 2048):
        for k in range(SOURCES):
            (tmp_path / f"logs/f{k}.log").touch()
        writer = threading.Thread(target=write)
        agent = start(1)
        writer.start()
        try:
            # Until the checkpoint writer has written 8 MiB, 4 times the filesystem: a WAL not checkpointed in time
            # filled it once 2.1 MB were written (4 s after the first commit; session 17, 1 of 1 with WAL_PAGES[1]),
            # a WAL checkpointed at an eighth of it stayed at 264 KB. Or 40 s, long enough at this rate on a loaded host.
            deadline = time.monotonic() + 40
            while (time.monotonic() < deadline and "commit failed" not in (tmp_path / "out1.err").read_text()
                   and written_by_the_checkpoint_writer(agent.pid) < 8 << 20):
                assert agent.poll() is None, (tmp_path / "out1.err").read_text()[-800:]
                time.sleep(0.5)
            held = sorted((f.name, f.stat().st_size) for f in (tmp_path / "state").iterdir())
        finally:
            done.set()
            writer.join()
            agent.send_signal(signal.SIGTERM)
            code = agent.wait(60)
        again = start(2, "--once")
        code2 = again.wait(120)
    errors = (tmp_path / "out1.err").read_text()[-900:]
    counts = Counter(delivered(tmp_path / "out1.jsonl") + delivered(tmp_path / "out2.jsonl"))
    written_all = {k * 10_000_000 + i for k in range(SOURCES) for i in range(written[k])}
    repeated = sum(n - 1 for n in counts.values() if n > 1)
    missing = len(written_all - set(counts))
    assert code == 0 and code2 == 0 and repeated == 0 and missing == 0, (
        f"stop exit {code}, next --once exit {code2}; of {len(written_all)} lines {repeated} repeated, "
        f"{missing} not delivered; the state_dir held {held} when the commit failed: {errors}")
