"""A SIGTERM that comes while a SIGHUP's reload runs, both Fluentd servers healthy: nothing repeated (issue 23).

Found by the chaos harness (session 18, /work/notes/s18/report_chaos23.md): a SIGHUP swapping the two outputs' names,
a SIGTERM right after it, both servers up: `fluentd output closed while a chunk waited for its ack ... (a possible
repeat)` at each server, and each stored those 800 lines twice. Cause: since 29c3216 (attack 15) a reload the stop
cuts closed the outputs it closes with no wait at all, so a chunk whose ack was due within milliseconds was cut and
sent again at the next start. Operators take a SIGTERM for a clean stop (a kill -9 is where repeats are allowed).

Here both strict peers ack every chunk after ACK_DELAY (healthy, a little slow), so an output sending a backlog always
has a chunk waiting for its ack; the SIGTERM follows the journal's `reloading` within a few ms, so it lands inside
the reload (its drain, or before it). Variants: an output renamed, the two names swapped, both outputs' delivery
settings changed (each replaced), and only the source's tags changed (no output closed). After the stop and a
restart, every line is at each server exactly once and the journal names no possible repeat.

The same with an Elasticsearch and an OpenSearch peer (tests/peers/bulk_server.py) answering each bulk ACK_DELAY after
storing it: the reload closes them the same way. Their `create`s carry ids, so a cut bulk sent again is not stored
twice, but it is sent twice: each document sent again is answered 409 (counted in `conflicts`), which must stay 0.
"""
from __future__ import annotations

import collections
import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.fluentd_agent import start_agent, stored, write_lines
from tests.peers.bulk_server import BulkServer
from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait_until

pytestmark = pytest.mark.slow

LINES = 5000  # ~3 s of sending at ACK_DELAY: the stop comes with most still to send (asserted)
ACK_DELAY = 0.5  # each chunk's ack: well within the stop's deadline (shutdown_timeout 3 s)
REPEAT_WORDS = ("possible repeat", "may be shipped again", "are written again")


def _config(tmp: Path, log: Path, outputs: list[tuple[str, int]], tags: list[str] | None = None,
            flush_interval: float = 0.2, kinds: dict[int, tuple[str, str]] | None = None, shutdown_timeout: float = 3,
            in_flight: int = 8) -> Path:
    """The source "app" over `log` and an output per (name, port): Fluentd, or, for a port in `kinds`, (type, url),
    each with `in_flight` batches at most (max_in_flight_batches)."""
    source = {"name": "app", "type": "file", "paths": [str(log)], "parser": "json", "batch_size": 100,
              "parse_workers": 0}
    if tags is not None:
        source["tags"] = tags
    cfg = {"state_dir": str(tmp / "state"), "shutdown_timeout": shutdown_timeout, "sources": [source],
           "outputs": [{"type": "fluentd", "host": "127.0.0.1", "port": port, "name": name, "backoff_max": 1.0,
                        "flush_interval": flush_interval, "max_in_flight_batches": in_flight}
                       if port not in (kinds or {}) else
                       {"type": kinds[port][0], "hosts": [kinds[port][1]], "name": name, "backoff_max": 1.0,
                        "flush_interval": flush_interval, "max_in_flight_batches": in_flight}
                       for name, port in outputs]}
    path = tmp / "cfg.yaml"
    t = path.with_suffix(".tmp")
    t.write_text(json.dumps(cfg))  # JSON is YAML
    t.replace(path)
    return path


def _stop_inside_a_reload(agent: subprocess.Popen, journal: Path) -> None:
    """A SIGHUP, then a SIGTERM within a few ms of the journal's `reloading`: the stop lands inside the reload (its
    drain, or before it); the agent is waited for."""
    since = journal.stat().st_size
    agent.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 60
    while b"msg=reloading" not in journal.read_bytes()[since:] and time.monotonic() < deadline:
        time.sleep(0.002)
    agent.send_signal(signal.SIGTERM)
    agent.wait(60)
    assert b"msg=reloaded" not in journal.read_bytes()[since:].split(b"msg=stopping", 1)[0], (
        "the reload ended before the stop came: this test did not test a stop inside a reload")


def _journal_and_repeats_named(journal: Path) -> tuple[str, list[str]]:
    """The journal, and its lines that name a possible repeat."""
    said = journal.read_text(errors="replace")
    return said, [ln for ln in said.splitlines() if any(w in ln for w in REPEAT_WORDS)]


