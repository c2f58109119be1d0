"""Backfill of a storage account's hourly Databricks blobs: the `azure_blob` source against Azurite
beside the `file` source on the same lines laid out the same way on local disk (what a synced tree
gives), both through `shipper run --once` → databricks parser → stdout redirected to a file.

    .venv/bin/python bench/azure_blob.py                       # 200,000 records in 3 × 240 hourly blobs
    .venv/bin/python bench/azure_blob.py --records 50000 --hours 48 --categories 2

The corpus is bench/corpus.py's Databricks corpus; each category's share is cut into `--hours`
consecutive hourly blobs (`insights-logs-<cat>/resourceId=/…/y=/m=/d=/h=/m=00/PT1H.json`). Azurite
(tests/azurite/, installed by scripts/install-test-deps.sh) runs on loopback with its data under
--out, so the wall time is shipper's cost plus the emulator's, not Azure's network. Prints a Markdown
table: events/s, CPU µs per event of shipper's process tree (Azurite's not included), peak PSS.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
import corpus as corpora  # noqa: E402
import parse_workers as pw  # noqa: E402

from tests.azurite import ACCOUNT, DATABRICKS_ROOT, KEY, Azurite, hour_blob  # noqa: E402

PY = sys.executable
SHIPPER = [str(Path(PY).with_name("shipper"))] if Path(PY).with_name("shipper").exists() else [PY, "-m", "shipper.cli"]
CATEGORIES = ["accounts", "clusters", "jobs", "notebook", "sqlPermissions", "workspace"]


def layout(lines: list[bytes], cats: int, hours: int, start: datetime):
    """(category, blob name, bytes) for every hourly blob: the corpus dealt out in order."""
    blobs = cats * hours
    per = -(-len(lines) // blobs)
    i = 0
    for c in range(cats):
        for h in range(hours):
            t = start + timedelta(hours=h)
            chunk = lines[i : i + per]
            i += per
            if chunk:
                yield (f"insights-logs-{CATEGORIES[c % len(CATEGORIES)].lower()}",
                       hour_blob(DATABRICKS_ROOT, t.year, t.month, t.day, t.hour), b"".join(chunk))


def config(path: Path, state: Path, source: str) -> Path:
    path.write_text(f"state_dir: {state}\nsources:\n{source}outputs:\n  - type: stdout\n")
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--hours", type=int, default=240)
    ap.add_argument("--categories", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("/tmp/shipper-bench"))
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    src = corpora.corpus("databricks", a.records, a.out / "corpus")
    lines = src.read_bytes().splitlines(keepends=True)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    work = Path(tempfile.mkdtemp(prefix="bench-azure-", dir=a.out))
    az = Azurite(work)
    try:
        tree = work / "tree"
        nbytes = 0
        made = set()
        for cat, name, data in layout(lines, a.categories, a.hours, start):
            nbytes += len(data)
            if cat not in made:
                az.container(cat)
                made.add(cat)
            az.client.get_blob_client(cat, name).upload_blob(data, blob_type="AppendBlob")
            f = tree / cat / name
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(data)
        (work / "key").write_text(KEY + "\n")
        (work / "key").chmod(0o600)
        blob_src = (f"  - name: dbx\n    type: azure_blob\n    parser: databricks\n    account_url: {az.url}\n"
                    f'    containers: ["insights-logs-*"]\n    account_name: {ACCOUNT}\n'
                    f"    account_key_file: {work / 'key'}\n    max_line_bytes: 4194304\n")
        file_src = (f"  - name: dbx\n    type: file\n    parser: databricks\n"
                    f'    paths: ["{tree}/insights-logs-*/**/PT1H.json"]\n    max_line_bytes: 4194304\n')
        print(f"### Backfill of {a.categories * a.hours} hourly blobs ({a.records:,} Databricks records, "
              f"{nbytes / 2**20:.0f} MiB): `azure_blob` on Azurite beside `file` on the same lines\n")
        print("| source | events | wall s | events/s | CPU µs/event (shipper tree) | peak PSS MiB | processes |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        runs = (("file (local tree)", file_src), ("azure_blob, read_ahead 1 (one blob at a time)", blob_src + "    read_ahead: 1\n"),
                ("azure_blob, read_ahead 4 (default)", blob_src))
        for n, (label, source) in enumerate(runs):
            state = work / f"state-{n}"
            cfg = config(work / f"run{n}.yaml", state, source)
            out = work / "events.ndjson"
            wall, cpu, _, pss, procs = pw.measured_tree([*SHIPPER, "run", "--once", "-c", str(cfg)], out)
            events = pw.count_lines(out)
            out.unlink()
            print(f"| {label} | {events:,} | {wall:.1f} | {events / wall:,.0f} | {cpu / events * 1e6:.1f} | "
                  f"{pss:.0f} | {procs} |")
        print("\nAzurite's own CPU is not in the shipper column: it is a separate process (Node.js).")
    finally:
        az.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
