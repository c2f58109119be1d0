"""Reloads during a re-read (issue 23): a source restarted by a reload re-reads batches some outputs stored
already, skipping those events for them (the note `_delivered_to:<output>`). If another reload stops it while
such a batch waits, unsent, for room in an output's queue, it is taken back (no output was handed it) and read
again by the next restart: the note must go on for it, or the outputs that stored it get it twice once the note
is saved again (by a stop, or a later reload taking batches back).

A file source of numbered lines goes to stdout, to `fa` (a Fluentd that reads nothing: a frozen peer) and to
`fb` (one that works). Reload 1 changes the source's tags: it waits for fa. Reload 2 points fa at a second
frozen Fluentd: what the first held is read again for it only (stdout and fb stored it), so the restarted
source's batches fill fa's queue, and the next one waits for room. Reload 3 changes the tags again: that batch
is taken back. The agent stops (saving the note: fa holds batches) and starts again once the second Fluentd
reads. Before the fix, the taken-back batch's part of the note was forgotten: stdout got lines 800-899 twice
(attack 7's find 2, tests/e2e/test_attack7_reloads_replace_down_output_repeat_stdout.py, was one timing of it)."""
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


def test_a_batch_a_re_read_skipped_for_some_outputs_keeps_its_note_when_taken_back_again(tmp_path):
    first = ForwardServer(port=free_port()).start()
    first.frozen.set()  # takes the connection, reads nothing, acks nothing
    second = ForwardServer(port=free_port()).start()
    second.frozen.set()
    b = ForwardServer(port=free_port()).start()
    log = tmp_path / "app.log"
    log.write_text("".join(numbered(i) for i in range(LINES)))
    cfg = tmp_path / "shipper.yaml"
    http = free_port()
    outs = [tmp_path / "stdout0.jsonl", tmp_path / "stdout1.jsonl"]
    journals = [tmp_path / "agent0.err", tmp_path / "agent1.err"]

    def write_config(tags: str, a_port: int) -> None:
        cfg.write_text(stdout_fa_fb_config(tmp_path, http, log, tags, a_port, b.port))

    def start(run: int) -> subprocess.Popen:
        with open(outs[run], "wb") as o, open(journals[run], "wb") as e:
            return subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)], stdout=o, stderr=e)

    def reload(n: int, tags: str, a_port: int) -> None:
        write_config(tags, a_port)
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: journals[0].read_bytes().count(b"msg=reloaded") >= n, 60, f"reload {n} done")

    def stdout() -> list[int]:
        return seq_list(outs[0]) + (seq_list(outs[1]) if outs[1].exists() else [])

    write_config("first", first.port)
    agent = start(0)
    health: tuple[int, dict] = (0, {})
    try:
        wait_until(lambda: first.connections >= 1 and len(stdout()) >= 100, 60,
                   "stdout shipping and the frozen output holding a chunk")
        reload(1, "second", first.port)  # the source waits for the batches fa is sending
        assert b"restarts once the batches" in journals[0].read_bytes()
        reload(2, "second", second.port)  # fa replaced: its batches read again, for it only
        wait_until(lambda: second.connections >= 1
                   and journals[0].read_bytes().count(b"output=stdout events=100") >= 9, 60,
                   "the restarted source re-reading lines 0-899, skipped for stdout, queued for the frozen fa")
        reload(3, "third", second.port)  # the source changes again: the batch waiting for room is taken back
        assert b"taken_back=0 " not in journals[0].read_bytes().rsplit(b"msg=reloading", 1)[1], "nothing taken back"
        stop_process(agent)  # fa holds batches: the stop saves the note
        second.frozen.clear()
        agent = start(1)
        everywhere = wait(lambda: set(range(LINES)) <= set(stdout()) and set(range(LINES)) <= set(on(second))
                          and set(range(LINES)) <= set(on(b)), 60)
        wait(lambda: get(http, "/health")[0] == 200, 15)
        health = get(http, "/health")
    finally:
        stop_process(agent)
        for s in (first, second, b):
            s.stop()
    lines = stdout()
    assert everywhere, f"stdout {len(set(lines))} of {LINES}, fa {len(set(on(second)))}, fb {len(set(on(b)))}"
    twice = sorted(s for s, n in Counter(lines).items() if n > 1)
    assert not twice, f"{len(twice)} lines twice on stdout, {twice[:3]}..{twice[-3:]}"
    twice_b = sorted(s for s, n in Counter(on(b)).items() if n > 1)
    assert not twice_b, f"{len(twice_b)} lines twice on fb, {twice_b[:3]}..{twice_b[-3:]}"
    assert health[0] == 200, health
