"""Idle cost (issue 23): `shipper run` following 200 / 2,000 / 10,000 quiet files, beside a bare
inotify loop watching the same folder. CPU (utime + stime of every thread of the agent's process
tree: its checkpoint writer included), wake-ups (voluntary context switches of every thread: sleeps
that ended) and preemptions (involuntary ones, from CPU work such as the safety rescan on a busy
host) are read from /proc before and after a quiet window. The busiest threads are named (the agent
runs through bench/thread_names.py), and the host's mount table changes in the window are counted: a
file source listens to them (a mount on a watched folder makes no inotify event), so a host that
mounts all the time wakes it (at most once a shipper.tail.watcher.MOUNT_SETTLE).

    .venv/bin/python bench/idle.py                    # 200, 2000, 10000 files, 150 s windows
    .venv/bin/python bench/idle.py --files 2000 --seconds 30

Each agent first reads its files (checked by counting the lines it wrote to its stdout file), then
is left alone for the window: no file is written, nothing rotates.
"""
from __future__ import annotations

import argparse
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")

BARE = """
import sys
from inotify_simple import INotify, flags
ino = INotify()
ino.add_watch(sys.argv[1], flags.MODIFY | flags.CREATE | flags.MOVED_TO | flags.DELETE)
print("ready", flush=True)
while True:
    ino.read()
"""


