"""Soak: the agent under hours of load, rotations, reloads and output outages (issue 23).

    python bench/soak.py --duration 600          # or: make soak DURATION=600
    python bench/soak.py --duration 3600 --files 20 --rate 300 --reload-every 60 --outage-every 300

One agent (`shipper run`) follows --files files written at --rate lines/s in total, each rotated by
rename (x.log → x.log.1 …, 3 backups kept) when it passes --rotate-bytes. Its one output is a
Fluentd peer (tests/peers/forward_server.py) that goes down for --outage-for seconds every
--outage-every seconds; every --reload-every seconds a SIGHUP changes the tags of half the sources
(a restart of those sources). Every --sample-every seconds: RSS of the agent and its children,
open fds, threads, and the state_dir's size. At the end every line is counted: written, delivered,
duplicates, lost. The report (markdown) shows the samples and the growth per hour (least squares
over the second half, after the warm-up). The agent gets the environment systemd/shipper.service
gives it (Environment=); --bare starts it without.
"""
from __future__ import annotations

import argparse
import collections
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.peers.forward_server import ForwardServer  # noqa: E402


def config(d: Path, files: int, port: int, generation: int) -> str:
    srcs = "".join(f"""  - name: s{i}
    type: file
    paths: [{d / 'logs' / f's{i}.log'}]
    parser: datameer
    tags: [{f'g{generation}' if i % 2 else 'fixed'}]
""" for i in range(files))
    return f"""state_dir: {d / 'state'}
shutdown_timeout: 5
sources:
{srcs}outputs:
  - type: fluentd
    host: 127.0.0.1
    port: {port}
    flush_interval: 0.2
    backoff_max: 2
"""


class Writer(threading.Thread):
    """Appends numbered lines to each file in turn, rotating by rename like Log4j's RollingFileAppender."""

    def __init__(self, d: Path, files: int, rate: float, rotate_bytes: int, backups: int = 3):
        super().__init__(daemon=True)
        self.paths = [d / "logs" / f"s{i}.log" for i in range(files)]
        self.rate, self.rotate_bytes, self.backups = rate, rotate_bytes, backups
        self.written = 0
        self.rotations = 0
        self.stop = threading.Event()

    def run(self) -> None:
        t0 = time.monotonic()
        handles = [open(p, "ab") for p in self.paths]
        while not self.stop.is_set():
            due = int((time.monotonic() - t0) * self.rate)
            while self.written < due:
                i = self.written % len(self.paths)
                handles[i].write(orjson.dumps({"timestamp": "2026-01-02 03:04:05", "action-type": "FILESYSTEM",
                                               "action": "EDIT", "performing-user": f"u{self.written}",
                                               "file-path": f"/f/{self.written}"}) + b"\n")
                handles[i].flush()
                self.written += 1
                if handles[i].tell() >= self.rotate_bytes:
                    handles[i].close()
                    self._rotate(self.paths[i])
                    handles[i] = open(self.paths[i], "ab")
            time.sleep(0.02)
        for h in handles:
            h.close()

    def _rotate(self, path: Path) -> None:
        for k in range(self.backups - 1, 0, -1):
            src = Path(f"{path}.{k}")
            if src.exists():
                os.replace(src, f"{path}.{k + 1}")
        os.replace(path, f"{path}.1")
        self.rotations += 1


class TimedPeer(ForwardServer):
    """The Fluentd peer, noting for each chunk stored when it came (seconds on the soak's clock) and
    its id: a duplicate is then traced to the chunk each copy came in (see duplicates.txt)."""

    def __init__(self) -> None:
        super().__init__()
        self.t0 = time.monotonic()
        self.arrivals: list[tuple[float, str | None, int, int]] = []  # (t, chunk id, first record, count)

    def _store(self, tag: str, entries: list[tuple[int, dict]], option: dict) -> None:
        with self._lock:
            self.arrivals.append((time.monotonic() - self.t0, option.get("chunk"), len(self.records), len(entries)))
        super()._store(tag, entries, option)


def timestamp_lines(src, dst, t0: list[float]) -> None:
    """Copy the agent's stderr to agent.log, each line prefixed with the soak's clock (t=…): the
    journal's timestamps, for telling which reload or outage a message belongs to."""
    for line in iter(src.readline, b""):
        dst.write(b"t=%.2f " % (time.monotonic() - t0[0]) + line)
        dst.flush()
    dst.close()


