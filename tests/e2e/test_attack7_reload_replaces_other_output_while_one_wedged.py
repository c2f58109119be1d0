"""Black-box attack 7 (operator, issue 23): two reloads overlapping, with two Fluentd outputs. A file source of
numbered lines goes to stdout, to `fa` (a Fluentd that reads nothing: a SIGSTOPped server) and to `fb` (one that
works). The first reload changes the source (its tags): it waits for the batches `fa` is sending ("the source
restarts once the batches its outputs are sending complete", docs/operations.md). The second, during that wait,
replaces the OTHER output, `fb` (pointed at another Fluentd that works; renaming it away and back does the same).
Then `fa`'s server reads again. Promised: "Further reloads during that wait apply as any other: an output it waits
for that one replaces, renames or removes no longer holds its batches (they are read again …), and the source
restarts with the latest config"; a reload "repeats nothing and loses nothing".
Found: the 8-9 batches `fa` held complete once its server reads, but one batch stays "held by no output" for good:
the source never restarts (`/status` running false, 1 batch in flight), /health 503 (`restart after a reload
pending, 1 batches not completed for 108s …, held by no output`). 900 of 3000 lines reached stdout and `fa`, 800
the old `fb` server, 0 the new one: 2100 lines never shipped while the agent runs (a stop leaves them to the next
start). Reproduced in 5 of 5 runs (replace fb; replace fb then change the tags again; rename fb and back); removing fb
does the same (3 of 3: remove; remove and re-add; remove the source, replace fb, add the source back).
The batch `fb` was sending when it was replaced is in no queue and no output's hands, and nothing reads it again.
Cause: the source's put of that batch (800-899) waited for room in fa's queue; once fa read, the put to the closed
fb queued it in a worker whose thread had ended. Now a closed output refuses the put: the batch is stranded for
fb, waits for fa, and is read again for fb only."""
from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter

import pytest

from tests.e2e.reload_overlap import get, on, seq_list, stdout_fa_fb_config
from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait, wait_until
from tests.tail.attack_agent import free_port, numbered

pytestmark = pytest.mark.slow

LINES = 3000


@pytest.mark.parametrize("change", ["replace", "remove"])
def test_reload_replacing_the_working_output_while_the_other_is_wedged(tmp_path, change):
    wedged = ForwardServer(port=free_port()).start()
    wedged.frozen.set()  # takes the connection, reads nothing, acks nothing
    old_b = ForwardServer(port=free_port()).start()
    new_b = ForwardServer(port=free_port()).start()
    log = tmp_path / "app.log"
    log.write_text("".join(numbered(i) for i in range(LINES)))
    cfg = tmp_path / "shipper.yaml"
    http = free_port()

    def write_config(tags: str, b_port: int | None) -> None:
        cfg.write_text(stdout_fa_fb_config(tmp_path, http, log, tags, wedged.port, b_port))

    def reloaded(n: int) -> None:
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: journal.read_bytes().count(b"msg=reloaded") >= n, 60, f"reload {n} done")

    write_config("first", old_b.port)
    out = tmp_path / "stdout.jsonl"
    journal = tmp_path / "agent.err"
    with open(out, "wb") as o, open(journal, "wb") as e:
        agent = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)], stdout=o, stderr=e)
    status: dict = {}
    health: tuple[int, dict] = (0, {})
    try:
        wait_until(lambda: wedged.connections >= 1 and len(seq_list(out)) >= 100, 60,
                   "stdout shipping and the wedged output holding a chunk")
        write_config("second", old_b.port)  # the source changes: it waits for the batches fa is sending
        reloaded(1)
        assert b"restarts once the batches" in journal.read_bytes()
        # the other output, fb, is pointed at another Fluentd that works, or removed
        write_config("second", new_b.port if change == "replace" else None)
        reloaded(2)
        wedged.frozen.clear()  # fa's server reads again: every batch it held completes
        everywhere = wait(lambda: set(range(LINES)) <= set(seq_list(out)) and set(range(LINES)) <= set(on(wedged))
                          and (change == "remove" or set(range(LINES)) <= set(on(old_b)) | set(on(new_b))), 30)
        status = get(http, "/status")[1]["sources"]["app"]
        wait(lambda: get(http, "/health")[0] == 200, 15)
        health = get(http, "/health")
    finally:
        stop_process(agent)
        for s in (wedged, old_b, new_b):
            s.stop()
    lines = seq_list(out)
    assert everywhere, (f"30 s after fa's server reads again: stdout {len(set(lines))} of {LINES} lines, fa "
                        f"{len(set(on(wedged)))}, fb {len(set(on(old_b)) | set(on(new_b)))}; the source: "
                        f"running={status.get('running')}, in flight={status.get('in_flight_batches')}; "
                        f"/health {health}")
    assert not {s for s, n in Counter(lines).items() if n > 1}, "lines repeated on stdout"
    assert not {s for s, n in Counter(on(new_b)).items() if n > 1}, "lines repeated on the new fb server"
    assert status.get("running") and health[0] == 200, (status, health)
