"""Reloads that replace one output while another, kept, is wedged (issue 23; the cases the previous reload work
suspected, and attack 7 left untried). A file source of 3000 numbered lines goes to stdout, to `fa` (kept:
a Fluentd that reads nothing, a frozen peer, or an Elasticsearch answering 503 for a while) and to `fb`, which
a reload replaces while fa holds batches: fb frozen too, fb down (its server stopped), fb down after a first
reload put the source in its wait, or fb an Elasticsearch output. Then fa's server reads again.

Promised (docs/operations.md "Reloads"): a batch some outputs completed and others did not, when a reload
replaces one of those that did not, waits for the outputs still sending it and is read again only for the
outputs that did not store it: stdout and fa get every line once, the replacement every line it lacks, once
(a repeat on fa only if named: "the chunk will be sent again").
Before 7ad12f3 every case failed (1 run each): fb frozen sent 800 lines twice to fa, unnamed (the batches fb held
were taken back at once while fa still sent them); the four others stranded the batch after those fa held
(stdout and fa 900 of 3000 lines, the new fb 0) for good."""
from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter

import pytest

from tests.e2e.reload_overlap import get, on, seq_list
from tests.peers.bulk_server import BulkServer
from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait, wait_until
from tests.tail.attack_agent import free_port, numbered

pytestmark = pytest.mark.slow

LINES = 3000
CASES = ["fb_frozen", "fb_down", "tags_then_fb_down", "fb_elasticsearch", "fa_elasticsearch_retrying"]


def fluentd(name: str, port: int) -> str:
    return f"  - {{type: fluentd, name: {name}, host: 127.0.0.1, port: {port}, flush_interval: 0.2, ack_timeout: 1000}}"


def elasticsearch(name: str, es: BulkServer) -> str:
    return f"  - {{type: elasticsearch, name: {name}, hosts: [\"{es.url}\"], flush_interval: 0.2}}"


def seqs_in(es: BulkServer) -> list[int]:
    return [d["generic"]["seq"] for d in list(es.docs.values())]


@pytest.mark.parametrize("case", CASES)
def test_replacing_one_output_while_a_kept_one_is_wedged_loses_and_repeats_nothing(tmp_path, case):
    fa_es = case == "fa_elasticsearch_retrying"
    fb_es = case == "fb_elasticsearch"
    a = BulkServer(port=free_port()).start() if fa_es else ForwardServer(port=free_port()).start()
    if isinstance(a, ForwardServer):
        a.frozen.set()  # takes the connection, reads nothing, acks nothing
    else:
        a.fail_requests(10_000, 503)  # retried with backoff, holding its batches
    old_b = BulkServer(port=free_port()).start() if fb_es else ForwardServer(port=free_port()).start()
    new_b = BulkServer(port=free_port()).start() if fb_es else ForwardServer(port=free_port()).start()
    if case == "fb_frozen":
        assert isinstance(old_b, ForwardServer)
        old_b.frozen.set()
    log = tmp_path / "app.log"
    log.write_text("".join(numbered(i) for i in range(LINES)))
    cfg = tmp_path / "shipper.yaml"
    http = free_port()

    def write_config(tags: str, b) -> None:
        fa = elasticsearch("fa", a) if isinstance(a, BulkServer) else fluentd("fa", a.port)
        fb = elasticsearch("fb", b) if isinstance(b, BulkServer) else fluentd("fb", b.port)
        cfg.write_text(f"""
state_dir: {tmp_path}/state
shutdown_timeout: 2
http: {{listen: "127.0.0.1:{http}"}}
sources:
  - {{name: app, type: file, paths: ["{log}"], parser: json, batch_size: 100, tags: [{tags}]}}
outputs:
  - {{type: stdout}}
{fa}
{fb}
""")

    def reload(n: int, tags: str, b) -> None:
        write_config(tags, b)
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: journal.read_bytes().count(b"msg=reloaded") >= n, 60, f"reload {n} done")

    def on_a() -> list[int]:
        return seqs_in(a) if isinstance(a, BulkServer) else on(a)

    def on_b(server) -> list[int]:
        return seqs_in(server) if isinstance(server, BulkServer) else on(server)

    write_config("first", old_b)
    out = tmp_path / "stdout.jsonl"
    journal = tmp_path / "agent.err"
    with open(out, "wb") as o, open(journal, "wb") as e:
        agent = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)], stdout=o, stderr=e)
    health: tuple[int, dict] = (0, {})
    try:
        wait_until(lambda: (a.requests >= 1 if isinstance(a, BulkServer) else a.connections >= 1)
                   and len(seq_list(out)) >= 100, 60, "stdout shipping and fa holding batches")
        if case == "tags_then_fb_down":
            reload(1, "second", old_b)  # the source waits for the batches fa is sending
            assert b"restarts once the batches" in journal.read_bytes()
        if case in ("fb_down", "tags_then_fb_down"):
            old_b.stop()  # fb's server dies
        reload(journal.read_bytes().count(b"msg=reloaded") + 1, "second", new_b)  # fb replaced
        if isinstance(a, ForwardServer):
            a.frozen.clear()  # fa's server reads again
        else:
            a.stop_failing()
        everywhere = wait(lambda: set(range(LINES)) <= set(seq_list(out)) and set(range(LINES)) <= set(on_a())
                          and set(range(LINES)) <= set(on_b(old_b)) | set(on_b(new_b)), 60)
        wait(lambda: get(http, "/health")[0] == 200, 15)
        health = get(http, "/health")
    finally:
        stop_process(agent)
        for s in (a, old_b, new_b):
            s.stop()
    lines = seq_list(out)
    assert everywhere, (f"stdout {len(set(lines))} of {LINES}, fa {len(set(on_a()))}, "
                        f"fb {len(set(on_b(old_b)) | set(on_b(new_b)))} (new {len(set(on_b(new_b)))})")
    assert not [s for s, n in Counter(lines).items() if n > 1], "lines twice on stdout"
    twice_a = sorted(s for s, n in Counter(on_a()).items() if n > 1)
    assert not twice_a or b"sent again" in journal.read_bytes(), f"{len(twice_a)} lines twice on fa, unnamed"
    if isinstance(a, BulkServer):
        assert a.conflicts == 0, f"{a.conflicts} documents sent twice to fa"
    twice_b = sorted(s for s, n in Counter(on_b(new_b)).items() if n > 1)
    assert not twice_b, f"{len(twice_b)} lines twice on the new fb"
    if isinstance(new_b, BulkServer):
        assert new_b.conflicts == 0, f"{new_b.conflicts} documents sent twice to the new fb"
    assert health[0] == 200, health
    assert "Traceback" not in journal.read_text()
