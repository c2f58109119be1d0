"""Black-box attack 7 (operator, issue 23): a burst of reloads (SIGHUP six times, 0.15 s apart, as a config
management run that rewrites the file step by step) during a source's wait. A file source of numbered lines
goes to stdout, to `fa` (a Fluentd that reads nothing: a SIGSTOPped server) and to `fb` (one that works). Reload
1 changes the source's tags: it waits for the batches `fa` is sending. Then the burst: every SIGHUP changes the
tags again, and from the 4th on `fb` points at another Fluentd that works. 3 s later `fa`'s server reads again.
Promised (docs/operations.md, "Reloads"): a reload repeats nothing and loses nothing, however often; a replaced
output's batches are read again for its replacement, and "the other outputs are not sent again what they
stored"; Fluentd's at-least-once resends are named in the journal ("the chunk will be sent again").
Found: every line arrives, /health 200, but `fa` (never replaced, never down: it only paused) stores one batch
twice, seqs 800-899 (100 events), and the journal names no resend of it. In 3 of 3 runs. (When the 2nd reload
is awaited before `fa` reads again, the same batch is stranded instead:
test_attack7_reload_replaces_other_output_while_one_wedged.py.)
Cause: the replaced fb held that batch (queued) while fa was still sending it; the reload took it back at once,
noting only stdout, so fa's ack was ignored and the re-read sent it to fa again. Now such a batch waits for fa,
and is read again only for the outputs that did not store it."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from tests.e2e.reload_overlap import get, on, seq_list, stdout_fa_fb_config
from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait, wait_until
from tests.tail.attack_agent import free_port, numbered

pytestmark = pytest.mark.slow

LINES = 3000


def test_reload_burst_replacing_the_working_output_repeats_nothing_on_the_wedged_one(tmp_path):
    wedged = ForwardServer(port=free_port()).start()
    wedged.frozen.set()  # takes the connection, reads nothing, acks nothing
    old_b = ForwardServer(port=free_port()).start()
    new_b = ForwardServer(port=free_port()).start()
    log = tmp_path / "app.log"
    log.write_text("".join(numbered(i) for i in range(LINES)))
    cfg = tmp_path / "shipper.yaml"
    http = free_port()

    def write_config(tags: str, b_port: int) -> None:
        cfg.write_text(stdout_fa_fb_config(tmp_path, http, log, tags, wedged.port, b_port))

    write_config("t0", old_b.port)
    out = tmp_path / "stdout.jsonl"
    journal = tmp_path / "agent.err"
    with open(out, "wb") as o, open(journal, "wb") as e:
        agent = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)], stdout=o, stderr=e)
    health: tuple[int, dict] = (0, {})
    try:
        wait_until(lambda: wedged.connections >= 1 and len(seq_list(out)) >= 100, 60,
                   "stdout shipping and the wedged output holding a chunk")
        write_config("t1", old_b.port)  # the source changes: it waits for the batches fa is sending
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: b"msg=reloaded" in journal.read_bytes(), 60, "reload 1 done")
        assert b"restarts once the batches" in journal.read_bytes()
        for i in range(2, 8):  # the burst
            write_config(f"t{i}", new_b.port if i >= 5 else old_b.port)
            agent.send_signal(signal.SIGHUP)
            time.sleep(0.15)
        time.sleep(3)
        wedged.frozen.clear()  # fa's server reads again
        wait_until(lambda: b"outputs_replaced=fb" in journal.read_bytes(), 60, "the reload replacing fb done")
        everywhere = wait(lambda: set(range(LINES)) <= set(seq_list(out)) and set(range(LINES)) <= set(on(wedged))
                          and set(range(LINES)) <= set(on(old_b)) | set(on(new_b)), 60)
        wait(lambda: get(http, "/health")[0] == 200, 15)
        health = get(http, "/health")
    finally:
        stop_process(agent)
        for s in (wedged, old_b, new_b):
            s.stop()
    assert everywhere, (f"stdout {len(set(seq_list(out)))} of {LINES}, fa {len(set(on(wedged)))}, "
                        f"fb {len(set(on(old_b)) | set(on(new_b)))}")
    assert not [s for s, n in Counter(seq_list(out)).items() if n > 1], "lines twice on stdout"
    on_fa = sorted(s for s, n in Counter(on(wedged)).items() if n > 1)
    resend_named = b"sent again" in journal.read_bytes()
    assert not on_fa or resend_named, f"{len(on_fa)} events twice on fa ({on_fa[:2]}..{on_fa[-1:]}), no resend named"
    assert not [s for s, n in Counter(on(new_b)).items() if n > 1], "lines twice on the new fb server"
    assert health[0] == 200, health
