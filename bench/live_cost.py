#!/usr/bin/env python3
"""Issue 19's live cost: CPU per event of `shipper run` (defaults) following 1 or 200 files written at
100, 1,000 and 10,000 events/s in total, the idle CPU with the files quiet, and the RSS.

    .venv/bin/python bench/live_cost.py                       # files 1 and 200, 20 s a phase (~4 min)
    .venv/bin/python bench/live_cost.py --files 200 --rates 1000 --seconds 10

A Python writer appends distinct Datameer lines (bench/corpus.py --distinct shapes) round-robin over the
files every 10 ms; shipper's stdout goes to a file whose lines are counted at the end (every line written
must be there once). A phase ends once what it wrote is shipped (at most 60 s after: on a loaded host the
agent may lag, and its catching up belongs to the phase); the agent is stopped once everything is
shipped (at most 120 s), and should the stop leave lines unshipped a `run --once` on its checkpoints ships
them (said in the table): a line missing after that is lost. CPU is user+sys of the agent and every descendant from /proc, taken at the start and the
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
from cpu_per_event import ENV, compile_agent  # noqa: E402
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


def tree_memory(root: int) -> tuple[float, float]:
    """RSS and PSS of the tree, MiB. RSS summed counts the pages parent and children share (shared libraries,
    pages shared after a fork) once per process; PSS shares them out, so its sum is what the tree costs the host."""
    both = [_memory(pid) for pid in [root, *_descendants(root)]]
    return sum(r for r, _ in both), sum(p for _, p in both)


def count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))


def lines_for(n: int, out: Path) -> list[bytes]:
    path = corpora.corpus("datameer", n, out / "corpus", distinct=True)
    return path.read_bytes().splitlines()


def phase(agent: subprocess.Popen, files: list, lines: list[bytes], at: int, rate: int, seconds: float,
          out: Path) -> tuple[float, tuple[float, float], int, float]:
    """Write `rate` lines/s for `seconds` (0: quiet), then wait until they are shipped (at most 60 s more: a
    loaded host may lag): (CPU s of the tree, peak (RSS, PSS) MiB of the tree, lines written, seconds the phase took)."""
    cpu0, peak, written = tree_cpu(agent.pid), (0.0, 0.0), 0
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
            peak, next_rss = peaks(peak, tree_memory(agent.pid)), now + 0.5
        time.sleep(0.01)
    time.sleep(1.0)  # what was written is read and shipped (the gather window is 50 ms)
    deadline = time.monotonic() + 60
    while count_lines(out) < at + written and time.monotonic() < deadline:
        time.sleep(0.2)
    return tree_cpu(agent.pid) - cpu0, peaks(peak, tree_memory(agent.pid)), written, time.monotonic() - t0


def peaks(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    return max(a[0], b[0]), max(a[1], b[1])


def run(file_counts: list[int], rates: list[int], seconds: float, out: Path, say=print) -> None:
    lines = lines_for(max(rates) * int(seconds) * len(rates) + 1000, out)
    compile_agent()
    say(f"`bench/live_cost.py --seconds {seconds:g}`: `shipper run` with its defaults (file source, Datameer parser, "
        "stdout to a file); CPU of the agent's process tree per phase\n")
    say("| files | events/s written | events | CPU % of a core | CPU µs/event | peak RSS MiB (tree) "
        "| peak PSS MiB (tree) |")
    say("|---:|---:|---:|---:|---:|---:|---:|")
    for n in file_counts:
        d = out / f"live-cost-{n}"
        subprocess.run(["rm", "-rf", str(d)], check=True)
        (d / "logs").mkdir(parents=True)
        files = [open(d / "logs" / f"f{i:03d}.log", "ab") for i in range(n)]
        cfg = d / "shipper.yaml"
        cfg.write_text(f"state_dir: {d / 'state'}\nsources:\n  - name: live\n    type: file\n"
                       f"    paths: ['{d / 'logs'}/*.log']\n    parser: datameer\noutputs:\n  - type: stdout\n")
        stdout = open(d / "out.ndjson", "wb")
        agent = subprocess.Popen([*SHIPPER, "run", "-c", str(cfg)], stdout=stdout, stderr=subprocess.DEVNULL, env=ENV)
        try:
            time.sleep(5.0)  # started, every file found
            at = 0
            cpu, (rss, pss), _, took = phase(agent, files, lines, at, 0, seconds, d / "out.ndjson")
            say(f"| {n} | idle | 0 | {cpu / took * 100:.2f} | — | {rss:.0f} | {pss:.0f} |")
            for rate in rates:
                cpu, (rss, pss), written, took = phase(agent, files, lines, at, rate, seconds, d / "out.ndjson")
                at += written
                say(f"| {n} | {rate:,} | {written:,} | {cpu / took * 100:.1f} | {cpu / written * 1e6:.1f} | {rss:.0f} "
                    f"| {pss:.0f} |")
            # Every line shipped before the stop (a loaded host may still be catching up): at most 120 s more.
            deadline = time.monotonic() + 120
            while count_lines(d / "out.ndjson") < at and time.monotonic() < deadline:
                time.sleep(0.5)
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(60)
            for f in files:
                f.close()
        got = count_lines(d / "out.ndjson")
        late = ""
        if got != at:  # what the stop left unshipped is read by the next run, from the checkpoints
            subprocess.run([*SHIPPER, "run", "--once", "-c", str(cfg)], stdout=stdout, stderr=subprocess.DEVNULL, timeout=600)
            late = f" ({count_lines(d / 'out.ndjson') - got:,} of them by a `run --once` after the stop)"
            got = count_lines(d / "out.ndjson")
        stdout.close()
        say(f"| {n} | (all phases) | {at:,} written | {got:,} shipped{late} | "
            f"{'none lost or repeated' if got == at else 'MISMATCH'} | | |")
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
