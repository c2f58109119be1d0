"""Examiner attack13 (session 19, issue 13): a kill -9 while the reader is held back (Fluentd down) and Log4j 1.2
rotates past MaxBackupIndex=1, then a restart at once with the output still down: the rotated files the killed agent
held are gone with its descriptors, a loss no agent can prevent, but the next start names it with a known size far
below what was lost: `data lost: 25300 bytes of app.log were deleted … before they could be read`
(size_known=True, shipper_bytes_lost 25,300) while 46,909 lines (~1.17 MB) were lost. With a 5 s pause before the
restart it said `an unknown number of bytes`, which is true. A loss must be named with its size or as of unknown
size, never as a smaller certain one."""
from __future__ import annotations

import re

import pytest

from tests.e2e.fluentd_agent import held_back_config, run_agent, source_status
from tests.java.writers import Log4j, compile_writers
from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait_until
from tests.tail.attack_agent import free_port

LINE = '{"seq":%d,"pad":"x"}\n'


@pytest.mark.xfail(strict=False, reason="after a kill -9 while held back and an immediate restart, the loss of the "
                   "rotated files the killed agent held is named with a certain size far below the loss (25,300 "
                   "bytes named, ~1.17 MB lost); it should be named as of unknown size, or with its size. Depends on "
                   "where the kill lands (the load): not strict")
def test_kill9_while_held_back_names_the_loss_not_a_smaller_size(tmp_path, tmp_path_factory):
    classes = compile_writers(tmp_path_factory.getbasetemp() / "log4j-classes")
    logs = tmp_path / "logs"
    logs.mkdir()
    (tmp_path / "state").mkdir()
    peer = ForwardServer(port=free_port()).start()
    http = free_port()
    cfg = held_back_config(tmp_path, logs / "app.log", peer.port, http)
    err = tmp_path / "agent.err"
    count = 60_000
    agent = run_agent(cfg, err)
    writer = Log4j(classes).log4j1(logs / "app.log", 50_000, 1, 0, count, 3000, wait=False)
    try:
        wait_until(lambda: len(peer.records) >= 3000, 60, "the first lines", every=0.2)
        peer.stop()
        # held back: the holder holds the files Log4j deletes; wait until it holds several
        wait_until(lambda: source_status(http)["status"]["held_files"] >= 5, 60, "held files", every=0.2)
        agent.kill()
        agent.wait()
        agent = run_agent(cfg, err)
        peer.start()
        writer.wait(120)
        wait_until(lambda: any(r["generic"]["seq"] == count - 1 for _, _, r in list(peer.records)), 120, "the last line",
                   every=0.2)
    finally:
        if writer.poll() is None:
            writer.kill()
        stop_process(agent, 60)
        peer.stop()
    got = {r["generic"]["seq"] for _, _, r in peer.records}
    lost_bytes = sum(len(LINE % i) for i in range(count) if i not in got)
    journal = err.read_text()
    if not lost_bytes or "an unknown number of bytes" in journal:
        return
    named = sum(int(n) for n in re.findall(r"data lost: (\d+) bytes", journal))
    assert named >= lost_bytes, f"{lost_bytes} bytes lost, {named} named (as certain); journal:\n{journal}"