def write_duplicates(d: Path, peer: "TimedPeer", events: list[tuple[float, str]]) -> tuple[int, int]:
    """duplicates.txt: each repeated line with the chunks that brought its copies (time, id, size), the
    journal's line that named the resend (a chunk the server may have stored before its ack: Forward's
    at-least-once) or UNNAMED, and the soak's timeline (reloads, outages), to lay beside the timestamped
    agent.log. Returns (duplicates, of which named)."""
    owner: list[int] = []
    for i, (_, _, first, count) in enumerate(peer.arrivals):
        owner.extend([i] * (first + count - len(owner)))
    seen: dict[str, list[int]] = collections.defaultdict(list)
    for k, (_, _, r) in enumerate(list(peer.records)):
        seen[r.get("user", {}).get("name")].append(owner[k] if k < len(owner) else -1)
    by_chunks: dict[tuple[int, ...], list[str]] = collections.defaultdict(list)
    for name, chunks in seen.items():
        if len(chunks) > 1:
            by_chunks[tuple(chunks)].append(name)
    resends = []  # (t, line) of each journal line naming a chunk the server may have stored
    for line in (d / "agent.log").read_text(errors="replace").splitlines():
        if "may have stored" in line and line.startswith("t="):
            resends.append((float(line[2:line.index(" ")]), line))
    dups = named = 0
    with open(d / "duplicates.txt", "w") as f:
        for copies, names in sorted(by_chunks.items()):
            t = [peer.arrivals[c][0] for c in copies if c >= 0]
            where = "; ".join(f"chunk #{c} t={peer.arrivals[c][0]:.2f} id={peer.arrivals[c][1]} "
                              f"({peer.arrivals[c][3]} records)" for c in copies)
            said = [line for when, line in resends if t and t[0] - 1 <= when <= t[-1]]
            dups += len(names) * (len(copies) - 1)
            named += len(names) * (len(copies) - 1) if said else 0
            f.write(f"{len(names)} lines {names[:3]}...: {where}\n    "
                    + (f"named: {said[0][:300]}" if said else "UNNAMED") + "\n")
        f.write("\ntimeline:\n")
        for when, what in events:
            f.write(f"t={when:.2f} {what}\n")
    return dups, named


def unit_environment() -> dict[str, str]:
    """The environment systemd/shipper.service gives the agent: the soak measures it as installed."""
    env = {}
    for line in (REPO / "systemd" / "shipper.service").read_text().splitlines():
        if line.startswith("Environment="):
            env.update(item.split("=", 1) for item in line.removeprefix("Environment=").split())
    return env


