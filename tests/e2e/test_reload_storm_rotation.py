"""Issue 23: reloads at a high rate while files rotate. A SIGHUP every 2 s that changes the source's
`tags` while 20 Log4j 1.2-style writers (MaxBackupIndex 2 or 3) roll their files over: every line is
delivered exactly once, and no "data lost" warning is logged unless a line really is missing (a
restarted source once re-read whole rotated backups and warned of "0 bytes" lost)."""
from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections import Counter

import pytest

from tests.support import wait_until
from tests.tail.attack_agent import Agent, numbered

pytestmark = pytest.mark.slow

FILES, MAX_SIZE, STORM_SECONDS, RELOAD_EVERY = 20, 2500, 30.0, 2.0
PER_FILE = 1_000_000  # file k writes sequence numbers k*PER_FILE, k*PER_FILE+1, …


def roll(log: str, backups: int) -> None:
    """Log4j 1.2 RollingFileAppender.rollOver: drop the last backup, shift the others, rename the live file."""
    if os.path.exists(f"{log}.{backups}"):
        os.unlink(f"{log}.{backups}")
    for i in range(backups - 1, 0, -1):
        if os.path.exists(f"{log}.{i}"):
            os.rename(f"{log}.{i}", f"{log}.{i + 1}")
    os.rename(log, f"{log}.1")


def write_storm(logs: list[str], stop: threading.Event, written: list[int]) -> None:
    """One line to each file every 50 ms (400 lines/s in all), each file rolled past MAX_SIZE."""
    while not stop.is_set():
        for k, log in enumerate(logs):
            with open(log, "a") as f:
                f.write(numbered(k * PER_FILE + written[k]))
                size = f.tell()
            written[k] += 1
            if size >= MAX_SIZE:
                roll(log, 2 + k % 2)
        stop.wait(0.05)


def source_tags(agent: Agent, tag: str) -> None:
    text = re.sub(r"tags: \[\w+\]", f"tags: [{tag}]", agent.cfg.read_text())
    agent.cfg.write_text(text)


def test_reloads_every_two_seconds_while_twenty_files_rotate_repeat_nothing(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    logs = [str(folder / f"app{k}.log") for k in range(FILES)]
    written = [0] * FILES
    for k, log in enumerate(logs):  # the agent starts on files that already hold a line
        with open(log, "w") as f:
            f.write(numbered(k * PER_FILE))
        written[k] = 1
    agent = Agent(tmp_path, [folder / "app*.log"], "    read_from: beginning\n    tags: [t0]")
    agent.start()
    stop = threading.Event()
    writer = threading.Thread(target=write_storm, args=(logs, stop, written))
    reloads = 0
    try:
        writer.start()
        t0 = time.monotonic()
        while time.monotonic() - t0 < STORM_SECONDS:
            time.sleep(RELOAD_EVERY)
            reloads += 1
            source_tags(agent, f"t{reloads % 2}")
            agent.proc.send_signal(signal.SIGHUP)
            assert agent.proc.poll() is None, agent.errors()
        stop.set()
        writer.join()
        expected = {k * PER_FILE + n for k in range(FILES) for n in range(written[k])}
        # Generous: on a loaded 2-core machine the agent may lag well behind the writers.
        agent.wait_delivered(expected, timeout=180)
        wait_until(lambda: "msg=reloaded" in agent.errors(), 60, "a reload done")
        time.sleep(3)  # a backup read a second time would arrive by now
    finally:
        stop.set()
        if writer.is_alive():
            writer.join()
        code = agent.stop()
    errors = agent.errors()
    seqs = [s for s in agent.seqs() if s is not None]
    counts = Counter(seqs)
    dups = sorted(s for s, c in counts.items() if c > 1)
    missing = sorted(expected - set(counts))
    lost = [ln for ln in errors.splitlines() if "data lost" in ln]
    summary = (f"{len(expected)} lines written, {len(seqs)} delivered, {reloads} reloads "
               f"({errors.count('msg=reloaded')} logged): {len(dups)} duplicated (e.g. {dups[:5]}), "
               f"{len(missing)} missing (e.g. {missing[:5]}), {len(lost)} 'data lost' warnings {lost[:3]}")
    print(summary)
    assert code == 0, errors[-3000:]
    assert not dups, summary
    assert not missing, summary
    assert not lost, summary  # nothing is missing, so no loss may be warned
    assert set(counts) == expected, summary
