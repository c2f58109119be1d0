"""How fast `shipper verify` checks a day of a busy workspace (issue 18: "a million events in well
under a minute"). The trail is the agent's own: `shipper run --once` with `integrity` over a Datameer
corpus to stdout (made once, kept in --out). Then `shipper verify` over it with 1 and 2 reading
processes, and over the same events as Fluentd's out_file writes them (`time<TAB>tag<TAB>record`,
another JSON writer, `_shipper_id` added: the lines whose repeated-key check was the slow one).

Wall-clock to exit; CPU is the verify process's own (with one process it is all of it; reading
processes are the forkserver's children, which rusage misses).
Run: .venv/bin/python bench/verify.py [--records 1000000]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import corpus  # noqa: E402

SHIPPER = [sys.executable, "-m", "shipper.cli"]
KEY = "bench key 0123456789abcdef\n"


def _trail(out: Path, records: int) -> Path:
    trail = out / f"trail-{records}.jsonl"
    if trail.exists():
        return trail
    log = corpus("datameer", records, out)
    cfg = out / "run.yaml"
    cfg.write_text(f"""
state_dir: {out / 'state'}
integrity: {{key_file: {out / 'key'}}}
sources:
  - {{name: dm, type: file, paths: [{log}], parser: datameer}}
outputs:
  - type: stdout
""")
    tmp = trail.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], stdout=f, check=True)
    tmp.rename(trail)
    return trail


def _out_file(trail: Path) -> Path:
    """The same events as Fluentd's out_file writes them (Python's json standing in for Ruby's)."""
    path = trail.with_name(trail.stem + "-out_file.log")
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    with open(trail, "rb") as src, open(tmp, "w") as dst:
        for n, line in enumerate(src):
            rec = json.loads(line)
            rec["_shipper_id"] = f"{n:032x}"  # a stable id is 32 hex digits (shipper.ids)
            dst.write(f"2026-12-04T10:00:00+0000\tshipper.dm\t{json.dumps(rec, ensure_ascii=False, separators=(',', ':'))}\n")
    tmp.rename(path)
    return path


def _verify(trail: Path, key: Path, workers: int) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(SHIPPER + ["verify", "--workers", str(workers), "--key-file", str(key), str(trail)],
                       capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"verify failed on an honest trail:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--out", default="/tmp/shipper-bench/verify")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    key = out / "key"
    key.write_text(KEY)
    key.chmod(0o600)
    trail = _trail(out, args.records)
    events = sum(1 for _ in open(trail, "rb"))
    print(f"| {events:,} events ({trail.stat().st_size / 1e6:,.0f} MB), {os.cpu_count()} CPUs, load "
          f"{os.getloadavg()[0]:.1f} | processes | wall s | events/s | CPU µs/event (verify process) |")
    print("|---|---|---|---|---|")
    for name, path in (("stdout capture", trail), ("Fluentd out_file", _out_file(trail))):
        for workers in (1, 2):
            wall, cpu = _verify(path, key, workers)
            print(f"| {name} | {workers} | {wall:.1f} | {events / wall:,.0f} | {cpu / events * 1e6:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
