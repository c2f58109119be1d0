"""The reload/stop chaos harness: a real `shipper run` under seeded reloads, stops and outages, counted line by line.

    python -m tests.chaos.harness --seed 1 --n 5 --seconds 240     # or: make chaos SEED=1 N=5 SECONDS=240

One file source follows logs/app.log, written at --rate lines/s and rotated by rename (app.log -> app.log.1 …, every
backup kept: nothing is deleted, so nothing may be lost). It ships to two strict Fluentd peers
(tests/peers/forward_server.py), outputs "one" and "two". A schedule drawn from the seed alone (random.Random(seed),
nothing measured feeds it back) drives the agent: reloads to config variants (an output renamed, the two names
swapped, delivery settings, the source's tags or batch_size), two SIGHUPs in a row, a SIGTERM right after a SIGHUP,
a stop and a start, the agent frozen (SIGSTOP/SIGCONT), a peer down or up, a peer reading nothing (its acks held).
The same seed gives the same sequence of actions and pauses; the timing is real (the host's load decides where in
a reload each signal lands), so a seed that fails once may pass at its replay: run it a few times.

At the end both peers are up, the base config is reloaded, and once every line reached both peers (or their
counts stopped growing for --settle seconds: an agent far behind under load is waited for) the agent is stopped.
Then, per peer, every line written must be stored exactly once, or fall in what the agent's journal named: a loss
(`data lost: N bytes of …`) or possible repeats, counted: the extra copies a peer holds may not outnumber the events
named a possible repeat at its server (the Fluentd output's `… (a possible repeat of N events)` with `server=`), plus
those named where no server is said (an output's late acknowledgement, `possible repeat of N events` without a
server; a file's bytes read again, `N bytes … may be shipped again`, as lines, which every output may get twice). The
stop's `undelivered` summary repeats what the output's close named, and counts for nothing; a repeat named without a
count covers what it names (at its server, or anywhere). A reload that does not end, a stop that does not end, the
agent exiting by itself or a traceback fail the seed too.

Each seed's folder (--out; kept when it fails, when the agent named a loss or repeat, or with --keep) holds
cfg.yaml, logs/, state/, agent.err (the agent's journal, every run appended) and chaos.jsonl: per action, its time
from the start, the action, the journal's size before it (the offset to read the agent's words from), lines
written and each peer's count. A failing seed is printed with the command that replays it.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.fluentd_agent import SHIPPER, line
from tests.peers.forward_server import ForwardServer

SHUTDOWN_TIMEOUT = 2
RELOAD_LIMIT = 90.0  # seconds a reload may take (its restart's wait included) before it counts as hung
STOP_LIMIT = 60.0  # a stop's bound is shutdown_timeout + 5 s; past this it hangs
RELOADED = r'msg="?(reloaded|reload refused)'  # the end of a reload: `reloaded`, `"reloaded: nothing changed"`, …
VARIANTS = ("base", "rename1", "rename2", "swap", "tune", "tags", "srcbatch")


# The schedule: drawn from the seed only.

def schedule(seed: int, length: int = 2000) -> list[dict]:
    """The seed's actions in order, each with its parameters and the pause after it."""
    rnd = random.Random(seed)
    acts: list[dict] = []
    for _ in range(length):
        r = rnd.random()
        if r < 0.35:
            act: dict = {"do": "hup", "variant": rnd.choice(VARIANTS)}
        elif r < 0.43:
            act = {"do": "hup2", "variant": rnd.choice(VARIANTS), "gap": round(rnd.uniform(0, 0.3), 3),
                   "then": rnd.choice(VARIANTS)}
        elif r < 0.53:
            act = {"do": "hup_term", "variant": rnd.choice(VARIANTS), "gap": round(rnd.uniform(0, 1), 3)}
        elif r < 0.58:
            act = {"do": "term"}
        elif r < 0.73:
            act = {"do": "flap", "peer": rnd.choice(("one", "two"))}
        elif r < 0.87:
            act = {"do": "freeze", "for": round(rnd.uniform(0.5, 3), 3)}
        else:
            act = {"do": "hold_acks", "peer": rnd.choice(("one", "two")), "for": round(rnd.uniform(0.5, 4), 3)}
        act["pause"] = round(rnd.uniform(0.2, 2), 3)
        acts.append(act)
    return acts


