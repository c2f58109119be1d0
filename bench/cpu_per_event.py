#!/usr/bin/env python3
"""Issue 19: CPU µs per event of `shipper run --once` per product, beside the bare loop, in one run.

    .venv/bin/python bench/cpu_per_event.py                                   # 400 k records, 7 rounds
    .venv/bin/python bench/cpu_per_event.py --records 100000 --rounds 1 --products datameer
    make bench-venv && .venv/bin/python bench/cpu_per_event.py --python .venv-bench/bin/python --python .venv/bin/python

`--python` (repeatable; default: the interpreter running this script) names the interpreter the contenders run on:
a venv's python with the project installed. The figures to quote are those of the interpreter production runs
on: docs/operations.md installs the agent into a venv of the distribution's python3, and `make bench-venv` makes
one from /usr/bin/python3 (.venv-bench). Interpreters differ in their build far more than a session's cuts: on
Debian 12 the same code took ~20 % less CPU a record under /usr/bin/python3.11 (profile-guided, LTO, libpython
linked into the executable) than under the pyenv build the test venv is made from here (libpython3.11.so,
no PGO) (bench/README.md, sessions 20-21).

Per product: a corpus with distinct addresses and 5,000 users (bench/corpus.py --distinct), then rounds of
shipper parsing in its thread (`parse_workers: 0`) and shipper as configured by default (`auto`: worker
processes on a backlog), each run between two runs of the bare loop (bench/floor.py bare: read,
orjson.loads, a small dict, orjson.dumps, write): bare, in-thread, bare, default, bare, … Each runs under
bench/tree_time.py: CPU of the whole process tree, parse workers and forkserver included (none escapes: they
are re-parented to the timer and waited for), wall time to the last process's end. shipper writes to stdout
redirected to a file, as the bare loop does. A contender's × bare is the median over the rounds of its CPU a
record over the mean of the two bare loops beside it; µs and records/s are medians; the spread over the
rounds is printed too, every run's figures kept in cpe-runs.jsonl.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import corpus as corpora  # noqa: E402

PY = sys.executable  # runs the timer (bench/tree_time.py); the contenders run on --python
PRODUCTS = ["datameer", "databricks", "posit_connect_json", "cloudera_ai", "puppet_enterprise"]
GOAL = {"datameer": 4.0}  # × the bare loop's CPU per event, parsing in the thread (issue 19); 5 × for the others


# As installed (pip writes every module's bytecode): a shell with PYTHONDONTWRITEBYTECODE set made every run
# compile the agent's modules again, ~0.3 s of CPU a run (1.5 µs a record of 200,000) that no host pays.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def compile_agent(python: str = PY) -> None:
    """The agent's and its plugins' bytecode written once by `python`, before any run is timed: the modules
    `python` imports (an editable install's: this checkout's shipper/ and plugins/)."""
    code = ("import compileall, os, shipper, shipper_plugins\n"
            "for p in (shipper, shipper_plugins):\n"
            "    compileall.compile_dir(os.path.dirname(os.path.realpath(p.__file__)), quiet=1)")
    subprocess.run([python, "-c", code], check=True, env=ENV)


def shipper_command(python: str) -> list[str]:
    script = Path(python).with_name("shipper")
    return [str(script)] if script.exists() else [python, "-m", "shipper.cli"]


# --autogroup-nice: each timed run in a session of its own whose scheduler autogroup gets this nice value (None: as
# started). With autogroups (Linux's default on desktops and this host's), CPU is shared between sessions first, so
# a process's own nice does nothing against other sessions' work; an autogroup's does (negative: root).
AUTOGROUP_NICE: int | None = None


def _own_autogroup() -> None:
    """In the child, after its setsid: its new autogroup's nice."""
    with open("/proc/self/autogroup", "w") as f:
        f.write(str(AUTOGROUP_NICE))


