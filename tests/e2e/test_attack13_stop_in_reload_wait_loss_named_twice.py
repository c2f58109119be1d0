"""Black-box attack 13 (operator, issues 13 and 23): a file source of numbered lines, rolled Log4j 1.2-style at 8,000
bytes with MaxBackupIndex=1 (~300 lines/s: a roll every ~0.6 s), goes to stdout and to a Fluentd output whose server
is down. The operator reloads 10 times, 1.5 s apart, each changing the output's `batch_size` (the source waits for
the batches Fluentd is sending, reading nothing, while the log rolls past its backup); then stops the agent
(SIGTERM) during the outage, and starts it again with Fluentd back.

Promised (docs/operations.md "Reloads"): stopped during such a wait, "what was unread in them is lost with the last
descriptor, and the stop warns it per family, with the number of files and their unread bytes (`data lost: N bytes
of app.log were never read: K rotated file(s) …`), counted in `shipper_losses`. What was read and not yet delivered
is named at the next start from the checkpoint, as before." README: only real loss is called loss — each lost byte
named once.

Found: the stop's figure is exact (it equals the bytes of the lines stdout never got), but the next start names
most of those same never-read files again, one `data lost: 8010 bytes of app.log (rotated away, held open) were
deleted …` each, beside the read-but-undelivered ones: the bytes declared lost exceed the bytes lost at any output
by ~35-58 KB (7 files of 8 KB) — e.g. 166,227 named for 129,301 missing at Fluentd (96,120 of them at stdout too).
By hand 4/4 (/tmp/al13/s1.py STOP=term; ES answering 429 instead of Fluentd down: the same; a full state_dir
meanwhile, /tmp/al13/s5.py: the same). A kill -9 instead of the stop: no double count (nothing saved).
Session 24 (hold21's holder entries, 6616a7b): the next start named ~6 files again as held "when it ended without a
stop" — their `held:` entries outlived the stop's naming. Fixed in session 25: the stop's save of what this run read
and did not deliver (FileSource.unsaved_state, or the hand-over's close) retires the entries of the held files it is
about to name lost (FileSource._held_let_go)."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from tests.e2e.reload_overlap import on, seq_list
from tests.e2e.test_attack12_reloads_while_down_lose_reread import Log4jWriter, config, wait_for_fluentd
from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait_until
from tests.tail.attack_agent import free_port, numbered

pytestmark = pytest.mark.slow


def test_a_loss_at_a_stop_during_a_reload_wait_is_named_once(tmp_path):
    server = ForwardServer().start()
    http = free_port()
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(config(tmp_path, http, server.port, 50))
    (tmp_path / "app.log").write_text("")
    errs = [tmp_path / "err1.txt", tmp_path / "err2.txt"]
    outs = [tmp_path / "out1.jsonl", tmp_path / "out2.jsonl"]
    journal = lambda: "".join(e.read_text(errors="replace") for e in errs if e.exists())  # noqa: E731

    def start(run: int) -> subprocess.Popen:
        with open(outs[run], "wb") as out, open(errs[run], "wb") as e:
            return subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)], stdout=out,
                                    stderr=e)
    agent = start(0)
    writer = Log4jWriter(tmp_path / "app.log")
    try:
        wait_until(lambda: "msg=started" in journal(), 60, "the agent's start")
        writer.start()
        wait_until(lambda: len(on(server)) >= 300, 60, "the first lines at Fluentd")
        server.stop()  # down from here
        for k in range(1, 11):
            time.sleep(1.5)
            cfg.write_text(config(tmp_path, http, server.port, 50 + k % 2))  # the output replaced
            agent.send_signal(signal.SIGHUP)
        writer.stopped.set()
        writer.join()
        time.sleep(1)
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 1, journal()[-2000:]  # batches undelivered
        assert "were never read" in journal(), "the stop found no unread rotated file: the attack did not take"
        server.start()  # back, same port
        agent = start(1)
        wait_for_fluentd(server, set(range(writer.next)))
    finally:
        writer.stopped.set()
        stop_process(agent)
        server.stop()
    expected = range(writer.next)
    size = {i: len(numbered(i)) for i in expected}
    at_fluentd, at_stdout = Counter(on(server)), Counter(s for o in outs for s in seq_list(o))
    lost_fluentd = sum(size[i] for i in expected if i not in at_fluentd)
    lost_stdout = sum(size[i] for i in expected if i not in at_stdout)
    said = [x for x in journal().splitlines() if "data lost" in x]
    named = sum(int(n) for x in said for n in re.findall(r"data lost: (\d+) bytes", x))
    assert not [i for i, c in at_fluentd.items() if c > 1], "Fluentd stored lines twice"
    # Nor named again without a size: the live file the stop let go unread, saved at its read position, was taken
    # by the next start for a file rotated away unseen ("an unknown number of bytes … written after the last read";
    # handed14: 1 run of 1 before the fix). Unless the holder was outrun (a loaded host): that escape is named so.
    unsized = [x for x in said if "unknown number of bytes" in x or "bytes or more" in x]
    assert [x for x in said if "before they could be held" in x] or not unsized, f"named again, unsized: {unsized}"
    assert named <= lost_fluentd, (
        f"{named} bytes declared lost in {len(said)} warnings, but Fluentd lacks {lost_fluentd} bytes and stdout "
        f"{lost_stdout} (no output lacks more): {said[:3]}")
