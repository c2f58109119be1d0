"""A source's `parse_workers`: the same events, ids, order and delivery guarantees as parsing in the
source's thread — through worker deaths (SIGKILL), SIGTERM, reload, and every output.

Every test runs the real agent (`shipper run`) as a subprocess; the parse workers are real
processes found in /proc and killed with real signals.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import orjson
import pytest

from tests.peers.bulk_server import BulkServer
from tests.peers.forward_server import ForwardServer

REPO = Path(__file__).resolve().parents[2]
SHIPPER = [os.path.join(os.path.dirname(sys.executable), "shipper")]
sys.path.insert(0, str(REPO / "bench"))
import corpus as corpora  # noqa: E402  (bench/corpus.py: realistic records of every product)

from tests.support import wait as wait_for, wait_until  # noqa: E402

pytestmark = pytest.mark.slow

# ------------------------------------------------------------------ helpers


def run_once(cfg: Path, timeout: float = 180) -> tuple[list[bytes], str]:
    r = subprocess.run([*SHIPPER, "run", "--once", "-c", str(cfg)], capture_output=True, timeout=timeout)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.splitlines(), r.stderr.decode()


def comparable(line: bytes) -> dict:
    """An event as output, minus the one field that is the time of parsing, not of the record: the
    @timestamp of a line that could not be parsed (shipper.ecs.failure_event), or the event.created
    of a record half parsed (shipper.ecs.flag_problems)."""
    ev = orjson.loads(line)
    if "_parse_failure" in ev.get("tags", ()):
        ev.pop("@timestamp", None)
        ev["event"].pop("created", None)
    return ev


def per_source(lines: list[bytes], key) -> dict[str, list[dict]]:
    """Events grouped by source, in output order: sources interleave freely, a source's own
    events come in read order in both modes."""
    out: dict[str, list[dict]] = defaultdict(list)
    for ln in lines:
        ev = comparable(ln)
        out[key(ev)].append(ev)
    return dict(out)


def with_workers(text: str, n: int) -> str:
    """A config's sources given `parse_workers: n` (each source block starts with `- name:`)."""
    return text.replace("  - name: ", f"  - parse_workers: {n}\n    name: ")