def timed(cmd: list[str], out: Path) -> dict:
    own = AUTOGROUP_NICE is not None
    p = subprocess.run([PY, str(BENCH / "tree_time.py"), "--out", str(out), "--", *cmd],
                       stderr=subprocess.PIPE, text=True, env=ENV, start_new_session=own,
                       preexec_fn=_own_autogroup if own else None)
    lines = p.stderr.strip().splitlines()
    if p.returncode != 0 or not lines:
        raise RuntimeError(f"{cmd} failed: {p.stderr[-2000:]}")
    return json.loads(lines[-1])


def machine() -> str:
    """What the figures depend on beside the code: the same instructions took ~45 % longer a record on a Zen 2
    with 512 KB of L2 than on session 15's host, the bare loop not (bench/README.md, session 17). The hypervisor
    may hide the model's name ("AMD EPYC"): its family and model say which it is."""
    cpu: dict[str, str] = {}
    with open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            if not key.strip():
                break  # the first CPU's block is enough
            cpu.setdefault(key.strip(), value.strip())
    caches = []
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        level, kind = (index / "level").read_text().strip(), (index / "type").read_text().strip()
        if kind != "Instruction":
            caches.append(f"L{level} {(index / 'size').read_text().strip()}")
    return (f"{os.cpu_count()} CPUs: {cpu.get('model name', '?')} (family {cpu.get('cpu family', '?')}, model "
            f"{cpu.get('model', '?')}, {cpu.get('cpu MHz', '?')} MHz), {', '.join(caches)}; Linux {os.uname().release}; "
            f"load {os.getloadavg()[0]:.1f}")


# Run by each interpreter about itself. Whether libpython is a shared library is read from what the process maps,
# not from sysconfig: Debian's python3.11 says --enable-shared (it ships the library too) while its executable has
# the interpreter linked in, and its profile-guided, link-time optimised build names neither in CONFIG_ARGS.
_DESCRIBE = """\
import os, sys, sysconfig, orjson
with open("/proc/self/maps") as f:
    shared = any("libpython" in line for line in f)
named = [a for a in ("--enable-optimizations", "--with-lto") if a in (sysconfig.get_config_var("CONFIG_ARGS") or "")]
print(f"Python {sys.version.split()[0]} at {os.path.realpath(sys._base_executable)} (libpython "
      f"{'a shared library' if shared else 'linked into the executable'}; configure names "
      f"{' '.join(named) or 'no --enable-optimizations, no --with-lto'}), orjson {orjson.__version__}")
"""


def interpreter(python: str) -> str:
    """What `python` is (its version, build, orjson); SystemExit if it cannot run the agent."""
    p = subprocess.run([python, "-c", "import shipper.cli, shipper_plugins\n" + _DESCRIBE], capture_output=True,
                       text=True, env=ENV)
    if p.returncode != 0:
        raise SystemExit(f"{python} cannot run the agent (a venv with the project installed: make bench-venv):\n"
                         f"{p.stderr[-1500:]}")
    return p.stdout.strip()


def count_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as f:
        while b := f.read(1 << 22):
            n += b.count(b"\n")
    return n


def shipper_config(out: Path, name: str, path: Path, workers: str) -> Path:
    state = out / f"state-cpe-{name}-{workers}"
    subprocess.run(["rm", "-rf", str(state)], check=True)
    cfg = out / f"cpe-{name}-{workers}.yaml"
    cfg.write_text(f"state_dir: {state}\nsources:\n  - name: {name}\n    type: file\n    paths: [{path}]\n"
                   f"    parser: {corpora.PRODUCTS[name][0]}\n    parse_workers: {workers}\noutputs:\n  - type: stdout\n")
    return cfg


def spread(values: list[float], digits: int) -> str:
    """min–max of one figure over the rounds, and how far the farthest is from their median (± %)."""
    mid = statistics.median(values)
    reach = max(abs(v - mid) for v in values) / mid * 100 if mid else 0.0
    return f"{min(values):,.{digits}f}–{max(values):,.{digits}f} (±{reach:.0f} %)"