def _run_until(cfg: Path, journal: Path, done: Callable[[], bool], what: str) -> None:
    """The agent started again until `done()` (within 120 s), then stopped: it exits 0."""
    agent = start_agent(cfg, journal)
    try:
        wait_until(done, 120, what)
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 0, journal.read_text()
    finally:
        stop_process(agent, 60)


@pytest.mark.parametrize("change", ["rename", "swap", "delivery", "tags"])
def test_a_stop_inside_a_reload_repeats_nothing_at_healthy_servers(tmp_path: Path, change: str) -> None:
    log = tmp_path / "a.log"
    one = ForwardServer(mode="delay_ack", ack_delay=ACK_DELAY).start()
    two = ForwardServer(mode="delay_ack", ack_delay=ACK_DELAY).start()
    peers = {"one": one, "two": two}
    write_lines(log, "a", 0, LINES)
    cfg = _config(tmp_path, log, [("one", one.port), ("two", two.port)])
    journal = tmp_path / "journal.log"
    agent = start_agent(cfg, journal)
    try:
        # Both outputs are sending the backlog: each has acked a chunk, and many more are to come.
        wait_until(lambda: len(one.records) >= 1000 and len(two.records) >= 1000, 120, "a first chunk at both")
        if change == "rename":
            _config(tmp_path, log, [("uno", one.port), ("two", two.port)])
        elif change == "swap":
            _config(tmp_path, log, [("two", one.port), ("one", two.port)])
        elif change == "delivery":
            _config(tmp_path, log, [("one", one.port), ("two", two.port)], flush_interval=0.3)
        else:
            _config(tmp_path, log, [("one", one.port), ("two", two.port)], tags=["reloaded"])
        _stop_inside_a_reload(agent, journal)
        assert all(len(p.records) < LINES for p in peers.values()), "the stop came after every line was sent"
        for peer in peers.values():
            peer.ack_delay = 0.0  # the restart goes quickly
        write_lines(log, "z", 0, 1)  # the last line: a server has all it will get once it has this one
        _run_until(cfg, journal, lambda: ("z", 0) in stored(one) and ("z", 0) in stored(two), "the last line at both")
    finally:
        stop_process(agent, 60)
        one.stop()
        two.stop()
    said, named = _journal_and_repeats_named(journal)
    problems = []
    for name, peer in peers.items():
        counts = stored(peer)
        missing = [n for n in range(LINES) if counts[("a", n)] == 0]
        repeated = [n for n in range(LINES) if counts[("a", n)] > 1]
        if missing or repeated:
            problems.append(f"server first named {name}: {len(missing)} lines missing, {len(repeated)} repeated "
                            f"({repeated[:1]}..{repeated[-1:]})")
    assert not problems and not named, "; ".join(problems) + "\n" + "\n".join(named) + "\n" + said