def config(d: Path, ports: dict[str, int], variant: str) -> dict:
    """The agent's config for a variant: outputs "one" and "two" on the peers' ports, one change each."""
    one = {"type": "fluentd", "name": "one", "host": "127.0.0.1", "port": ports["one"]}
    two = {"type": "fluentd", "name": "two", "host": "127.0.0.1", "port": ports["two"]}
    source = {"name": "app", "type": "file", "paths": [str(d / "logs" / "app.log")], "parser": "json",
              "read_from": "beginning", "batch_size": 100}
    if variant == "rename1":
        one["name"] = "one_b"
    elif variant == "rename2":
        two["name"] = "two_b"
    elif variant == "swap":
        one["name"], two["name"] = "two", "one"
    elif variant == "tune":  # delivery settings only: the same outputs
        one["batch_size"] = 41
        two["ack_timeout"] = 9
    elif variant == "tags":
        source["tags"] = ["t"]
    elif variant == "srcbatch":
        source["batch_size"] = 37
    return {"state_dir": str(d / "state"), "shutdown_timeout": SHUTDOWN_TIMEOUT, "logging": {"level": "info"},
            "sources": [source], "outputs": [one, two]}


def write_config(d: Path, ports: dict[str, int], variant: str) -> None:
    tmp = d / "cfg.yaml.tmp"
    tmp.write_text(json.dumps(config(d, ports, variant), indent=1))  # JSON is YAML
    os.replace(tmp, d / "cfg.yaml")


# The parts: a writer, the agent, the peers.

class Writer(threading.Thread):
    """Appends lines ("src": "w", "n": 0, 1, …) at `rate` a second, rotating by rename every `rotate_every` lines
    as Log4j 1.2's RollingFileAppender does, keeping every backup."""

    def __init__(self, path: Path, rate: float, rotate_every: int):
        super().__init__(daemon=True)
        self.path, self.rate, self.rotate_every = path, rate, rotate_every
        self.n = 0
        self.rotations = 0
        self.stopping = threading.Event()

    def _rotate(self) -> None:
        self.rotations += 1
        for i in range(self.rotations - 1, 0, -1):
            os.rename(f"{self.path}.{i}", f"{self.path}.{i + 1}")
        os.rename(self.path, f"{self.path}.1")

    def run(self) -> None:
        f = open(self.path, "a")
        t0 = time.monotonic()
        while not self.stopping.is_set():
            for _ in range(50):
                f.write(line("w", self.n))
                self.n += 1
                if self.n % self.rotate_every == 0:
                    f.close()
                    self._rotate()
                    f = open(self.path, "a")
            f.flush()
            ahead = self.n / self.rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)
        f.close()


