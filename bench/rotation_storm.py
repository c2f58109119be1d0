#!/usr/bin/env python3
"""Issue 21's rotation storm, measured: a real Log4j 1.2 RollingFileAppender (Debian's jar,
tests/java/Log4j1Writer.java) with a tiny MaxFileSize and MaxBackupIndex 10 writes at increasing
rates, so a rotation comes every few milliseconds; a real `shipper run` with a healthy output
(stdout into a file). At each rate: how many lines arrive, how many are missing, and whether what
is missing was counted (shipper_losses_total) and warned ("data lost …"). The rate where lines
start to go missing is the storm rate the agent keeps up with on this machine.

    .venv/bin/python bench/rotation_storm.py                        # 2,000 … 20,000 lines/s, 40,000 lines each
    .venv/bin/python bench/rotation_storm.py --rates 5000,10000 --lines 20000 --max-size 2048
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import orjson

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))
import run as benchrun  # noqa: E402  (Daemon, file_source, free_port)

from tests.java.writers import Log4j, compile_writers  # noqa: E402


def losses_counted(port: int) -> float:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except OSError:
        return float("nan")
    return sum(float(line.rpartition(" ")[2]) for line in text.splitlines()
               if line.startswith("shipper_losses_total"))


def delivered(out: Path) -> tuple[set[int], int]:
    seqs = []
    with open(out, "rb") as f:
        for line in f:
            try:
                seqs.append(orjson.loads(line)["generic"]["seq"])
            except (ValueError, KeyError, TypeError):
                pass
    return set(seqs), len(seqs)


def one_rate(log4j: Log4j, work: Path, rate: float, lines: int, max_size: int, backups: int) -> dict:
    d = work / f"rate{int(rate)}"
    logs = d / "logs"
    logs.mkdir(parents=True)
    http = benchrun.free_port()
    cfg = d / "shipper.yaml"
    cfg.write_text(f"state_dir: {d}/state\nhttp: {{listen: \"127.0.0.1:{http}\"}}\nsources:\n"
                   + benchrun.file_source("storm", [str(logs / "app.log")], "json", "    poll_interval: 0.2\n")
                   + "outputs:\n" + benchrun.STDOUT)
    out = d / "out.jsonl"
    with open(out, "wb") as sink:
        agent = benchrun.Daemon(cfg, stdout=sink)
        if not agent.started.wait(60):
            raise RuntimeError("the agent did not start: " + "".join(agent.err[-10:]))
        t0 = time.monotonic()
        log4j.log4j1(logs / "app.log", max_size, backups, 0, lines, rate, "x" * 100, timeout=600)
        took = time.monotonic() - t0
        # Healthy output, but a loaded machine: wait until all arrived or nothing more for 30 s.
        last, n = time.monotonic(), -1
        while time.monotonic() - last < 30 and n < lines:
            seen, _ = delivered(out)
            if len(seen) != n:
                last, n = time.monotonic(), len(seen)
            time.sleep(0.5)
        counted = losses_counted(http)
        agent.stop()
    (d / "agent.err").write_text("".join(agent.err))
    seen, stored = delivered(out)
    warned = [line for line in agent.err if "data lost" in line or "data possibly lost" in line]
    # Whole files counted as escaped (each warning names how many: "N", or "at most N (at least M"
    # where some may be files the tailer read): against the missing lines, at ~max_size/121 lines a
    # file, this says how much of what is missing was counted.
    files = least = 0
    for line in warned:
        for most, at_least in re.findall(r"were in (?:at most )?(\d+) (?:\(at least (\d+))?", line):
            files += int(most)
            least += int(at_least or most)
    return {"rate": rate, "achieved": lines / took, "rotations": lines * 121 / max_size / took,
            "delivered": len(seen), "duplicates": stored - len(seen), "missing": lines - len(seen & set(range(lines))),
            "counted": counted, "warned": len(warned), "files": files, "least": least,
            "lines_per_file": max_size / 121, "first_warning": warned[0].strip() if warned else ""}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="2000,5000,10000,20000", help="lines per second, comma separated")
    ap.add_argument("--lines", type=int, default=40_000)
    ap.add_argument("--max-size", type=int, default=2048, help="Log4j MaxFileSize (bytes): ~17 lines of ~121 B")
    ap.add_argument("--backups", type=int, default=10, help="Log4j MaxBackupIndex")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    work = Path(a.out or tempfile.mkdtemp(prefix="rotation-storm-"))
    log4j = Log4j(compile_writers(work / "java"))
    rows = [one_rate(log4j, work, float(r), a.lines, a.max_size, a.backups) for r in a.rates.split(",")]
    print(f"### Rotation storm: Log4j 1.2 MaxFileSize {a.max_size:,} B, MaxBackupIndex {a.backups}, "
          f"{a.lines:,} lines of ~121 B per rate, healthy output\n")
    print("| rate asked (lines/s) | achieved | rotations/s | delivered | duplicates | missing (~files) | losses counted "
          "| loss warnings | files named in them: at most (~lines) | at least (~lines) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        lpf = r["lines_per_file"]
        print(f"| {r['rate']:,.0f} | {r['achieved']:,.0f} | {r['rotations']:,.0f} | {r['delivered']:,} | "
              f"{r['duplicates']:,} | {r['missing']:,} (~{r['missing'] / lpf:,.0f}) | {r['counted']:.0f} | {r['warned']} | "
              f"{r['files']:,} (~{r['files'] * lpf:,.0f}) | {r['least']:,} (~{r['least'] * lpf:,.0f}) |")
    for r in rows:
        if r["first_warning"]:
            print(f"\n{r['rate']:,.0f}/s, first warning: {r['first_warning'][:300]}")
    print(f"\n(work folder: {work})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