def tree(pid: int) -> list[int]:
    """`pid` and every process below it (the checkpoint writer, parse workers while they run)."""
    pids, i = [pid], 0
    while i < len(pids):
        try:
            for tid in os.listdir(f"/proc/{pids[i]}/task"):
                with open(f"/proc/{pids[i]}/task/{tid}/children") as f:
                    pids += [int(x) for x in f.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass  # ended meanwhile
        i += 1
    return pids


def usage(pid: int) -> tuple[float, dict[str, int], int]:
    """CPU seconds of all threads of `pid` and of its children (the whole process tree); voluntary
    context switches (a sleep that ended: a wake-up) per thread id; involuntary ones (preempted
    while running) of all threads."""
    cpu, switches, preempted = 0.0, {}, 0
    for proc in tree(pid):
        try:
            tids = os.listdir(f"/proc/{proc}/task")
        except (FileNotFoundError, ProcessLookupError):
            continue
        for tid in tids:
            try:
                with open(f"/proc/{proc}/task/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                cpu += (int(fields[11]) + int(fields[12])) / TICK
                with open(f"/proc/{proc}/task/{tid}/status") as f:
                    for line in f:
                        if line.startswith("voluntary_ctxt_switches"):
                            switches[tid] = int(line.split()[1])
                        elif line.startswith("nonvoluntary_ctxt_switches"):
                            preempted += int(line.split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue  # a thread that ended meanwhile
    return cpu, switches, preempted


def mount_changes(seconds: float) -> int:
    """How many times the mount table changed over `seconds` (other programs' mounts: this host's tests)."""
    with open("/proc/self/mountinfo") as f:
        ep = select.epoll()
        ep.register(f.fileno(), select.EPOLLPRI)
        n, end = 0, time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if ep.poll(left):
                n += 1
                f.seek(0)
                f.read()  # (a read marks the change seen)
        ep.close()
    return n


def thread_names(path: Path) -> dict[str, str]:
    """tid -> the Python name bench/thread_names.py noted."""
    try:
        return {tid: name for _, tid, name in (line.split(maxsplit=2) for line in path.read_text().splitlines())}
    except (FileNotFoundError, ValueError):
        return {}


def measure(pid: int, seconds: float, names: Path | None = None) -> tuple[float, float, str, float, float]:
    """Over `seconds`: CPU % of a core, wake-ups/s of all threads, the busiest threads' wake-ups/s
    (named from `names`, else the main thread marked with *), preemptions/s, the host's mount changes/s."""
    mounts: list[int] = []
    counter = threading.Thread(target=lambda: mounts.append(mount_changes(seconds)), daemon=True)
    c0, s0, p0 = usage(pid)
    t0 = time.monotonic()
    counter.start()
    time.sleep(seconds)
    c1, s1, p1 = usage(pid)
    dt = time.monotonic() - t0
    counter.join(10)
    per = {tid: (n - s0.get(tid, 0)) / dt for tid, n in s1.items()}
    top = sorted(per.items(), key=lambda kv: -kv[1])[:5]
    named = thread_names(names) if names is not None else {}
    threads = " ".join(f"{v:.2f} {named[tid]}" if tid in named else f"{v:.2f}{'*' if tid == str(pid) else ''}"
                       for tid, v in top if v > 0.0) or "0"
    return 100.0 * (c1 - c0) / dt, sum(per.values()), threads, (p1 - p0) / dt, (mounts[0] if mounts else 0) / dt


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return 0.0


def run(n: int, seconds: float, out: Path) -> dict:
    d = out / f"idle{n}"
    shutil.rmtree(d, ignore_errors=True)
    logs = d / "logs"
    logs.mkdir(parents=True)
    for i in range(n):
        (logs / f"f{i:05d}.log").write_text(f'{{"n": {i}}}\n')
    cfg = d / "cfg.yaml"
    # With the HTTP endpoint (metrics, health) on, as most agents run.
    cfg.write_text(f"state_dir: {d}/state\nhttp:\n  listen: 127.0.0.1:0\nsources:\n  - name: quiet\n    type: file\n"
                   f"    paths: ['{logs}/*.log']\n    parser: json\noutputs:\n  - type: stdout\n")
    outfile = open(d / "out.jsonl", "wb")
    names = d / "threads"
    proc = subprocess.Popen([sys.executable, str(REPO / "bench" / "thread_names.py"), "run", "-c", str(cfg)], cwd=REPO,
                            stdout=outfile, stderr=open(d / "err.log", "wb"),
                            env=dict(os.environ, THREAD_NAMES=str(names), PYTHONPATH=str(REPO)))
    try:
        deadline = time.monotonic() + 600
        while sum(1 for _ in open(d / "out.jsonl", "rb")) < n:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"agent did not read {n} files: {(d / 'err.log').read_text()[-2000:]}")
            time.sleep(0.5)
        time.sleep(5)  # first-look decisions settle
        # Reading the files made a backlog: parse workers run until the source has been idle for
        # shipper.parse_auto.IDLE_SECONDS; the window starts once they are given back.
        while b"backlog: parsing" in (d / "err.log").read_bytes() and b"caught up: parsing" not in (d / "err.log").read_bytes():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"parse workers not given back: {(d / 'err.log').read_text()[-2000:]}")
            time.sleep(0.5)
        cpu, wakeups, threads, preempted, mounts = measure(proc.pid, seconds, names)
        rss = rss_mib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(60)
        outfile.close()
    bare = subprocess.Popen([sys.executable, "-c", BARE, str(logs)], stdout=subprocess.PIPE)
    try:
        bare.stdout.readline()
        bcpu, bwake, _, _, _ = measure(bare.pid, min(seconds, 20))
    finally:
        bare.kill()
        bare.wait()
    shutil.rmtree(d, ignore_errors=True)
    return {"files": n, "cpu": cpu, "wakeups": wakeups, "threads": threads, "preempted": preempted, "rss": rss,
            "bare_cpu": bcpu, "bare_wakeups": bwake, "mounts": mounts}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, nargs="*", default=[200, 2000, 10000])
    ap.add_argument("--seconds", type=float, default=150.0)  # over two safety rescans (60 s ±10 %)
    ap.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "shipper-bench"))
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    print("| quiet files | shipper CPU (% of a core) | shipper wake-ups/s | busiest threads /s "
          "| preempted /s | RSS MiB | bare inotify CPU | bare wake-ups/s | host mount changes/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in a.files:
        r = run(n, a.seconds, out)
        print(f"| {r['files']} | {r['cpu']:.2f} | {r['wakeups']:.2f} | {r['threads']} | {r['preempted']:.2f} | {r['rss']:.0f} | "
              f"{r['bare_cpu']:.2f} | {r['bare_wakeups']:.1f} | {r['mounts']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
