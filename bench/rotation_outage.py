#!/usr/bin/env python3
"""Issue 13's target, measured: a 60 s output outage while a real Log4j 1.2 RollingFileAppender
(Debian's jar, tests/java/Log4j1Writer.java) writes 5,000 lines/s with a small MaxBackupIndex, so
that rotation deletes many files the stalled reader never reached. The agent (`shipper run`, a
real process) ships to the Fluentd Forward test peer (tests/peers/forward_server.py, acks on),
whose port is closed and connections cut for the outage, then opened again. Every line carries a
sequence number; at the end each one is looked for in what the peer stored.

The promise checked: every line delivered exactly once, or every line missing inside a loss the
agent counted (shipper_losses_total) and warned ("data lost … naming the file"). Printed as a
Markdown table (bench/README.md, "Output outage with rotation").

    .venv/bin/python bench/rotation_outage.py                      # 5,000 lines/s, 60 s outage, MaxBackupIndex 2
    .venv/bin/python bench/rotation_outage.py --rate 2000 --outage 20 --backups 1 --max-size 200000
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))
import run as benchrun  # noqa: E402  (Daemon, write_config, file_source, free_port, proc_rss_mib)

from tests.java.writers import Log4j, compile_writers  # noqa: E402
from tests.peers.forward_server import ForwardServer  # noqa: E402


def scrape(port: int) -> dict[str, float]:
    """The agent's /metrics, summed per metric name (labels dropped)."""
    out: dict[str, float] = {}
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except OSError:
        return out
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            name = name.split("{")[0]
            try:
                out[name] = out.get(name, 0.0) + float(value)
            except ValueError:
                pass
    return out


