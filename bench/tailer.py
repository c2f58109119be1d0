"""Tailer benchmark: lines lost/duplicated under a real Log4j 1.2 writer, beside pygtail 0.14.0,
at several poll intervals; and raw read throughput against `cat` and pygtail.

    .venv/bin/python bench/tailer.py            # ~1.5 minutes; prints a Markdown table

Both followers read the same files at the same interval (each in its own thread); lines are
JSON {"seq":N,...} so loss and duplicates are counted exactly.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from pygtail import Pygtail

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from shipper.tail.tailer import Tailer  # noqa: E402
from tests.java.writers import Log4j, compile_writers  # noqa: E402

RATE = 1000  # lines/s
PAD = "p" * 78  # ~100-byte lines: a 100 KB file rotates about once a second
DURATION = 12.0  # seconds of writing per poll interval
MAX_FILE = 100_000
BACKUPS = 10


def seqs(lines) -> list[int]:
    out = []
    for line in lines:
        try:
            out.append(json.loads(line)["seq"])
        except ValueError:
            out.append(-1)  # garbage (pygtail seeking a stale offset into a new file)
    return out


def score(got: list[int], total: int) -> tuple[int, int, int]:
    uniq = set(s for s in got if s >= 0)
    return total - len(uniq & set(range(total))), len(got) - len(set(got)), sum(1 for s in got if s < 0)


def loss_run(classes: Path, interval: float) -> dict:
    d = Path(tempfile.mkdtemp(prefix="benchtail"))
    log = d / "useraction.log"
    log.touch()
    total = int(RATE * DURATION)
    ours: list[bytes] = []
    theirs: list[str] = []
    stop = threading.Event()
    state: dict = {}

    def emit(chunk):
        ours.extend(chunk.records)

    tailer = Tailer([str(log)], [], str(d), state)

    def run_ours():
        while True:
            tailer.scan()
            tailer.read_all(emit, threading.Event())
            if stop.wait(interval):
                tailer.scan()
                tailer.read_all(emit, threading.Event())
                return

    def poll_pygtail():
        try:
            theirs.extend(Pygtail(str(log), offset_file=str(d / "pygtail.offset")).readlines())
        except Exception as e:  # pygtail crashes when the path is briefly missing
            theirs.append(f"!{type(e).__name__}")

    def run_pygtail():
        while True:
            poll_pygtail()
            if stop.wait(interval):
                poll_pygtail()
                return

    threads = [threading.Thread(target=run_ours), threading.Thread(target=run_pygtail)]
    for t in threads:
        t.start()
    Log4j(classes).log4j1(log, MAX_FILE, BACKUPS, 0, total, rate=RATE, pad=PAD, timeout=None)
    stop.set()
    for t in threads:
        t.join()
    crashes = sum(1 for line in theirs if line.startswith("!"))
    theirs_lines = [line for line in theirs if not line.startswith("!")]
    o = score(seqs(ours), total)
    p = score(seqs(theirs_lines), total)
    shutil.rmtree(d)
    return {"interval": interval, "total": total, "ours": o, "pygtail": p, "pygtail_errors": crashes,
            "ours_reported_loss": tailer.losses}


def throughput(mb: int = 200) -> dict:
    d = Path(tempfile.mkdtemp(prefix="benchtp"))
    path = d / "big.log"
    line = (json.dumps({"seq": 0, "pad": PAD}) + "\n").encode()
    with open(path, "wb") as f:
        chunk = line * 10000
        for _ in range(mb * 1024 * 1024 // len(chunk)):
            f.write(chunk)
    size = path.stat().st_size
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL)  # warm the page cache
    out = {}
    t = time.perf_counter()
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)
    out["cat"] = size / (time.perf_counter() - t) / 1e6
    t = time.perf_counter()
    n = 0
    for _ in Pygtail(str(path), offset_file=str(d / "o")):
        n += 1
    out["pygtail"] = size / (time.perf_counter() - t) / 1e6
    count = [0]

    def emit(c):
        count[0] += len(c.records)

    tailer = Tailer([str(path)], [], str(d), {})
    t = time.perf_counter()
    tailer.scan()
    tailer.read_all(emit, threading.Event())
    out["shipper.tail"] = size / (time.perf_counter() - t) / 1e6
    assert count[0] == n, (count[0], n)
    shutil.rmtree(d)
    out["mb"] = size / 1e6
    return out


def main() -> None:
    classes = compile_writers(Path(tempfile.mkdtemp(prefix="benchjava")))
    print(f"Log4j 1.2 RollingFileAppender, {RATE} lines/s of ~{len(PAD) + 22} bytes, MaxFileSize={MAX_FILE}, "
          f"MaxBackupIndex={BACKUPS}, {DURATION:.0f} s per interval\n")
    print("| poll interval | lines written | shipper.tail lost / dup | pygtail lost / dup / garbage lines | pygtail exceptions |")
    print("|---|---|---|---|---|")
    for interval in (0.2, 1.0, 5.0):
        r = loss_run(classes, interval)
        o, p = r["ours"], r["pygtail"]
        print(f"| {interval} s | {r['total']} | {o[0]} / {o[1]} | {p[0]} ({100 * p[0] / r['total']:.0f} %) / {p[1]} / {p[2]} "
              f"| {r['pygtail_errors']} |", flush=True)
    tp = throughput()
    print(f"\nRaw read throughput over a {tp['mb']:.0f} MB file in the page cache (lines counted, no parsing):\n")
    print("| reader | MB/s |\n|---|---|")
    for k in ("cat", "shipper.tail", "pygtail"):
        print(f"| {k} | {tp[k]:.0f} |")


if __name__ == "__main__":
    main()
