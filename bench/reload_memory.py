"""What each reload that restarts a source costs in memory and descriptors (issue 23).

    python bench/reload_memory.py --reloads 150 --every 1.5            # the figures in bench/README.md
    python bench/reload_memory.py --reloads 0 --seconds 225            # the control: rotations, no reload
    python bench/reload_memory.py --reloads 150 --every 1.5 --trim     # what malloc_trim(0) gives back

One agent (`shipper run`, under bench/soak_probe.py) follows --files files written at --rate lines/s
in total, rotated by rename at --rotate-bytes (3 backups: the oldest deleted); its output is a
Fluentd peer that stays up. Every --every seconds a SIGHUP changes the tags of half the sources
(each a restart: a new tailer loads its checkpoint, the holder and the open files are handed over).
At each tenth of the run the probe records RSS, descriptors (and how many are deleted files), live
pymalloc blocks, glibc's heap in use and free, and the objects the GC tracks. The report gives each
sample and the growth per reload between the first tenth (warm) and the end: memory the agent's
objects hold (pymalloc blocks, glibc in use) apart from memory the allocators keep after it was
freed (glibc free, pymalloc arenas), which is fragmentation, not a leak. --trim calls
malloc_trim(0) at each sample and records what it gave back. Not a timed test: figures for the
README.
"""
from __future__ import annotations

import argparse
import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.soak import TimedPeer, Writer, config, sample  # noqa: E402


def deleted_fds(pid: int) -> int:
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}").endswith(" (deleted)")
        except OSError:
            pass
    return n


def probe(agent: subprocess.Popen, path: Path) -> dict:
    """Ask bench/soak_probe.py for one record and wait for it."""
    before = len(path.read_text().splitlines()) if path.exists() else 0
    agent.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) > before:
            try:
                return orjson.loads(lines[before])
            except orjson.JSONDecodeError:
                pass  # (being written)
        time.sleep(0.2)
    raise TimeoutError("the probe did not answer")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reloads", type=int, default=150)
    ap.add_argument("--every", type=float, default=1.5, help="seconds between reloads")
    ap.add_argument("--seconds", type=float, default=0, help="run this long (default: reloads x every)")
    ap.add_argument("--files", type=int, default=5)
    ap.add_argument("--rate", type=float, default=200.0, help="lines per second, all files together")
    ap.add_argument("--rotate-bytes", type=int, default=16 * 1024)
    ap.add_argument("--trim", action="store_true", help="malloc_trim(0) at each sample (what it gives back)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/shipper-bench/reload_memory"))
    args = ap.parse_args()
    seconds = args.seconds or args.reloads * args.every

    d = args.out
    subprocess.run(["rm", "-rf", str(d)], check=True)
    (d / "logs").mkdir(parents=True)
    peer = TimedPeer()
    peer.start()
    cfg = d / "shipper.yaml"
    generation = 0
    cfg.write_text(config(d, args.files, peer.port, generation))
    writer = Writer(d, args.files, args.rate, args.rotate_bytes)
    writer.start()
    errlog = open(d / "agent.log", "wb")
    env = {**os.environ, "SHIPPER_TRACE_DIR": str(d), **({"SHIPPER_PROBE_TRIM": "1"} if args.trim else {})}
    agent = subprocess.Popen([str(REPO / ".venv/bin/python"), str(REPO / "bench/soak_probe.py"), "run", "-c", str(cfg)],
                             stdout=subprocess.DEVNULL, stderr=errlog, env=env)
    up_by = time.monotonic() + 120  # a SIGHUP before the agent's handler is set would end it
    while b"msg=started" not in (d / "agent.log").read_bytes() and agent.poll() is None and time.monotonic() < up_by:
        time.sleep(0.2)
    rows: list[tuple[int, float, dict, dict, int]] = []
    t0 = time.monotonic()
    reloads = 0
    next_sample, step = 0.0, seconds / 10
    try:
        while agent.poll() is None:
            now = time.monotonic() - t0
            if now >= next_sample:
                rows.append((reloads, now, sample(agent.pid, d / "state"), probe(agent, d / "probe.jsonl"),
                             deleted_fds(agent.pid)))
                next_sample += step
                if now >= seconds:
                    break
            if args.reloads and reloads < args.reloads and now >= (reloads + 1) * args.every:
                generation += 1
                cfg.write_text(config(d, args.files, peer.port, generation))
                agent.send_signal(signal.SIGHUP)
                reloads += 1
            time.sleep(0.05)
    finally:
        writer.stop.set()
        writer.join()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and len({r.get("user", {}).get("name") for _, _, r in list(peer.records)}) < writer.written:
        time.sleep(1)
    agent.send_signal(signal.SIGTERM)
    agent.wait(120)
    names = collections.Counter(r.get("user", {}).get("name") for _, _, r in list(peer.records))
    dups = sum(c - 1 for c in names.values() if c > 1)
    lost = writer.written - len([n for n in names if n])
    peer.stop()

    print(f"## {reloads} reloads {args.every:g} s apart, {seconds:.0f} s, {args.files} files, {args.rate:.0f} lines/s, "
          f"{writer.rotations} rotations of {args.rotate_bytes // 1024} KiB")
    print(f"lines written {writer.written}, duplicates {dups}, lost {lost}; agent exit {agent.returncode}")
    print()
    print("| reloads | t (s) | RSS MiB | fds (deleted) | pymalloc in blocks | arenas | glibc in use | glibc free "
          "| gc objects | state KiB |" + (" trimmed MiB |" if args.trim else ""))
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if args.trim else ""))
    mib = 2 ** 20
    for n, t, s, p, dl in rows:
        pm, gl = p["pymalloc"], p["glibc"]
        print(f"| {n} | {t:.0f} | {s['rss_kib'] / 1024:.1f} | {s['fds']} ({dl}) | {pm.get('in_blocks', 0) / mib:.1f} "
              f"| {pm.get('arena_bytes', 0) / mib:.1f} | {gl['in_use'] / mib:.1f} | {gl['free'] / mib:.1f} "
              f"| {p['gc_objects']} | {s['state_bytes'] / 1024:.0f} |"
              + (f" {p.get('trimmed_kib', 0) / 1024:.1f} |" if args.trim else ""))
    (n0, _, s0, p0, d0), (n1, _, s1, p1, d1) = rows[1], rows[-1]
    per = max(1, n1 - n0) if reloads else None
    label = f"per reload (reloads {n0} to {n1})" if per else "over the run (no reload)"
    div = per or 1

    def kib(a: float, b: float) -> str:
        return f"{(b - a) / 1024 / div:+.1f} KiB"

    print()
    print(f"{label}: RSS {(s1['rss_kib'] - s0['rss_kib']) / div:+.1f} KiB, fds {(s1['fds'] - s0['fds']) / div:+.2f} "
          f"(deleted {(d1 - d0) / div:+.2f}), pymalloc in blocks "
          f"{kib(p0['pymalloc'].get('in_blocks', 0), p1['pymalloc'].get('in_blocks', 0))}, arenas "
          f"{kib(p0['pymalloc'].get('arena_bytes', 0), p1['pymalloc'].get('arena_bytes', 0))}, glibc in use "
          f"{kib(p0['glibc']['in_use'], p1['glibc']['in_use'])}, glibc free {kib(p0['glibc']['free'], p1['glibc']['free'])}, "
          f"gc objects {(p1['gc_objects'] - p0['gc_objects']) / div:+.1f}")
    print("live objects by type at the end: " + ", ".join(f"{k} {c}" for k, c in p1["top_types"]))
    return 0 if dups == 0 and lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