class Agent:
    """`shipper run -c cfg.yaml`, its stderr appended to agent.err across runs."""

    def __init__(self, d: Path):
        self.d = d
        self.journal = d / "agent.err"
        self.proc: subprocess.Popen | None = None

    def offset(self) -> int:
        return self.journal.stat().st_size if self.journal.exists() else 0

    def text(self, since: int = 0) -> str:
        with open(self.journal, errors="replace") as f:
            f.seek(since)
            return f.read()

    def wait_for(self, pattern: str, since: int, timeout: float) -> bool:
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if rx.search(self.text(since)):
                return True
            if self.proc is None or self.proc.poll() is not None:
                return bool(rx.search(self.text(since)))
            time.sleep(0.05)
        return False

    def start(self) -> bool:
        since = self.offset()
        with open(self.journal, "a") as err:
            self.proc = subprocess.Popen([SHIPPER, "run", "-c", str(self.d / "cfg.yaml")],
                                         stdout=subprocess.DEVNULL, stderr=err)
        return self.wait_for(r"msg=started", since, 60)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self) -> tuple[int | None, float]:
        """SIGTERM; (exit code, seconds), or (None, seconds) when it did not end within STOP_LIMIT (then killed)."""
        assert self.proc is not None
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGCONT)  # (never stopped by this harness at that point; cheap insurance)
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc: int | None = self.proc.wait(STOP_LIMIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = None
        return rc, time.monotonic() - t0

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def numbers(peer: ForwardServer) -> collections.Counter:
    """How many times the peer stored each line number."""
    return collections.Counter(r["generic"]["n"] for _t, _ts, r in list(peer.records))


# The check.

@dataclass
class Verdict:
    seed: int
    written: int = 0
    problems: list[str] = field(default_factory=list)
    excused: list[str] = field(default_factory=list)  # what the journal named
    actions: int = 0
    slow_stops: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


LOST = re.compile(r"data lost: (an unknown number of bytes|(\d+) bytes( or more)?)")  # ("or more": the least lost)
REPEAT = re.compile(r"possible repeat|may be shipped again|are written again")
REPEAT_EVENTS = re.compile(r"possible repeat of (\d+) events")
READ_AGAIN = re.compile(r"(\d+) bytes of .+? from offset \d+ may be shipped again")
SERVER = re.compile(r"server=127\.0\.0\.1:(\d+)")
# The stop's summary of what it did not deliver: the `undelivered` reasons repeat what the outputs' close named.
SUMMARY = 'msg="stopped with batches undelivered'


@dataclass
class Repeats:
    """What the journal named as possible repeats: events per server (by port), events anywhere (no server said),
    and where a repeat was named without a count (a server's port, or None: anywhere)."""
    at: collections.Counter = field(default_factory=collections.Counter)
    anywhere: int = 0
    uncounted: set = field(default_factory=set)

    def covers(self, port: int) -> int | None:
        """The events named that may be repeated at that server; None when a repeat without a count covers it."""
        if port in self.uncounted or None in self.uncounted:
            return None
        return self.at[port] + self.anywhere


def repeats_named(journal: str, line_bytes: int) -> Repeats:
    named = Repeats()
    for ln in journal.splitlines():
        if not REPEAT.search(ln) or SUMMARY in ln:
            continue
        servers = [int(p) for p in SERVER.findall(ln)]
        events = sum(int(n) for n in REPEAT_EVENTS.findall(ln))
        if (again := READ_AGAIN.search(ln)) is not None:
            events += -(-int(again.group(1)) // line_bytes)  # the lines those bytes hold (a part of one is one)
        if not events:
            named.uncounted.update(servers or [None])
        elif servers:
            for port in servers:
                named.at[port] += events
        else:
            named.anywhere += events
    return named


def _spans(ns: list[int]) -> str:
    """2-5, 9 for [2, 3, 4, 5, 9] (the first few spans)."""
    spans: list[list[int]] = []
    for n in sorted(ns):
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    text = ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in spans[:6])
    return text + (f", … ({len(spans)} spans)" if len(spans) > 6 else "")


def check(written: int, stored: dict[str, collections.Counter], ports: dict[str, int], journal: str,
          line_bytes: int, verdict: Verdict) -> None:
    """Every line 0..written-1 once at each peer, or inside a loss or the repeats the journal named (counted)."""
    lost_named = 0
    lost_unsized = False
    for m in LOST.finditer(journal):
        if m.group(2):
            lost_named += int(m.group(2))
        lost_unsized = lost_unsized or not m.group(2) or bool(m.group(3))
    named = repeats_named(journal, line_bytes)
    for name, counts in stored.items():
        missing = [n for n in range(written) if n not in counts]
        twice = [n for n, c in counts.items() if c > 1]
        extra = sum(counts[n] - 1 for n in twice)
        if missing:
            text = f"{name}: {len(missing)} lines missing ({_spans(missing)})"
            if len(missing) * line_bytes <= lost_named or lost_unsized:
                verdict.excused.append(text + f", the journal named {lost_named} bytes lost"
                                       + (" and bytes of unknown size" if lost_unsized else ""))
            else:
                verdict.problems.append(text + f", the journal named {lost_named} bytes lost")
        if twice:
            text = f"{name}: {len(twice)} lines stored more than once, {extra} extra copies ({_spans(twice)})"
            covered = named.covers(ports[name])
            if covered is None:
                verdict.excused.append(text + ", named a possible repeat (without a count)")
            elif extra <= covered:
                verdict.excused.append(text + f", {covered} events named a possible repeat")
            elif covered == 0:
                verdict.problems.append(text + ", no repeat named at its server")
            else:
                verdict.problems.append(text + f", only {covered} events named a possible repeat at its server"
                                        + (f" ({named.anywhere} of them where no server is said)" if named.anywhere
                                           else ""))
    if "Traceback" in journal:
        verdict.problems.append("a traceback in the journal")


# A run of one seed.

class Run:
    def __init__(self, seed: int, seconds: float, d: Path, rate: float, rotate_every: int, settle: float,
                 echo: bool):
        self.seed, self.seconds, self.d, self.settle, self.echo = seed, seconds, d, settle, echo
        shutil.rmtree(d, ignore_errors=True)
        (d / "logs").mkdir(parents=True)
        self.peers = {"one": ForwardServer().start(), "two": ForwardServer().start()}
        self.ports = {name: p.port for name, p in self.peers.items()}
        self.writer = Writer(d / "logs" / "app.log", rate, rotate_every)
        self.agent = Agent(d)
        self.verdict = Verdict(seed)
        self.t0 = 0.0

    def note(self, act: dict, offset: int) -> None:
        entry = {"t": round(time.monotonic() - self.t0, 2), **act, "journal_offset": offset,
                 "written": self.writer.n, **{name: len(p.records) for name, p in self.peers.items()},
                 "up": [name for name, p in self.peers.items() if p._server is not None],
                 "holding": [name for name, p in self.peers.items() if p.frozen.is_set()]}
        with open(self.d / "chaos.jsonl", "a") as f:
            f.write(json.dumps(entry) + "\n")
        if self.echo:
            print(f"  {entry['t']:7.2f} {act['do']} {json.dumps({k: v for k, v in act.items() if k != 'do'})}",
                  flush=True)

    def _reload(self, variant: str) -> int:
        write_config(self.d, self.ports, variant)
        since = self.agent.offset()
        self.agent.signal(signal.SIGHUP)
        return since

    def _restart(self) -> bool:
        """A stop and a start; False (a problem noted) when the stop hung or the start failed."""
        rc, took = self.agent.stop()
        if rc is None:
            self.verdict.problems.append(f"a stop did not end in {STOP_LIMIT:.0f}s (killed)")
            return False
        if took > SHUTDOWN_TIMEOUT + 5 + 1:
            self.verdict.slow_stops.append(round(took, 1))
        if not self.agent.start():
            self.verdict.problems.append("the agent did not start again")
            return False
        return True

    def act(self, act: dict) -> bool:
        """Does one action; False when the run cannot go on (a problem noted)."""
        do = act["do"]
        if do in ("hup", "hup2"):
            since = self._reload(act["variant"])
            if do == "hup2":
                time.sleep(act["gap"])
                self._reload(act["then"])
            if not self.agent.wait_for(RELOADED, since, RELOAD_LIMIT):
                self.verdict.problems.append(f"a reload did not end in {RELOAD_LIMIT:.0f}s")
                return False
        elif do == "hup_term":
            self._reload(act["variant"])
            time.sleep(act["gap"])
            return self._restart()
        elif do == "term":
            return self._restart()
        elif do == "flap":
            peer = self.peers[act["peer"]]
            if peer._server is None:
                peer.start()
            else:
                peer.stop()
        elif do == "freeze":
            self.agent.signal(signal.SIGSTOP)
            time.sleep(act["for"])
            self.agent.signal(signal.SIGCONT)
        elif do == "hold_acks":
            peer = self.peers[act["peer"]]
            peer.frozen.set()
            time.sleep(act["for"])
            peer.frozen.clear()
        if not self.agent.alive():
            self.verdict.problems.append(f"the agent exited by itself (code {self.agent.proc.returncode})")
            return False
        return True

    def run(self) -> Verdict:
        write_config(self.d, self.ports, "base")
        self.t0 = time.monotonic()
        going = self.agent.start()  # first: what rotates away before the agent first looks is no file it follows
        self.writer.start()
        if not going:
            self.verdict.problems.append("the agent did not start")
        end = self.t0 + self.seconds
        for act in schedule(self.seed):
            if not going or time.monotonic() >= end:
                break
            self.note(act, self.agent.offset())
            going = self.act(act)
            self.verdict.actions += 1
            time.sleep(act["pause"])
        self.writer.stopping.set()
        self.writer.join()
        self.verdict.written = self.writer.n
        if going:
            self._finish()
        else:
            for p in self.peers.values():
                p.frozen.clear()
        if self.agent.alive():
            self.agent.stop()
        for p in self.peers.values():
            p.stop()
        return self.verdict

    def _finish(self) -> None:
        """Both peers up, the base config reloaded; once both have every line (or settle passed), the stop; then
        the count."""
        for p in self.peers.values():
            if p._server is None:
                p.start()
        self.note({"do": "end", "variant": "base"}, self.agent.offset())
        since = self._reload("base")
        if not self.agent.wait_for(RELOADED, since, RELOAD_LIMIT):
            self.verdict.problems.append(f"the last reload did not end in {RELOAD_LIMIT:.0f}s")
        want = self.writer.n
        # Under load the agent may end the schedule far behind (at load 70, 25,000 of 229,000 lines delivered):
        # waited for as long as the peers' counts grow, and `settle` seconds at most after they stop growing.
        counts, moved = -1, time.monotonic()
        while not all(len(numbers(p)) >= want for p in self.peers.values()):
            now_counts = sum(len(p.records) for p in self.peers.values())
            if now_counts != counts:
                counts, moved = now_counts, time.monotonic()
            elif time.monotonic() - moved > self.settle:
                self.verdict.problems.append(f"the peers' counts stopped growing for {self.settle:.0f}s short of "
                                             "every line (a wedge, or lines lost: see below)")
                break
            time.sleep(0.5)
        time.sleep(3)  # what would come twice comes now
        rc, took = self.agent.stop()
        self.note({"do": "stopped", "rc": rc, "took": round(took, 1)}, self.agent.offset())
        if rc is None:
            self.verdict.problems.append(f"the last stop did not end in {STOP_LIMIT:.0f}s (killed)")
        check(want, {name: numbers(p) for name, p in self.peers.items()}, self.ports, self.agent.text(),
              len(line("w", 0).encode()), self.verdict)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--n", type=int, default=1, help="seeds seed .. seed+n-1, one after another")
    ap.add_argument("--seconds", type=float, default=120, help="of actions per seed (then the settling)")
    ap.add_argument("--rate", type=float, default=1000, help="lines written a second")
    ap.add_argument("--rotate-every", type=int, default=3000, help="lines between two rotations")
    ap.add_argument("--settle", type=float, default=60,
                    help="at the end, seconds without a peer's count growing before the lines missing count as lost")
    ap.add_argument("--out", default="/tmp/shipper-chaos", help="the seeds' folders: OUT/SEED")
    ap.add_argument("--keep", action="store_true", help="keep the folders of seeds that passed too")
    ap.add_argument("--quiet", action="store_true", help="do not print each action")
    a = ap.parse_args(argv)
    failed = []
    for seed in range(a.seed, a.seed + a.n):
        d = Path(a.out) / str(seed)
        print(f"seed {seed}: {a.seconds:.0f}s of actions, folder {d}", flush=True)
        v = Run(seed, a.seconds, d, a.rate, a.rotate_every, a.settle, not a.quiet).run()
        for text in v.excused:
            print(f"seed {seed}: named by the agent: {text}")
        if v.slow_stops:
            print(f"seed {seed}: stops past shutdown_timeout + 5 s (+1 s): {v.slow_stops}")
        if v.ok:
            print(f"seed {seed}: ok ({v.written} lines, {v.actions} actions)", flush=True)
            if not a.keep and not v.excused:  # (kept when the agent named a loss or repeat: to be read)
                shutil.rmtree(d, ignore_errors=True)
            continue
        failed.append(seed)
        for text in v.problems:
            print(f"seed {seed}: FAILED: {text}")
        print(f"seed {seed}: {v.written} lines, {v.actions} actions; journal {d}/agent.err, actions {d}/chaos.jsonl\n"
              f"  replay: make chaos SEED={seed} N=1 SECONDS={a.seconds:g}"
              f" ARGS='--rate {a.rate:g} --rotate-every {a.rotate_every}'", flush=True)
    print(f"{a.n - len(failed)} of {a.n} seeds passed" + (f"; failed: {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