def sequence(rounds: int, pythons: list[str]) -> list[tuple[str, str]]:
    """The order of the runs: per interpreter, the bare loop between every two contenders — bare, in-thread,
    bare, default, bare, … — so that each contender's run has a bare loop seconds before and after it. On this
    2-core host shared with other agents the bare loop's CPU a record moved ±20 % between runs (bench/README.md,
    session 24), more than a session's cuts: a ratio to the bare loops run beside it meets the same neighbours'
    load, where the ratio of two medians over rounds compared runs minutes apart. With several interpreters the
    rounds alternate between them (each its own bare loops)."""
    order: list[tuple[str, str]] = []
    for _ in range(rounds):
        for python in pythons:
            for kind in ("0", "auto"):
                if order[-1:] != [(python, "bare")]:
                    order.append((python, "bare"))
                order += [(python, kind), (python, "bare")]
    return order


def run(products: list[str], records: int, rounds: int, out: Path, pythons: list[str], say=print) -> None:
    out.mkdir(parents=True, exist_ok=True)
    builds = {python: interpreter(python) for python in pythons}
    for python in pythons:
        compile_agent(python)
    at_start = machine()
    rows = []
    log = out / "cpe-runs.jsonl"  # every run's figures, in the order run: the spread can be looked at again
    with open(log, "w") as runs:
        for name in products:
            path = corpora.corpus(name, records, out / "corpus", distinct=True)
            scratch = out / "cpe.out"
            timeline: dict[str, list[tuple[str, dict]]] = {python: [] for python in pythons}
            for python, kind in sequence(rounds, pythons):
                if kind == "bare":
                    r = timed([python, str(BENCH / "floor.py"), "bare", name, str(path), str(out / "cpe-bare.out")],
                              out / "cpe-bare.stdout")
                    r["events"] = count_lines(out / "cpe-bare.out")
                else:
                    cfg = shipper_config(out, name, path, kind)
                    r = timed([*shipper_command(python), "run", "--once", "-c", str(cfg)], scratch)
                    r["events"] = count_lines(scratch)
                timeline[python].append((kind, r))
                runs.write(json.dumps({"corpus": name, "python": python, "kind": kind, **r}) + "\n")
                runs.flush()
            scratch.unlink(missing_ok=True)
            for python in pythons:
                rows.append((name, pythons.index(python) + 1, *summary(timeline[python], records)))
    say(f"`bench/cpu_per_event.py --records {records} --rounds {rounds}` (distinct addresses, 5,000 users; whole "
        "process trees by bench/tree_time.py; each contender's run between two bare loops, its ratio to their mean "
        f"CPU a record; medians over the rounds; every run in {log})\n")
    priority = "" if AUTOGROUP_NICE is None else f"; each run in an autogroup of its own at nice {AUTOGROUP_NICE}"
    say(f"Host: {at_start}; at the end {os.getloadavg()[0]:.1f}{priority}.\n")
    for number, python in enumerate(pythons, 1):
        say(f"Interpreter {number}: {builds[python]} (the venv {python}).\n")
    say("CPU µs and rates are per record read (one event each; Puppet Enterprise commits give 1-3, the events column); "
        "each row's bare loop runs on that row's interpreter. **× bare**: the median of the rounds' ratios.\n")
    say("| corpus | interpreter | events | bare loop CPU µs/rec | shipper in-thread (`parse_workers: 0`) µs/rec "
        "| **× bare** | goal | default (`auto`) µs/rec | × bare | bare rec/s | in-thread rec/s | default rec/s "
        "| peak PSS MiB in-thread / default |")
    say("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, number, events, us, ratio, rate, pss, _kernel, _spread in rows:
        say(f"| {name} | {number} | {events:,} | {us['bare']:.1f} | {us['0']:.1f} | **{ratio['0']:.1f}** "
            f"| ≤ {GOAL.get(name, 5.0):.0f} | {us['auto']:.1f} | {ratio['auto']:.1f} | {rate['bare']:,.0f} "
            f"| {rate['0']:,.0f} | {rate['auto']:,.0f} | {pss['0']:.0f} / {pss['auto']:.0f} |")
    say()
    say("The spread over the rounds (min–max, and the farthest from the median):\n")
    say("| corpus | interpreter | bare loop µs/rec | in-thread × bare | default × bare | default rec/s |")
    say("|---|---:|---|---|---|---|")
    for name, number, *_, spread in rows:
        say(f"| {name} | {number} | {spread['bare']} | {spread['0']} | {spread['auto']} | {spread['rate']} |")
    say()
    for name, number, *_, kernel, _spread in rows:
        say(f"{name}, interpreter {number}: CPU in the kernel (sys): bare loop {kernel['bare']:.0f} %, in-thread "
            f"{kernel['0']:.0f} %, default {kernel['auto']:.0f} %")
    say()


def summary(timeline: list[tuple[str, dict]], records: int) -> tuple:
    """One interpreter's runs of one corpus, in the order run → the table's figures: medians, and each contender's
    ratio to the bare loops run just before and after it (the median of those per-round ratios)."""
    kinds = ("bare", "0", "auto")
    got: dict[str, list[dict]] = {k: [r for kind, r in timeline if kind == k] for k in kinds}

    def us(r: dict) -> float:  # per record read (Puppet's commits give 1-3 events), so the bare loop's compares
        return r["cpu_s"] / records * 1e6

    ratios: dict[str, list[float]] = {"0": [], "auto": []}
    for i, (kind, r) in enumerate(timeline):
        if kind != "bare":
            beside = [us(timeline[j][1]) for j in (i - 1, i + 1) if timeline[j][0] == "bare"]
            ratios[kind].append(us(r) / statistics.mean(beside))
    med = {k: statistics.median(us(r) for r in got[k]) for k in kinds}
    ratio = {k: statistics.median(v) for k, v in ratios.items()}
    rates = {k: [records / r["wall_s"] for r in got[k]] for k in kinds}
    rate = {k: statistics.median(v) for k, v in rates.items()}
    pss = {k: max(r["peak_pss_mib"] for r in got[k]) for k in kinds}
    # The kernel's share (reading and writing the files): ~40 % of the bare loop's CPU, ~2 % of shipper's
    kernel = {k: statistics.median(r["sys_s"] / r["cpu_s"] * 100 if r["cpu_s"] else 0.0 for r in got[k]) for k in kinds}
    spreads = {"bare": spread([us(r) for r in got["bare"]], 1), "0": spread(ratios["0"], 2),
               "auto": spread(ratios["auto"], 2), "rate": spread(rates["auto"], 0)}
    return got["0"][0]["events"], med, ratio, rate, pss, kernel, spreads


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=400_000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--products", default=",".join(PRODUCTS))
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "shipper-bench")
    ap.add_argument("--autogroup-nice", type=int, metavar="N",
                    help="run each contender in a session of its own whose scheduler autogroup has nice N (-15, as "
                         "root): on a host shared with other sessions' work the runs get the CPU first (bench/README.md, "
                         "session 25)")
    ap.add_argument("--python", action="append",
                    help="a venv's python with the project installed, the contenders' interpreter (repeatable; default: "
                         "this one). Quote the figures of the one production runs on: make bench-venv, "
                         "--python .venv-bench/bin/python")
    a = ap.parse_args()
    global AUTOGROUP_NICE
    AUTOGROUP_NICE = a.autogroup_nice
    run(a.products.split(","), a.records, a.rounds, a.out, a.python or [PY])
    return 0


if __name__ == "__main__":
    sys.exit(main())
