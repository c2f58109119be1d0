#!/usr/bin/env python3
"""Every scenario of issue 8 in one run, with its anchors, printed as Markdown tables.

    .venv/bin/python bench/run.py            # full: 1 M Datameer and Databricks records, 250 k of the others; ~12 minutes
    .venv/bin/python bench/run.py --quick    # 50 k records, short phases: under 2 minutes
    .venv/bin/python bench/run.py --only backfill,live --records 200000

Scenarios: backfill (shipper run --once, file → parser → stdout redirected to a file, per product,
beside the Python floor loop, orjson loads+dumps alone and pygtail+orjson on the same corpus file);
parse_workers (the Datameer and Databricks backfills with parse_workers 0, 2 and auto, beside the floor);
live (a real Log4j 2 writer at a fixed rate, write→emit latency); files (200 files followed, idle and
busy: RSS and CPU); outage (the Fluentd peer stopped for 60 s while the writer goes on: RSS over
time); outputs (bench/outputs.py: each output over loopback to the test peers); startup (`shipper run`
spawned → first event on stdout). Everything is written under --out (default /tmp/shipper-bench);
the last table is also saved there as results.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))
import corpus as corpora  # noqa: E402
import parse_workers as pw  # noqa: E402  (bench/parse_workers.py: the process-tree measurement)

from tests.java.writers import Log4j, compile_writers, log4j2_config  # noqa: E402

PY = sys.executable
SHIPPER = [str(Path(PY).with_name("shipper"))] if Path(PY).with_name("shipper").exists() else [PY, "-m", "shipper.cli"]
TICK = os.sysconf("SC_CLK_TCK")
TARGETS = {"datameer": 0.7, "databricks": 0.6}

out_lines: list[str] = []


def say(text: str = "") -> None:
    print(text, flush=True)
    out_lines.append(text)


# ------------------------------------------------------------------ process helpers


def measured(cmd: list[str], stdout_path: Path | None, env: dict | None = None) -> tuple[float, float, float]:
    """Run to the end: (wall s, CPU s user+sys, peak RSS MiB), from wait4's rusage."""
    with open(stdout_path or os.devnull, "wb") as out:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, env=env)
        err_lines: list[bytes] = []
        drain = threading.Thread(target=lambda: err_lines.extend(p.stderr), daemon=True)
        drain.start()
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        drain.join(5)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd} exited {p.returncode}: {b''.join(err_lines[-20:]).decode(errors='replace')}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024