def held(port: int) -> tuple[int, int]:
    """Rotated files the agent holds open now, and the bytes of those already deleted."""
    try:
        st = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5).read())
    except (OSError, ValueError):
        return 0, 0
    live = [s.get("status") or {} for s in st.get("sources", {}).values()]
    return sum(x.get("held_files") or 0 for x in live), sum(x.get("held_bytes") or 0 for x in live)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=5000.0, help="lines per second")
    ap.add_argument("--outage", type=float, default=60.0, help="seconds the output is down")
    ap.add_argument("--before", type=float, default=10.0, help="seconds written before the outage")
    ap.add_argument("--after", type=float, default=10.0, help="seconds written after it")
    ap.add_argument("--backups", type=int, default=2, help="Log4j MaxBackupIndex")
    ap.add_argument("--max-size", type=int, default=1_000_000, help="Log4j MaxFileSize (bytes)")
    ap.add_argument("--pad", type=int, default=150, help="padding per line (bytes)")
    ap.add_argument("--freeze", type=float, default=0.0,
                    help="also SIGSTOP the agent this many seconds in the middle of the outage (what escapes "
                         "then must be counted and warned)")
    ap.add_argument("--catch-up", type=float, default=300.0, help="seconds allowed to deliver the rest")
    ap.add_argument("--out", default=None, help="work folder (default: a temporary one)")
    a = ap.parse_args()

    work = Path(a.out or tempfile.mkdtemp(prefix="rotation-outage-"))
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log4j = Log4j(compile_writers(work / "java"))
    peer = ForwardServer(mode="ack").start()
    http = benchrun.free_port()
    cfg = work / "shipper.yaml"
    cfg.write_text(
        f"state_dir: {work}/state\nhttp: {{listen: \"127.0.0.1:{http}\"}}\n"
        "sources:\n" + benchrun.file_source("app", [str(logs / "app.log")], "json") +
        "outputs:\n"
        f"  - type: fluentd\n    host: 127.0.0.1\n    port: {peer.port}\n    backoff_max: 5\n    flush_interval: 0.2\n")
    agent = benchrun.Daemon(cfg)
    if not agent.started.wait(60):
        print("the agent did not start:", "".join(agent.err[-10:]))
        return 1
    total = int(a.rate * (a.before + a.outage + a.after))
    writer = log4j.log4j1(logs / "app.log", a.max_size, a.backups, 0, total, a.rate, "x" * a.pad, wait=False)
    t0 = time.monotonic()
    samples: list[tuple[float, tuple[int, int], float]] = []  # (t, (held files, deleted bytes held), RSS MiB)
    stop_sampling = threading.Event()

    def sample() -> None:
        while not stop_sampling.is_set():
            samples.append((time.monotonic() - t0, held(http), benchrun.proc_rss_mib(agent.proc.pid)))
            stop_sampling.wait(1.0)

    threading.Thread(target=sample, daemon=True).start()
    time.sleep(a.before)
    peer.stop()  # Fluentd stopped: port closed, connections cut
    down_at = time.monotonic() - t0
    if a.freeze:
        time.sleep(max(0.0, (a.outage - a.freeze) / 2))
        os.kill(agent.proc.pid, signal.SIGSTOP)  # frozen (or starved of CPU): nothing holds the files
        time.sleep(a.freeze)
        os.kill(agent.proc.pid, signal.SIGCONT)
        time.sleep(max(0.0, (a.outage - a.freeze) / 2))
    else:
        time.sleep(a.outage)
    peer.start()
    up_at = time.monotonic() - t0
    writer.wait(timeout=a.after + a.outage + 120)
    written_at = time.monotonic() - t0

    def delivered() -> tuple[set[int], int]:
        seqs = [r.get("generic", {}).get("seq") for _tag, _t, r in list(peer.records)]
        return {s for s in seqs if isinstance(s, int)}, len(seqs)

    deadline = time.monotonic() + a.catch_up
    seen, stored = delivered()
    last_growth, last_n = time.monotonic(), len(seen)
    while time.monotonic() < deadline:
        seen, stored = delivered()
        if len(seen) >= total:
            break
        if len(seen) > last_n:
            last_growth, last_n = time.monotonic(), len(seen)
        elif time.monotonic() - last_growth > 30:
            break  # nothing more for 30 s: what is missing is not coming
        time.sleep(1.0)
    caught_up = time.monotonic() - t0
    time.sleep(3.0)  # let a repeat, if any, arrive
    seen, stored = delivered()
    metrics = scrape(http)
    stop_sampling.set()
    agent.stop()
    peer.stop()
    warned = [line for line in agent.err if "data lost" in line]
    missing = total - len(seen & set(range(total)))
    rotations = total * (a.pad + 20) // a.max_size
    peak_held = max((h[0] for _, h, _ in samples), default=0)
    peak_bytes = max((h[1] for _, h, _ in samples), default=0)
    rss = [r for _, _, r in samples if r]
    ok = stored == len(seen) and (missing == 0 or (warned and metrics.get("shipper_losses_total", 0) > 0))
    frozen = f", the agent frozen (SIGSTOP) {a.freeze:.0f} s of it" if a.freeze else ""
    print(f"### Output outage with rotation: {a.outage:.0f} s down{frozen}, Log4j MaxBackupIndex={a.backups}, "
          f"{a.rate:,.0f} lines/s\n")
    print(f"Real Log4j 1.2 RollingFileAppender, MaxFileSize {a.max_size:,} B, lines of ~{a.pad + 20} B (about "
          f"{rotations} rotations in all); fluentd output to the Forward test peer (acks on), its port closed "
          f"from {down_at:.0f} s to {up_at:.0f} s; writer done at {written_at:.0f} s.\n")
    print("| lines written | delivered (distinct) | duplicates | missing | losses counted | loss warnings "
          "| peak held files (deleted MB) | RSS MiB | all delivered at | verdict |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    print(f"| {total:,} | {len(seen):,} | {stored - len(seen):,} | {missing:,} | "
          f"{metrics.get('shipper_losses_total', 0):.0f} | {len(warned)} | {peak_held} ({peak_bytes / 1e6:.0f}) | "
          f"{min(rss, default=0):.0f}–{max(rss, default=0):.0f} | "
          f"{'%.0f s' % caught_up if len(seen) >= total else 'the rest never (waited to %.0f s)' % caught_up} | "
          f"{'kept' if ok else 'BROKEN'} |")
    gone = sorted(set(range(total)) - seen)
    runs = [] if not gone else [[gone[0], gone[0]]]
    for x in gone[1:]:
        if x == runs[-1][1] + 1:
            runs[-1][1] = x
        else:
            runs.append([x, x])
    if runs:
        print(f"\nMissing lines in {len(runs)} runs of consecutive lines: "
              + ", ".join(f"{lo:,}-{hi:,} ({hi - lo + 1:,})" for lo, hi in runs[:12]))
    for line in warned[:5]:
        print("\n    " + line.strip()[:300])
    print("\nHeld files over time (s: files): " + ", ".join(f"{t:.0f}: {h[0]}" for t, h, _ in samples[::5]))
    print(f"\n(work folder: {work})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