@pytest.mark.parametrize("change", ["rename", "delivery", "tags"])
def test_a_stop_inside_a_reload_s_wait_at_healthy_servers_is_clean(tmp_path: Path, change: str) -> None:
    """The stop lands inside the reload's wait (the journal's `deliver their in-flight batches first`), the servers
    healthy, and the in-flight batches can be delivered well within shutdown_timeout (2 batches an output, acked 0.5 s
    late; shutdown_timeout 10): the stop is clean, as a stop outside a reload is — exit 0, nothing taken back, and
    the next start sends every line once. Until session 20 the reload's drain broke off at the stop signal and took
    back the batches no output had been handed: `events a reload took back to be read again were not read again
    and delivered before the stop`, exit 1 (nothing lost or repeated: they were read again at the next start)."""
    log = tmp_path / "a.log"
    one = ForwardServer(mode="delay_ack", ack_delay=ACK_DELAY).start()
    two = ForwardServer(mode="delay_ack", ack_delay=ACK_DELAY).start()
    peers = {"one": one, "two": two}
    write_lines(log, "a", 0, LINES)
    settings = {"shutdown_timeout": 10, "in_flight": 2}
    cfg = _config(tmp_path, log, [("one", one.port), ("two", two.port)], **settings)
    journal = tmp_path / "journal.log"
    agent = start_agent(cfg, journal)
    try:
        wait_until(lambda: len(one.records) >= 1000 and len(two.records) >= 1000, 120, "a first chunk at both")
        if change == "rename":
            _config(tmp_path, log, [("uno", one.port), ("two", two.port)], **settings)
        elif change == "delivery":
            _config(tmp_path, log, [("one", one.port), ("two", two.port)], flush_interval=0.3, **settings)
        else:
            _config(tmp_path, log, [("one", one.port), ("two", two.port)], tags=["reloaded"], **settings)
        since = journal.stat().st_size
        agent.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while b"deliver their in-flight batches first" not in journal.read_bytes()[since:] \
                and time.monotonic() < deadline:
            time.sleep(0.002)
        agent.send_signal(signal.SIGTERM)
        first_exit = agent.wait(60)
        first = journal.read_bytes()[since:].decode(errors="replace")
        assert "msg=reloaded" not in first.split("msg=stopping", 1)[0], (
            "the reload ended before the stop came: this test did not test a stop inside a reload")
        assert first_exit == 0 and "taken back" not in first and "took back" not in first, first
        assert all(len(p.records) < LINES for p in peers.values()), "the stop came after every line was sent"
        for peer in peers.values():
            peer.ack_delay = 0.0
        write_lines(log, "z", 0, 1)
        agent = start_agent(cfg, journal)
        wait_until(lambda: ("z", 0) in stored(one) and ("z", 0) in stored(two), 120, "the last line at both")
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 0, journal.read_text()
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
        one.stop()
        two.stop()
    said = journal.read_text(errors="replace")
    named = [ln for ln in said.splitlines() if any(w in ln for w in REPEAT_WORDS)]
    problems = []
    for name, peer in peers.items():
        counts = stored(peer)
        missing = [n for n in range(LINES) if counts[("a", n)] == 0]
        repeated = [n for n in range(LINES) if counts[("a", n)] > 1]
        if missing or repeated:
            problems.append(f"server first named {name}: {len(missing)} lines missing, {len(repeated)} repeated")
    assert not problems and not named, "; ".join(problems) + "\n" + "\n".join(named) + "\n" + said


def _es_lines(es: BulkServer) -> collections.Counter:
    """How many documents the peer holds of each line `n` of src "a" (never more than one: ids)."""
    return collections.Counter(d["generic"]["n"] for d in list(es.docs.values())
                               if isinstance(d, dict) and d.get("generic", {}).get("src") == "a")


@pytest.mark.parametrize("change", ["rename", "delivery"])
def test_a_stop_inside_a_reload_sends_nothing_twice_to_healthy_search_servers(tmp_path: Path, change: str) -> None:
    log = tmp_path / "a.log"
    es, osr = BulkServer(flavour="es9").start(), BulkServer(flavour="opensearch").start()
    for peer in (es, osr):
        peer.answer_delay = ACK_DELAY
    kinds = {es.port: ("elasticsearch", es.url), osr.port: ("opensearch", osr.url)}
    write_lines(log, "a", 0, LINES)
    cfg = _config(tmp_path, log, [("one", es.port), ("two", osr.port)], kinds=kinds)
    journal = tmp_path / "journal.log"
    agent = start_agent(cfg, journal)
    try:
        wait_until(lambda: len(_es_lines(es)) >= 1000 and len(_es_lines(osr)) >= 1000, 120, "a first bulk at both")
        if change == "rename":
            _config(tmp_path, log, [("uno", es.port), ("two", osr.port)], kinds=kinds)
        else:
            _config(tmp_path, log, [("one", es.port), ("two", osr.port)], flush_interval=0.3, kinds=kinds)
        _stop_inside_a_reload(agent, journal)
        assert all(len(_es_lines(p)) < LINES for p in (es, osr)), "the stop came after every line was stored"
        for peer in (es, osr):
            peer.answer_delay = 0.0
        write_lines(log, "z", 0, 1)
        _run_until(cfg, journal, lambda: all(len(_es_lines(p)) >= LINES for p in (es, osr)), "every line at both")
    finally:
        stop_process(agent, 60)
        es.stop()
        osr.stop()
    said, named = _journal_and_repeats_named(journal)
    sent_twice = {"elasticsearch": es.conflicts, "opensearch": osr.conflicts}
    assert not any(sent_twice.values()) and not named and not es.errors and not osr.errors, (
        f"documents sent again after being stored (409): {sent_twice}; {es.errors[:3]} {osr.errors[:3]}\n"
        + "\n".join(named) + "\n" + said)
