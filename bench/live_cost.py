#!/usr/bin/env python3
"""Issue 19's live cost: CPU per event of `shipper run` (defaults) following 1 or 200 files written at
100, 1,000 and 10,000 events/s in total, the idle CPU with the files quiet, and the RSS.

    .venv/bin/python bench/live_cost.py                       # files 1 and 200, 20 s a phase (~4 min)
    .venv/bin/python bench/live_cost.py --files 200 --rates 1000 --seconds 10

A Python writer appends distinct Datameer lines (bench/corpus.py --distinct shapes) round-robin over the
files every 10 ms; shipper's stdout goes to a file whose lines are counted at the end (every line written
must be there once). CPU is user+sys of the agent and every descendant from /proc, taken at the start and the
end of a phase (a worker process that ended inside a phase would be missed: at these rates the default
`parse_workers: auto` starts none); RSS is the peak of the tree's sum sampled every 0.5 s.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import corpus as corpora  # noqa: E402
from tree_time import _descendants, _memory  # noqa: E402

PY = sys.executable
SHIPPER = [str(Path(PY).with_name("shipper"))] if Path(PY).with_name("shipper").exists() else [PY, "-m", "shipper.cli"]
TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(root: int) -> float:
    total = 0.0
    for pid in [root, *_descendants(root)]:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICK
        except (OSError, ValueError, IndexError):
            pass
    return total


def tree_rss(root: int) -> float:
    return sum(_memory(pid)[0] for pid in [root, *_descendants(root)])


def lines_for(n: int, out: Path) -> list[bytes]:
    path = corpora.corpus("datameer", n, out / "corpus", distinct=True)
    return path.read_bytes().splitlines()


def phase(agent: subprocess.Popen, files: list, lines: list[bytes], at: int, rate: int, seconds: float) -> tuple[float, float, int]:
    """Write `rate` lines/s for `seconds` (0: quiet): (CPU s of the tree, peak RSS MiB, lines written)."""
    cpu0, peak, written = tree_cpu(agent.pid), 0.0, 0
    t0 = next_rss = time.monotonic()
    while (now := time.monotonic()) - t0 < seconds:
        due = int(rate * (now - t0)) - written
        for _ in range(max(0, due)):
            f = files[(at + written) % len(files)]
            f.write(lines[(at + written) % len(lines)] + b"\n")
            written += 1
        for f in files:
            f.flush()
        if now >= next_rss:
            peak, next_rss = max(peak, tree_rss(agent.pid)), now + 0.5
        time.sleep(0.01)
    time.sleep(1.0)  # what was written is read and shipped (the gather window is 50 ms)
    return tree_cpu(agent.pid) - cpu0, max(peak, tree_rss(agent.pid)), written


def run(file_counts: list[int], rates: list[int], seconds: float, out: Path, say=print) -> None:
    lines = lines_for(max(rates) * int(seconds) * len(rates) + 1000, out)
    say(f"`bench/live_cost.py --seconds {seconds:g}`: `shipper run` with its defaults (file source, Datameer parser, "
        "stdout to a file); CPU of the agent's process tree per phase\n")
    say("| files | events/s written | events | CPU % of a core | CPU µs/event | peak RSS MiB (tree) |")
    say("|---:|---:|---:|---:|---:|---:|")
    for n in file_counts:
        d = out / f"live-cost-{n}"
        subprocess.run(["rm", "-rf", str(d)], check=True)
        (d / "logs").mkdir(parents=True)
        files = [open(d / "logs" / f"f{i:03d}.log", "ab") for i in range(n)]
        cfg = d / "shipper.yaml"
        cfg.write_text(f"state_dir: {d / 'state'}\nsources:\n  - name: live\n    type: file\n"
                       f"    paths: ['{d / 'logs'}/*.log']\n    parser: datameer\noutputs:\n  - type: stdout\n")
        stdout = open(d / "out.ndjson", "wb")
        agent = subprocess.Popen([*SHIPPER, "run", "-c", str(cfg)], stdout=stdout, stderr=subprocess.DEVNULL)
        try:
            time.sleep(5.0)  # started, every file found
            at = 0
            cpu, rss, _ = phase(agent, files, lines, at, 0, seconds)
            say(f"| {n} | idle | 0 | {cpu / (seconds + 1) * 100:.2f} | — | {rss:.0f} |")
            for rate in rates:
                cpu, rss, written = phase(agent, files, lines, at, rate, seconds)
                at += written
                say(f"| {n} | {rate:,} | {written:,} | {cpu / (seconds + 1) * 100:.1f} | {cpu / written * 1e6:.1f} | {rss:.0f} |")
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(60)
            stdout.close()
            for f in files:
                f.close()
        got = sum(1 for _ in open(d / "out.ndjson", "rb"))
        say(f"| {n} | (all phases) | {at:,} written | {got:,} shipped | {'none lost or repeated' if got == at else 'MISMATCH'} | |")
    say()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", default="1,200")
    ap.add_argument("--rates", default="100,1000,10000")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "shipper-bench")
    a = ap.parse_args()
    run([int(x) for x in a.files.split(",")], [int(x) for x in a.rates.split(",")], a.seconds, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
