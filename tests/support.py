"""Small helpers shared by the tests that drive real processes and servers."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, TypeVar

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 free now (the OS's pick)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(pred: Callable[[], object], timeout: float = 60.0, every: float = 0.05) -> bool:
    """Poll pred every `every` seconds until it is true or timeout seconds pass; the last answer is returned.
    A pred that reads much (an HTTP request, every record a peer stored) is polled less often: on 2 shared cores
    its polling takes CPU from the agent it waits for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(every)
    return bool(pred())


def wait_until(pred: Callable[[], object], timeout: float = 60.0, what: str = "condition",
               every: float = 0.05) -> None:
    """Like wait, but a timeout fails the test with what was awaited."""
    if not wait(pred, timeout, every):
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def read_steady(read: Callable[[], T], ready: Callable[[T], bool], timeout: float = 60.0) -> T:
    """read() once it is `ready` and the read after it gives the same (a figure no longer moving), read every half
    second; at the timeout, the last read."""
    deadline = time.monotonic() + timeout
    value = read()
    while time.monotonic() < deadline:
        value = read()
        if ready(value) and value == read():
            break
        time.sleep(0.5)
    return value


def wait_settled(measure: Callable[[], int], timeout: float, what: str) -> None:
    """Until measure() (records received, bytes written) is above 0 and unchanged for 3 s (60 looks)."""
    seen = [-1]

    def settled() -> bool:
        seen.append(measure())
        return len(seen) > 60 and seen[-1] > 0 and seen[-60] == seen[-1]

    wait_until(settled, timeout, what)


def stop_process(proc: subprocess.Popen, timeout: float = 30.0) -> int | None:
    """A test's clean-up of an agent it started: SIGTERM, then up to `timeout` seconds for it to end, killed
    if it has not (a clean-up never hangs). Its exit code, or None when it had to be killed."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def stop_twice(proc: subprocess.Popen, sig: int = signal.SIGTERM, gap: float = 0.5, timeout: float = 30.0) -> int:
    """An operator who does not wait: `sig`, and `sig` again `gap` seconds later; the exit code once the process
    ended (subprocess.TimeoutExpired after `timeout` seconds)."""
    proc.send_signal(sig)
    time.sleep(gap)
    proc.send_signal(sig)
    return proc.wait(timeout)


def bytes_kept_by_parser(parser, lines: Callable[[int, int], object], total: int = 2000) -> int:
    """Bytes a parser still holds (tracemalloc) after `total` lines of `lines(start, n)`, once a first 50
    have filled what any first lines fill: what its memos keep of hostile, ever-new long values."""
    import tracemalloc

    parser.parse_batch(list(lines(0, 50)))
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for n in range(0, total, 500):
            parser.parse_batch(list(lines(50 + n, 500)))
        return sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
    finally:
        tracemalloc.stop()


def writer_pid(agent_pid: int) -> int:
    """The pid of the agent's checkpoint writer process (its child running shipper/checkpoint_db.py)."""
    with open(f"/proc/{agent_pid}/task/{agent_pid}/children") as f:
        children = [int(p) for p in f.read().split()]
    for pid in children:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if b"checkpoint_db.py" in f.read():
                return pid
    raise AssertionError(f"no checkpoint writer among {children}")


def abstract_names(pid: int) -> list[str]:
    """The abstract Unix socket names process pid listens on (its socket inodes looked up in /proc/net/unix), without
    the leading @."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    with open("/proc/net/unix") as f:
        rows = [line.split() for line in f.read().splitlines()[1:]]
    return [row[7][1:] for row in rows if len(row) > 7 and row[6] in inodes and row[7].startswith("@")]


def run_under_nofile(cfg: dict, tmp_path: Path, nofile: int) -> tuple[subprocess.Popen, Path]:
    """`shipper run` of `cfg` (written to tmp_path/cfg.yaml: JSON is YAML) under `prlimit --nofile=N:N`, its stdout
    discarded, its journal (stderr) in tmp_path/agent.err: the agent and that file."""
    (tmp_path / "cfg.yaml").write_text(json.dumps(cfg))
    err = tmp_path / "agent.err"
    shipper = str(Path(sys.executable).with_name("shipper"))
    with open(err, "wb") as ef:
        agent = subprocess.Popen(["prlimit", f"--nofile={nofile}:{nofile}", "--", shipper, "run", "-c",
                                  str(tmp_path / "cfg.yaml")], stdout=subprocess.DEVNULL, stderr=ef)
    return agent, err