def descendants(pid: int) -> dict[int, tuple[int, str]]:
    """Every process under pid: {pid: (parent pid, command line)}."""
    procs: dict[int, tuple[int, str]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        procs[int(d)] = (int(stat.rsplit(")", 1)[1].split()[1]), cmd)
    out, todo = {}, [pid]
    while todo:
        parent = todo.pop()
        for p, (pp, cmd) in procs.items():
            if pp == parent and p not in out:
                out[p] = (pp, cmd)
                todo.append(p)
    return out


def parse_worker_pids(agent_pid: int) -> list[int]:
    """The pool's workers: children of the agent's forkserver process."""
    tree = descendants(agent_pid)
    servers = {p for p, (pp, cmd) in tree.items() if pp == agent_pid and "forkserver" in cmd}
    return [p for p, (pp, _) in tree.items() if pp in servers]



def write_corpus(path: Path, product: str, n: int, junk_every: int = 0) -> list[bytes]:
    lines = list(corpora.PRODUCTS[product][1](n))
    if junk_every:  # lines no parser can map: shipped flagged, in place
        for i in range(junk_every, len(lines), junk_every):
            lines[i] = b"not a record \xff" + str(i).encode()
    path.write_bytes(b"\n".join(lines) + b"\n")
    return lines


def datameer_config(tmp_path: Path, log: Path, state: str, workers: int, extra: str = "",
                    outputs: str = "  - type: stdout\n") -> Path:
    cfg = tmp_path / f"{state}.yaml"
    cfg.write_text(f"""state_dir: {tmp_path / state}
shutdown_timeout: 30
sources:
  - name: dm
    type: file
    paths: [{log}]
    parser: datameer
    batch_size: 200
    parse_workers: {workers}
{extra}outputs:
{outputs}""")
    return cfg


# ------------------------------------------------------------------ same output


def test_demo_samples_same_events_in_same_order_with_workers(tmp_path):
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    demo = (config / "demo.yaml").read_text()
    (config / "zero.yaml").write_text(demo.replace("../state/demo", str(tmp_path / "state0")))
    (config / "two.yaml").write_text(with_workers(demo.replace("../state/demo", str(tmp_path / "state2")), 2))
    zero, _ = run_once(config / "zero.yaml")
    two, _ = run_once(config / "two.yaml")
    module = lambda ev: ev["event"]["module"]  # noqa: E731  one product per source in the demo
    a, b = per_source(zero, module), per_source(two, module)
    assert set(a) == {"datameer", "posit_connect", "databricks", "cloudera_ai", "puppet_enterprise"}
    for name in a:
        assert b[name] == a[name], name
    assert len(two) == len(zero)
    # Both modes counted their parse failures and saw the same events: the demo's two broken lines.
    assert sum("_parse_failure" in comparable(l).get("tags", ()) for l in two) == 2
    assert run_once(config / "two.yaml")[0] == [], "a second run ships nothing: checkpoints moved"


def test_generated_corpora_byte_identical_with_workers(tmp_path):
    """Every product's generated records (and junk lines among them), enriched with tags, meta and
    event.original: the same bytes in the same order with 0, 1 and 3 workers."""
    sources = []
    for product in corpora.PRODUCTS:
        log = tmp_path / f"{product}.log"
        write_corpus(log, product, 1200, junk_every=97)
        sources.append(f"""  - name: {product}
    type: file
    paths: [{log}]
    parser: {corpora.PRODUCTS[product][0]}
    batch_size: 150
    tags: [from_test, "{product}"]
    preserve_original_event: true
    timezone: Europe/Berlin
""")
    outputs = {}
    for n in (0, 1, 3):
        cfg = tmp_path / f"w{n}.yaml"
        cfg.write_text(f"state_dir: {tmp_path / f'state{n}'}\nsources:\n" + with_workers("".join(sources), n)
                       + "outputs:\n  - type: stdout\n")
        lines, _ = run_once(cfg)
        by_file: dict[str, list[bytes]] = defaultdict(list)
        for ln in lines:
            ev = comparable(ln)
            by_file[ev["log"]["file"]["path"]].append(orjson.dumps(ev))
        outputs[n] = by_file
    assert len(outputs[0]) == len(corpora.PRODUCTS)
    for path, events in outputs[0].items():
        assert len(events) >= 1200, path
        assert outputs[1][path] == events, path
        assert outputs[3][path] == events, path


# ------------------------------------------------------------------ failures


def test_worker_killed_mid_run_every_event_exactly_once_in_order(tmp_path):
    log = tmp_path / "useraction.log"
    write_corpus(log, "datameer", 20_000, junk_every=1013)
    expected, _ = run_once(datameer_config(tmp_path, log, "ref", 0))
    assert len(expected) == 20_000

    cfg = datameer_config(tmp_path, log, "state", 2)
    agent = subprocess.Popen([*SHIPPER, "run", "--once", "-c", str(cfg)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    err: list[bytes] = []
    threading.Thread(target=lambda: err.extend(agent.stderr), daemon=True).start()
    try:
        # The test reads slowly at first: stdout's pipe fills, the agent holds batches at every stage.
        got = [agent.stdout.readline() for _ in range(2000)]
        # The workers start beside the source (the collector parses meanwhile); each names itself once up.
        assert wait_for(lambda: [_comm(p) for p in parse_worker_pids(agent.pid)] == ["shipper-parse\n"] * 2, 60), \
            descendants(agent.pid)  # what ps shows
        workers = parse_worker_pids(agent.pid)
        os.kill(workers[0], signal.SIGKILL)
        got += agent.stdout.read().splitlines(keepends=True)
        assert agent.wait(120) == 0, b"".join(err).decode()
    finally:
        if agent.poll() is None:
            agent.kill()
    got = [g.rstrip(b"\n") for g in got]
    assert [comparable(g) for g in got] == [comparable(e) for e in expected]
    assert b"a parse worker died" in b"".join(err)
    assert run_once(cfg)[0] == []
    assert wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in workers), 30), "workers ended"


def test_sigterm_during_a_workers_run_exits_0_and_restart_loses_and_repeats_nothing(tmp_path):
    log = tmp_path / "useraction.log"
    write_corpus(log, "datameer", 20_000)
    expected, _ = run_once(datameer_config(tmp_path, log, "ref", 0))

    cfg = datameer_config(tmp_path, log, "state", 2)
    agent = subprocess.Popen([*SHIPPER, "run", "-c", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err: list[bytes] = []
    threading.Thread(target=lambda: err.extend(agent.stderr), daemon=True).start()
    try:
        got = [agent.stdout.readline() for _ in range(3000)]
        agent.send_signal(signal.SIGTERM)
        got += agent.stdout.read().splitlines(keepends=True)
        assert agent.wait(120) == 0, b"".join(err).decode()
    finally:
        if agent.poll() is None:
            agent.kill()
    # The source stops at its next check (the file source may finish its pass first): whatever it
    # had read is delivered or read again, never both.
    rest, _ = run_once(cfg)
    got = [g.rstrip(b"\n") for g in got] + rest
    assert [comparable(g) for g in got] == [comparable(e) for e in expected]


def test_reload_from_workers_to_none_and_back_loses_and_repeats_nothing(tmp_path):
    log = tmp_path / "useraction.log"
    lines = write_corpus(log, "datameer", 6000)
    out = tmp_path / "out.ndjson"
    cfg = datameer_config(tmp_path, log, "state", 2, extra="    poll_interval: 0.2\n    preserve_original_event: true\n")
    with open(out, "wb") as sink:
        agent = subprocess.Popen([*SHIPPER, "run", "-c", str(cfg)], stdout=sink, stderr=subprocess.PIPE)
    err: list[bytes] = []
    threading.Thread(target=lambda: err.extend(agent.stderr), daemon=True).start()

    def shipped() -> int:
        return out.read_bytes().count(b"\n")

    try:
        assert wait_for(lambda: shipped() == 6000, 120), shipped()
        for n, more in ((0, 3000), (2, 3000)):
            cfg.write_text(cfg.read_text().replace(f"parse_workers: {2 - n}", f"parse_workers: {n}"))
            agent.send_signal(signal.SIGHUP)
            assert wait_for(lambda: b"msg=reload" in b"".join(err) and (len(parse_worker_pids(agent.pid)) == n), 60)
            new = list(corpora.datameer(len(lines) + more))[len(lines):]
            with open(log, "ab") as f:
                for i in range(0, more, 500):  # a growing log
                    f.write(b"\n".join(new[i:i + 500]) + b"\n")
                    f.flush()
                    time.sleep(0.05)
            lines += new
            assert wait_for(lambda: shipped() == len(lines), 120), (shipped(), len(lines))
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 0, b"".join(err).decode()
    finally:
        if agent.poll() is None:
            agent.kill()
    events = [orjson.loads(l) for l in out.read_bytes().splitlines()]
    assert [e["event"]["original"].encode() for e in events] == lines, "each line once, in order"


# ------------------------------------------------------------------ outputs


def test_elasticsearch_with_workers_same_ids_every_doc_once(tmp_path):
    log = tmp_path / "useraction.log"
    write_corpus(log, "datameer", 5000, junk_every=499)
    docs = {}
    dead = {}
    for n in (0, 2):
        es = BulkServer().start()
        # A "mapping error" for some documents: dead-lettered with their event, in both modes.
        es.reject_when = lambda doc: doc.get("user", {}).get("name", "").endswith("7")
        try:
            out = f"""  - type: elasticsearch
    hosts: ['{es.url}']
    backoff_base: 0.05
    compress: false
    dead_letter: {tmp_path / f'dead{n}.ndjson'}
"""
            run_once(datameer_config(tmp_path, log, f"es{n}", n, outputs=out))
        finally:
            es.stop()
        assert es.errors == [] and es.conflicts == 0
        docs[n] = {key: comparable(orjson.dumps(d)) for key, d in es.docs.items()}
        dead[n] = sorted(orjson.dumps(comparable(orjson.dumps(orjson.loads(l)["event"])))
                         for l in (tmp_path / f"dead{n}.ndjson").read_bytes().splitlines())
    assert dead[0] and dead[2] == dead[0]
    assert len(docs[0]) + len(dead[0]) == 5000
    assert docs[2] == docs[0], "same indices, same _ids, same documents"


def test_fluentd_with_workers_same_records(tmp_path):
    log = tmp_path / "useraction.log"
    write_corpus(log, "datameer", 3000, junk_every=301)
    records = {}
    for n in (0, 2):
        fwd = ForwardServer().start()
        try:
            out = f"""  - type: fluentd
    port: {fwd.port}
    flush_interval: 0.1
"""
            run_once(datameer_config(tmp_path, log, f"fwd{n}", n, outputs=out))
        finally:
            fwd.stop()
        assert fwd.errors == []
        # EventTime is the event's @timestamp; a failure's is the time of parsing (see comparable).
        records[n] = [(tag, None if "_parse_failure" in rec.get("tags", ()) else t, comparable(orjson.dumps(rec)))
                      for tag, t, rec in fwd.records]
    assert len(records[0]) == 3000
    assert Counter(orjson.dumps(r) for r in records[2]) == Counter(orjson.dumps(r) for r in records[0])


# ------------------------------------------------------------------ the stop (auto: tests/core/test_parse_workers_auto.py)


def test_stop_ends_the_workers_forkserver_and_resource_tracker_before_the_agent_exits(tmp_path):
    log = tmp_path / "useraction.log"
    write_corpus(log, "datameer", 20_000)
    cfg = datameer_config(tmp_path, log, "state", 2)
    agent = subprocess.Popen([*SHIPPER, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: len(parse_worker_pids(agent.pid)) == 2, 120, "two parse workers")
        helpers = descendants(agent.pid)
        cmds = " ".join(cmd for _, cmd in helpers.values())
        assert "forkserver" in cmds and "resource_tracker" in cmds, cmds
        agent.send_signal(signal.SIGTERM)
        agent.wait(120)
        err = agent.stderr.read().decode()
    finally:
        if agent.poll() is None:
            agent.kill()
    left = [(p, cmd) for p, (_, cmd) in helpers.items() if _alive(p)]
    assert not left, f"still running after the agent exited: {left}\n{err}"


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