def sample(pid: int, state: Path) -> dict:
    def status(p: int) -> dict[str, str]:
        try:
            with open(f"/proc/{p}/status") as f:
                return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
        except OSError:
            return {}

    kids = []
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/children") as f:
                kids += [int(c) for c in f.read().split()]
    except OSError:
        pass
    st = status(pid)
    rss = int(st.get("VmRSS", "0 kB").split()[0])
    tree = rss + sum(int(status(k).get("VmRSS", "0 kB").split()[0]) for k in kids)
    size = sum(f.stat().st_size for f in state.iterdir() if f.is_file()) if state.exists() else 0
    return {"rss_kib": rss, "tree_rss_kib": tree, "fds": len(os.listdir(f"/proc/{pid}/fd")),
            "threads": int(st.get("Threads", "0")), "state_bytes": size}


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    return 0.0 if var == 0 else sum((t - mx) * (v - my) for t, v in points) / var * 3600


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=600)
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--rate", type=float, default=300.0, help="lines per second, all files together")
    ap.add_argument("--rotate-bytes", type=int, default=256 * 1024)
    ap.add_argument("--reload-every", type=float, default=60)
    ap.add_argument("--outage-every", type=float, default=300)
    ap.add_argument("--outage-for", type=float, default=20)
    ap.add_argument("--sample-every", type=float, default=30)
    ap.add_argument("--out", type=Path, default=Path("/tmp/shipper-bench/soak"))
    ap.add_argument("--tracemalloc", action="store_true",
                    help="run the agent under tracemalloc (slower) and report what grew between a snapshot at "
                         "half time and one at the end, by line and by traceback")
    ap.add_argument("--probe", action="store_true",
                    help="run the agent under bench/soak_probe.py and, at every sample, record where its memory "
                         "is (kernel, pymalloc, glibc, live objects by type); printed at the end")
    ap.add_argument("--bare", action="store_true",
                    help="start the agent without the systemd unit's Environment=")
    ap.add_argument("--wrap", default="", help="a command the agent is started under, e.g. 'heaptrack -o /tmp/h'")
    args = ap.parse_args()

    d = args.out
    subprocess.run(["rm", "-rf", str(d)], check=True)
    (d / "logs").mkdir(parents=True)
    peer = TimedPeer()
    peer.start()
    events: list[tuple[float, str]] = []  # the soak's own acts on its clock, for duplicates.txt
    port = peer.port
    generation = 0
    cfg = d / "shipper.yaml"
    cfg.write_text(config(d, args.files, port, generation))
    writer = Writer(d, args.files, args.rate, args.rotate_bytes)
    writer.start()
    errlog = open(d / "agent.log", "wb")
    cmd = ([str(REPO / ".venv/bin/python"), str(REPO / "bench/traced_agent.py")] if args.tracemalloc
           else [str(REPO / ".venv/bin/python"), str(REPO / "bench/soak_probe.py")] if args.probe
           else [str(REPO / ".venv/bin/shipper")])
    cmd = [*args.wrap.split(), *cmd]
    agent = subprocess.Popen([*cmd, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env={**os.environ, **({} if args.bare else unit_environment()),
                                  "SHIPPER_TRACE_DIR": str(d)})
    assert agent.stderr is not None
    threading.Thread(target=timestamp_lines, args=(agent.stderr, errlog, [peer.t0]), daemon=True).start()
    snapshots = 0
    up_by = time.monotonic() + 120  # a SIGHUP before the agent's handler is set would end it
    while b"msg=started" not in (d / "agent.log").read_bytes() and agent.poll() is None and time.monotonic() < up_by:
        time.sleep(0.2)
    t0, t0_wall = time.monotonic(), time.time()
    samples: list[tuple[float, dict]] = []
    next_sample = next_reload = next_outage = 0.0
    next_reload, next_outage = args.reload_every, args.outage_every
    reloads = outages = 0
    down_until = None
    try:
        while (now := time.monotonic() - t0) < args.duration:
            if now >= next_sample:
                samples.append((now, sample(agent.pid, d / "state")))
                if args.probe:
                    agent.send_signal(signal.SIGUSR1)
                s = samples[-1][1]
                print(f"{now:7.0f}s rss {s['rss_kib'] / 1024:6.1f} MiB (tree {s['tree_rss_kib'] / 1024:6.1f}) "
                      f"fds {s['fds']:4d} threads {s['threads']:3d} state {s['state_bytes'] / 1024:7.1f} KiB "
                      f"written {writer.written}", flush=True)
                next_sample += args.sample_every
            if args.tracemalloc and snapshots == 0 and now >= args.duration / 2:
                agent.send_signal(signal.SIGUSR2)
                snapshots = 1
            if now >= next_reload:
                generation += 1
                cfg.write_text(config(d, args.files, port, generation))
                agent.send_signal(signal.SIGHUP)
                events.append((time.monotonic() - peer.t0, f"SIGHUP {generation}"))
                reloads += 1
                next_reload += args.reload_every
            if down_until is None and now >= next_outage:
                peer.stop()
                events.append((time.monotonic() - peer.t0, "peer down"))
                outages += 1
                down_until = now + args.outage_for
                next_outage += args.outage_every
            if down_until is not None and now >= down_until:
                peer.start()
                events.append((time.monotonic() - peer.t0, "peer up"))
                down_until = None
            if agent.poll() is not None:
                print(f"agent exited with {agent.returncode}", file=sys.stderr)
                break
            time.sleep(0.2)
        if args.tracemalloc and snapshots == 1 and agent.poll() is None:
            agent.send_signal(signal.SIGUSR2)
            snapshots = 2
    finally:
        writer.stop.set()
        writer.join()
        if down_until is not None:
            peer.start()
    # Let it deliver everything, then count line by line.
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and len({r.get("user", {}).get("name") for _, _, r in list(peer.records)}) < writer.written:
        time.sleep(1)
    agent.send_signal(signal.SIGTERM)
    agent.wait(120)
    names = collections.Counter(r.get("user", {}).get("name") for _, _, r in list(peer.records))
    dups = sum(c - 1 for c in names.values() if c > 1)
    _, named = write_duplicates(d, peer, events)
    lost = writer.written - len([n for n in names if n])
    peer.stop()

    half = [(t, s) for t, s in samples if t >= args.duration / 2]
    print()
    print(f"## Soak: {args.duration / 60:.0f} min, {args.files} files, {args.rate:.0f} lines/s, "
          f"{writer.rotations} rotations, {reloads} reloads, {outages} outages of {args.outage_for:.0f} s")
    print()
    print(f"agent environment: {'bare' if args.bare else unit_environment()}")
    print(f"lines written {writer.written}, delivered {len(names)}, duplicates {dups} ({named} of them resends "
          f"the journal named, see duplicates.txt), lost {lost}; agent exit {agent.returncode}")
    print()
    print("| t (s) | RSS MiB | tree RSS MiB | fds | threads | state KiB |")
    print("|---:|---:|---:|---:|---:|---:|")
    for t, s in samples:
        print(f"| {t:.0f} | {s['rss_kib'] / 1024:.1f} | {s['tree_rss_kib'] / 1024:.1f} | {s['fds']} | {s['threads']} "
              f"| {s['state_bytes'] / 1024:.1f} |")
    print()
    for key, unit, div in (("rss_kib", "MiB", 1024), ("fds", "fds", 1), ("threads", "threads", 1),
                           ("state_bytes", "KiB", 1024)):
        rate = slope_per_hour([(t, s[key] / div) for t, s in half])
        print(f"growth over the second half: {key} {rate:+.2f} {unit}/h")
    if snapshots == 2:
        report_growth(d)
    if args.probe:
        report_probe(d, t0_wall)
    return 0 if dups == 0 and lost == 0 else 1


def report_probe(d: Path, t0_wall: float) -> None:
    """Where the agent's memory was at each sample (bench/soak_probe.py), in MiB."""
    path = d / "probe.jsonl"
    if not path.exists():
        return
    print()
    print("| t (s) | RSS | anon | pymalloc arenas | in blocks | glibc heap | in use | free | mmapped | gc objects "
          "| trimmed |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for line in path.read_text().splitlines():
        r = orjson.loads(line)
        k, pm, gl = r["kib"], r["pymalloc"], r["glibc"]
        print(f"| {r['t'] - t0_wall:.0f} | {k.get('Rss', 0) / 1024:.1f} | {k.get('Anonymous', 0) / 1024:.1f} "
              f"| {pm.get('arena_bytes', 0) / 2**20:.1f} | {pm.get('in_blocks', 0) / 2**20:.1f} "
              f"| {gl['heap'] / 2**20:.1f} | {gl['in_use'] / 2**20:.1f} | {gl['free'] / 2**20:.1f} "
              f"| {gl['mmapped'] / 2**20:.1f} | {r['gc_objects']} | {r.get('trimmed_kib', 0) / 1024:.1f} |")
    last = orjson.loads(path.read_text().splitlines()[-1])
    print()
    print("live objects by type at the end: " + ", ".join(f"{n} {c}" for n, c in last["top_types"]))


def report_growth(d: Path) -> None:
    """What the agent allocated between the half-time and the end snapshot and still holds."""
    import tracemalloc

    first, last = d / "snapshot-0.tracemalloc", d / "snapshot-1.tracemalloc"
    deadline = time.monotonic() + 120
    while not last.exists() and time.monotonic() < deadline:
        time.sleep(1)
    time.sleep(2)  # the dump is written by the agent: let it finish
    a, b = tracemalloc.Snapshot.load(str(first)), tracemalloc.Snapshot.load(str(last))
    print()
    print(f"tracemalloc: traced {sum(s.size for s in a.statistics('filename')) / 2**20:.1f} MiB at half time, "
          f"{sum(s.size for s in b.statistics('filename')) / 2**20:.1f} MiB at the end")
    print()
    print("grew most, by line:")
    for st in b.compare_to(a, "lineno")[:15]:
        print(f"  {st.size_diff / 1024:+9.1f} KiB {st.count_diff:+7d} objects  {st.traceback[0]}")
    print()
    print("grew most, by traceback:")
    for st in b.compare_to(a, "traceback")[:8]:
        print(f"  {st.size_diff / 1024:+9.1f} KiB {st.count_diff:+7d} objects")
        for line in st.traceback.format()[-12:]:
            print("     " + line)


if __name__ == "__main__":
    sys.exit(main())