def proc_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def count_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 22)
            if not b:
                return n
            n += b.count(b"\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(path: Path, state: Path, sources: list[str], outputs: list[str]) -> Path:
    text = f"state_dir: {state}\nsources:\n" + "".join(sources) + "outputs:\n" + "".join(outputs)
    path.write_text(text)
    return path


def file_source(name: str, paths: list[str], parser: str, extra: str = "") -> str:
    return f"  - name: {name}\n    type: file\n    paths: {orjson.dumps(paths).decode()}\n    parser: {parser}\n{extra}"


STDOUT = "  - type: stdout\n"


class Daemon:
    """`shipper run -c CONFIG` in the background; stderr drained; `started` set once it logs so."""

    def __init__(self, config: Path, stdout=subprocess.DEVNULL, extra_args: list[str] | None = None):
        self.proc = subprocess.Popen([*(extra_args or SHIPPER), "run", "-c", str(config)], stdout=stdout,
                                     stderr=subprocess.PIPE)
        self.started = threading.Event()
        self.err: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        for line in self.proc.stderr:
            text = line.decode(errors="replace")
            self.err.append(text)
            if "msg=started" in text:
                self.started.set()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ------------------------------------------------------------------ 1. backfill


def backfill(a, out: Path) -> None:
    say("### Backfill: `shipper run --once`, file → parser → stdout redirected to a file\n")
    say(f"{a.records:,} records for the products with a target, {a.other_records:,} for the others; "
        "events/s = events out / wall time of the whole process "
        "(start-up and the file source's end-of-input settle included). Ratio = shipper / floor. shipper runs with its "
        "defaults (`parse_workers: auto`: worker processes once a backlog is seen, on a host with ≥ 2 CPUs), so CPU and "
        "memory are of its whole process tree (agent + forkserver + workers, sampled every 0.1 s; PSS counts pages "
        "shared after the fork once). The floor and the other anchors are one process on one core.\n")
    say("| corpus | B/line | floor ev/s | loads+dumps lines/s | pygtail+orjson ev/s | shipper ev/s | **shipper / floor** "
        "| target | shipper CPU µs/ev (tree) | shipper peak PSS MiB (tree) | processes |")
    say("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    cdir = a.corpus_dir
    for name in a.products:
        records = a.records if name in TARGETS else a.other_records
        path = corpora.corpus(name, records, cdir)
        parser = corpora.PRODUCTS[name][0]
        bpl = path.stat().st_size / records
        res: dict[str, tuple[float, int]] = {}
        json_lines = name != "posit_connect_text"
        scratch = out / "backfill.out"
        for kind in ("floor", "loads_dumps", "pygtail") if json_lines else ():
            wall, cpu, rss = measured([PY, str(BENCH / "floor.py"), kind, name, str(path), str(scratch)], None)
            res[kind] = (wall, count_lines(scratch))
        state = out / f"state-{name}"
        subprocess.run(["rm", "-rf", str(state)], check=True)
        cfg = write_config(out / f"backfill-{name}.yaml", state, [file_source(name, [str(path)], parser)], [STDOUT])
        wall, cpu, _, pss, procs = pw.measured_tree([*SHIPPER, "run", "--once", "-c", str(cfg)], scratch)
        events = count_lines(scratch)
        scratch.unlink()
        if "floor" in res and res["floor"][1] != events:
            say(f"<!-- {name}: shipper wrote {events} events, the floor loop {res['floor'][1]} -->")
        rate = events / wall

        def r(kind: str) -> str:
            return f"{res[kind][1] / res[kind][0]:,.0f}" if kind in res else "—"

        ratio = f"**{rate / (res['floor'][1] / res['floor'][0]):.2f}**" if "floor" in res else "—"
        target = f"≥ {TARGETS[name]}" if name in TARGETS else ""
        say(f"| {name} | {bpl:.0f} | {r('floor')} | {r('loads_dumps')} | {r('pygtail')} | {rate:,.0f} | {ratio} | "
            f"{target} | {cpu / events * 1e6:.1f} | {pss:.0f} | {procs} |")
    say()


# ------------------------------------------------------------------ 2. live latency


class Observer(threading.Thread):
    """Follows the writer's file every millisecond (through renames) and notes when each seq appeared:
    the write time, as near as a reader can see it."""

    def __init__(self, path: Path):
        super().__init__(daemon=True)
        self.path = path
        self.seen: dict[int, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        fd = os.open(self.path, os.O_RDONLY)
        rest = b""
        while not self.stop.is_set():
            data = os.read(fd, 1 << 20)
            if not data:
                try:
                    if os.stat(self.path).st_ino != os.fstat(fd).st_ino:
                        data = os.read(fd, 1 << 20)  # rotated: what the old inode still has, then the new file
                        if not data:
                            os.close(fd)
                            fd = os.open(self.path, os.O_RDONLY)
                            continue
                except FileNotFoundError:
                    pass
                if not data:
                    time.sleep(0.001)
                    continue
            now = time.monotonic()
            data = rest + data
            cut = data.rfind(b"\n") + 1
            rest = data[cut:]
            for line in data[:cut].splitlines():
                self.seen.setdefault(orjson.loads(line)["seq"], now)
        os.close(fd)


def live(a, out: Path) -> None:
    say("### Live: a real Log4j 2 RollingFile writer at a fixed rate, write → emit latency\n")
    d = out / "live"
    subprocess.run(["rm", "-rf", str(d)], check=True)
    d.mkdir(parents=True)
    writers = Log4j(compile_writers(out / "java"))
    xml = log4j2_config(d / "log4j2.xml", d, size=2 * 1024 * 1024)
    (d / "app.log").touch()
    cfg = write_config(d / "shipper.yaml", d / "state", [file_source("live", [str(d / "app.log")], "json", a.file_extra)],
                       [STDOUT])
    count = int(a.live_rate * a.live_seconds)
    daemon = Daemon(cfg, stdout=subprocess.PIPE)
    got: dict[int, float] = {}

    def read() -> None:
        for line in daemon.proc.stdout:
            now = time.monotonic()
            got.setdefault(orjson.loads(line)["generic"]["seq"], now)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    daemon.started.wait(30)
    obs = Observer(d / "app.log")
    obs.start()
    pad = "p" * 200  # ~230-byte lines, as Datameer's
    cpu0, t0 = proc_cpu_s(daemon.proc.pid), time.monotonic()
    writers.log4j2(xml, 0, count, rate=a.live_rate, pad=pad, timeout=None)
    deadline = time.monotonic() + 20
    while len(got) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    cpu = (proc_cpu_s(daemon.proc.pid) - cpu0) / (time.monotonic() - t0)
    rss = proc_rss_mib(daemon.proc.pid)
    obs.stop.set()
    daemon.stop()
    # Both clocks are this process's; a line can be read from shipper a hair before the poller
    # (sharing this process's GIL) notes it: the resolution is ~1-2 ms, negatives count as 0.
    lat = sorted(max(0.0, got[s] - obs.seen[s]) for s in got if s in obs.seen)
    q = statistics.quantiles(lat, n=100) if len(lat) > 2 else [float("nan")] * 99
    say(f"{count:,} lines of ~230 B at {a.live_rate:,.0f} lines/s, 2 MB rotations; latency = emitted line read "
        "from shipper's stdout − the line seen in the file by a 1 ms poller.\n")
    say("| lines written | emitted | lost | p50 ms | p99 ms | **target p99** | max ms | shipper CPU % | RSS MiB |")
    say("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    say(f"| {count:,} | {len(got):,} | {count - len(got)} | {q[49] * 1e3:.0f} | **{q[98] * 1e3:.0f}** | ≤ 250 | "
        f"{lat[-1] * 1e3 if lat else float('nan'):.0f} | {cpu * 100:.0f} | {rss:.0f} |")
    say()


# ------------------------------------------------------------------ 3. 200 files


def many_files(a, out: Path) -> None:
    say(f"### {a.files} files followed, idle then busy: RSS and CPU\n")
    d = out / "files"
    subprocess.run(["rm", "-rf", str(d)], check=True)
    (d / "logs").mkdir(parents=True)
    lines = list(corpora.datameer(a.files * 10 + int(a.files_rate * a.phase_seconds) + 10))
    paths = [d / "logs" / f"useraction-{i:03d}.log" for i in range(a.files)]
    for i, p in enumerate(paths):
        p.write_bytes(b"".join(l + b"\n" for l in lines[i * 10:(i + 1) * 10]))
    cfg = write_config(d / "shipper.yaml", d / "state",
                       [file_source("files", [str(d / "logs" / "*.log")], "datameer", a.file_extra)], [STDOUT])
    sink = d / "out.json"
    with open(sink, "wb") as so:
        daemon = Daemon(cfg, stdout=so)
    pid = daemon.proc.pid
    deadline = time.monotonic() + 60
    while count_lines(sink) < a.files * 10 and time.monotonic() < deadline:
        time.sleep(0.2)
    first = count_lines(sink)
    rows = []

    def phase(name: str, write: bool) -> None:
        stop = threading.Event()
        written = [0]

        def writer() -> None:
            i, nxt = a.files * 10, time.monotonic()
            step = 0.05
            per_step = max(1, int(a.files_rate * step))
            handles = [open(p, "ab", buffering=0) for p in paths]
            while not stop.is_set():
                for _ in range(per_step):
                    handles[i % len(handles)].write(lines[i % len(lines)] + b"\n")
                    i += 1
                    written[0] += 1
                nxt += step
                time.sleep(max(0.0, nxt - time.monotonic()))
            for h in handles:
                h.close()

        w = threading.Thread(target=writer, daemon=True)
        if write:
            w.start()
        cpu0, t0 = proc_cpu_s(pid), time.monotonic()
        rss = []
        while time.monotonic() - t0 < a.phase_seconds:
            rss.append(proc_rss_mib(pid))
            time.sleep(0.5)
        cpu = (proc_cpu_s(pid) - cpu0) / (time.monotonic() - t0)
        stop.set()
        if write:
            w.join()
        rows.append((name, written[0], cpu, max(rss), rss[-1]))

    phase("idle", False)
    phase(f"busy ({a.files_rate:,.0f} lines/s over all files)", True)
    expect = a.files * 10 + rows[1][1]
    deadline = time.monotonic() + 30
    while count_lines(sink) < expect and time.monotonic() < deadline:
        time.sleep(0.2)
    delivered = count_lines(sink)
    daemon.stop()
    say(f"{a.files} Datameer files (10 lines each to start, all read before the idle phase: {first:,} events); "
        f"each phase {a.phase_seconds:.0f} s; RSS sampled every 0.5 s; {delivered:,}/{expect:,} events out at the end.\n")
    say("| phase | lines written | shipper CPU % of one core | peak RSS MiB | **target RSS** |")
    say("|---|---:|---:|---:|---:|")
    for name, written, cpu, peak, _last in rows:
        say(f"| {name} | {written:,} | {cpu * 100:.1f} | **{peak:.0f}** | ≤ 60 |")
    say()


# ------------------------------------------------------------------ 4. outage


def outage(a, out: Path) -> None:
    say(f"### Output outage: the Fluentd peer stopped for {a.outage_seconds:.0f} s while the writer goes on\n")
    d = out / "outage"
    subprocess.run(["rm", "-rf", str(d)], check=True)
    d.mkdir(parents=True)
    port = free_port()
    peer = subprocess.Popen([PY, str(BENCH / "peer.py"), str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, bufsize=1)
    peer.stdout.readline()

    def tell(cmd: str) -> str:
        peer.stdin.write(cmd + "\n")
        return peer.stdout.readline().strip()

    log = d / "useraction.log"
    log.touch()
    fluentd = f"  - type: fluentd\n    host: 127.0.0.1\n    port: {port}\n    backoff_max: 5\n    flush_interval: 0.2\n"
    cfg = write_config(d / "shipper.yaml", d / "state", [file_source("outage", [str(log)], "datameer")], [fluentd])
    daemon = Daemon(cfg)
    daemon.started.wait(30)
    pid = daemon.proc.pid
    template = list(corpora.datameer(1000))
    stop = threading.Event()
    written = [0]

    def writer() -> None:
        nxt = time.monotonic()
        with open(log, "ab", buffering=0) as f:
            while not stop.is_set():
                chunk = []
                for _ in range(int(a.outage_rate / 20)):
                    doc = orjson.loads(template[written[0] % 1000])
                    doc["seq"] = written[0]
                    chunk.append(orjson.dumps(doc) + b"\n")
                    written[0] += 1
                f.write(b"".join(chunk))
                nxt += 0.05
                time.sleep(max(0.0, nxt - time.monotonic()))

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    samples: list[tuple[str, float, float]] = []
    t0 = time.monotonic()

    def sample_for(phase: str, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            samples.append((phase, time.monotonic() - t0, proc_rss_mib(pid)))
            time.sleep(1.0)

    sample_for("before", a.outage_pre)
    tell("stop")
    sample_for("outage", a.outage_seconds)
    tell("start")
    back = time.monotonic()
    sample_for("after", a.outage_pre)
    stop.set()
    w.join()
    total = written[0]
    caught_up = None
    while time.monotonic() - back < 90:
        distinct, stored = map(int, tell("count").split())
        if distinct >= total:
            caught_up = time.monotonic() - back
            break
        samples.append(("catch-up", time.monotonic() - t0, proc_rss_mib(pid)))
        time.sleep(0.5)
    distinct, stored = map(int, tell("count").split())
    if caught_up is None:  # say why: the agent's own last words
        say("<!-- outage: not caught up; the agent's last log lines:\n" + "".join(daemon.err[-15:]) + "-->")
    daemon.stop()
    tell("quit")
    peer.wait(10)

    def span(phase: str) -> str:
        v = [r for p, _, r in samples if p == phase]
        return f"{min(v):.0f}–{max(v):.0f}" if v else "—"

    say(f"Datameer lines at {a.outage_rate:,.0f}/s into one file; fluentd output (acks on, backoff_max 5 s); "
        f"the peer's port closed and its connections cut for {a.outage_seconds:.0f} s, then back on the same port. "
        "The file on disk is the buffer: the source stops reading once the output's queue is full.\n")
    say("| RSS MiB before | during outage | after | catch-up | lines written | delivered (distinct) | duplicates |")
    say("|---:|---:|---:|---:|---:|---:|---:|")
    say(f"| {span('before')} | **{span('outage')}** | {span('after')} | "
        f"{'%.1f s' % caught_up if caught_up is not None else 'not within 90 s'} | {total:,} | {distinct:,} | "
        f"{stored - distinct:,} |")
    say("\nRSS over time (s: MiB): " + ", ".join(f"{t:.0f}: {r:.0f}" for p, t, r in samples[:: max(1, len(samples) // 20)]))
    say()


# ------------------------------------------------------------------ 5. outputs, startup


def outputs(a, out: Path) -> None:
    say("### Outputs over loopback to the test peers (bench/outputs.py)\n")
    r = subprocess.run([PY, str(BENCH / "outputs.py"), "--events", str(a.output_events), "--sizes", a.output_sizes],
                       capture_output=True, text=True, check=True)
    for line in r.stdout.splitlines():
        say(line)
    say()


def startup(a, out: Path) -> None:
    say("### Start-up: `shipper run` spawned → first event on stdout\n")
    d = out / "startup"
    subprocess.run(["rm", "-rf", str(d)], check=True)
    d.mkdir(parents=True)
    log = d / "useraction.log"
    log.write_bytes(next(corpora.datameer(1)) + b"\n")
    times = []
    for i in range(a.startup_runs):
        cfg = write_config(d / "shipper.yaml", d / f"state{i}", [file_source("startup", [str(log)], "datameer")], [STDOUT])
        t0 = time.perf_counter()
        daemon = Daemon(cfg, stdout=subprocess.PIPE)
        daemon.proc.stdout.readline()
        times.append(time.perf_counter() - t0)
        daemon.stop()
    # What is imported for a stdout-only config (the outputs not used must not be).
    cfg = write_config(d / "shipper.yaml", d / "state-imports", [file_source("startup", [str(log)], "datameer")], [STDOUT])
    daemon = Daemon(cfg, stdout=subprocess.PIPE, extra_args=[PY, "-X", "importtime", "-m", "shipper.cli"])
    daemon.proc.stdout.readline()
    daemon.stop()
    imported = [l.split("|")[-1].strip() for l in daemon.err if l.startswith("import time:")]
    heavy = sorted({m.split(".")[0] for m in imported} & {"elasticsearch", "elastic_transport", "fluent", "msgpack",
                                                        "psycopg", "urllib3"})
    say("| runs | median s | min s | max s | **target** | unused-output modules imported |")
    say("|---:|---:|---:|---:|---:|---|")
    say(f"| {len(times)} | **{statistics.median(times):.2f}** | {min(times):.2f} | {max(times):.2f} | ≤ 0.5 | "
        f"{', '.join(heavy) or 'none'} |")
    say()


# ------------------------------------------------------------------ main


def machine() -> str:
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    import pygtail

    return (f"{os.cpu_count()} CPUs ({model}), {platform.system()} {platform.release()}, Python {platform.python_version()}, "
            f"orjson {orjson.__version__}, pygtail {getattr(pygtail, '__version__', '0.14.0')}, load average at start {load}")


def parse_workers(a, out: Path) -> None:
    pw.run([p for p in ("datameer", "databricks") if p in a.products], a.records, out, say=say)


SCENARIOS = {"backfill": backfill, "parse_workers": parse_workers, "live": live, "files": many_files,
             "outage": outage, "outputs": outputs, "startup": startup}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small corpus and short phases (under 2 minutes)")
    ap.add_argument("--records", type=int, help="records of the datameer and databricks corpora (default 1 M, --quick 50 k)")
    ap.add_argument("--other-records", type=int,
                    help="records of the other products' corpora (default 250 k, --quick 50 k): their parsers have no "
                         "target and run at 15-35 k events/s, so 1 M each would take the full run past 15 minutes")
    ap.add_argument("--only", help=f"comma-separated scenarios of: {','.join(SCENARIOS)}")
    ap.add_argument("--products", help=f"comma-separated corpora of: {','.join(corpora.PRODUCTS)}")
    ap.add_argument("--gather-interval", type=float,
                    help="the file source's gather_interval in the live and files scenarios (default: its default)")
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "shipper-bench")
    a = ap.parse_args()
    q = a.quick
    a.records = a.records or (50_000 if q else 1_000_000)
    a.other_records = a.other_records or (50_000 if q else 250_000)
    a.products = a.products.split(",") if a.products else list(corpora.PRODUCTS)
    a.corpus_dir = a.out / "corpus"
    a.live_rate, a.live_seconds = 1000.0, (5.0 if q else 30.0)
    a.files, a.files_rate, a.phase_seconds = 200, 2000.0, (4.0 if q else 20.0)
    a.outage_rate, a.outage_seconds, a.outage_pre = 1000.0, (10.0 if q else 60.0), (3.0 if q else 10.0)
    a.output_events, a.output_sizes = (3000, "500") if q else (20000, "100,500,2000")
    a.startup_runs = 3 if q else 5
    a.file_extra = f"    gather_interval: {a.gather_interval}\n" if a.gather_interval is not None else ""
    a.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    say(f"## Results ({'--quick' if q else 'full run'}, {time.strftime('%Y-%m-%d')})\n")
    say(machine() + "\n")
    for name in (a.only.split(",") if a.only else SCENARIOS):
        t = time.monotonic()
        SCENARIOS[name](a, a.out)
        print(f"[{name}: {time.monotonic() - t:.0f} s]", file=sys.stderr, flush=True)
    say(f"Whole run: {time.monotonic() - started:.0f} s.")
    (a.out / "results.md").write_text("\n".join(out_lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
