#!/usr/bin/env python3
"""CPU and memory of a command's whole process tree, none escaping: `/usr/bin/time` for a tree.

    .venv/bin/python bench/tree_time.py [--out FILE] -- CMD ARGS...   # prints one JSON line on stderr

The runner becomes a child subreaper (prctl PR_SET_CHILD_SUBREAPER): a descendant whose parent ends
first (a parse worker or forkserver outliving the agent) is re-parented to it instead of to init, and it
waits for every one of them before it reports. The kernel adds a process's CPU to its parent's
RUSAGE_CHILDREN when it is waited for, so the runner's RUSAGE_CHILDREN then holds the CPU of the whole
tree, exactly (no sampling gap at a worker's end). Memory cannot be summed that way: the tree's RSS and
PSS are sampled from /proc every 0.1 s, peak of the sum (RSS counts pages shared after a fork in each
process: an upper bound; PSS splits them).

Reported: wall s (to the last descendant's end), cpu s (user + sys), peak rss/pss MiB (tree), the peak
RSS of the largest single process (ru_maxrss), processes seen.
"""
from __future__ import annotations

import ctypes
import json
import os
import resource
import subprocess
import sys
import threading
import time

PR_SET_CHILD_SUBREAPER = 36
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def _descendants(root: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = [], list(kids.get(root, ()))
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, ()))
    return out


def _memory(pid: int) -> tuple[float, float]:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            r = {ln.split(":")[0]: int(ln.split()[1]) for ln in f if ln.startswith(("Rss:", "Pss:"))}
    except (OSError, ValueError, IndexError):
        return 0.0, 0.0
    return r.get("Rss", 0) / 1024, r.get("Pss", 0) / 1024


def main() -> int:
    args = sys.argv[1:]
    out_file = None
    if args[:1] == ["--out"]:
        out_file, args = args[1], args[2:]
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    me = os.getpid()
    peak = {"rss": 0.0, "pss": 0.0}
    seen: set[int] = set()
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            rss = pss = 0.0
            for pid in _descendants(me):
                seen.add(pid)
                r, p = _memory(pid)
                rss += r
                pss += p
            peak["rss"], peak["pss"] = max(peak["rss"], rss), max(peak["pss"], pss)
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    t0 = time.perf_counter()
    stdout = open(out_file, "wb") if out_file else None
    child = subprocess.Popen(args, stdout=stdout)
    sampler.start()
    status = child.wait()
    while True:  # every descendant left, re-parented to us, until none is
        try:
            os.wait()
        except ChildProcessError:
            break
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    report = {"status": status, "wall_s": round(wall, 3), "cpu_s": round(ru.ru_utime + ru.ru_stime, 3),
              "user_s": round(ru.ru_utime, 3), "sys_s": round(ru.ru_stime, 3),
              "peak_rss_mib": round(peak["rss"], 1), "peak_pss_mib": round(peak["pss"], 1),
              "max_single_rss_mib": round(ru.ru_maxrss / 1024, 1), "processes": len(seen | {child.pid})}
    print(json.dumps(report), file=sys.stderr)
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
