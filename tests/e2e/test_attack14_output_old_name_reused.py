"""Examiner session 16 (attacklong14): an output renamed (its block unchanged), and its old name given to a new
output at another server, at SIGHUPs or while the agent is stopped, while a second output is down.

docs/operations.md ("A reload"): a renamed output is the same output, what its old name stored is noted for the
new name; each note says where its output stores (`_delivered_where`, a digest of its block); the re-read after
the reload or the stop sends each event only to the outputs that did not store it. Seen by hand
(/work/notes/s16/attacklong14, 1 of 1 each way, the test 1 of 1 each way): the note of the old name stays with
the name, so the new server given that name never gets the 900 events the renamed server stored (silently:
lines 500-1399 never reach it, though it lacks them and they are read again), and, across a stop, the renamed
server gets them a second time (900 duplicates, unnamed)."""
from __future__ import annotations

import signal

import pytest

from tests.e2e.fluentd_agent import down_holds_what_up_stored, start_agent, stored, write_config, write_lines
from tests.peers.forward_server import ForwardServer
from tests.support import wait_until
from tests.tail.attack_agent import free_port

pytestmark = pytest.mark.slow


# Across a stop each note goes to the output that stores where it says (SourceRunner._carry_renamed_notes,
# handed14); at a reload too (shipper.reload.plan_reload, issue 23). At a reload the second SIGHUP adds the new
# server while the source's restart waits for the batches "down" holds: before, those completed at the others and
# were checkpointed without it (900 lines, 500-1399, never sent to it, unnamed; the same with the new output named
# "third": swap23). An output a reload adds is owed the batches not completed (shipper.reload_apply._owe_added).
@pytest.mark.parametrize("when", ["reload", "stop"])
def test_old_name_given_to_a_new_server_inherits_nothing(tmp_path, when):
    log = tmp_path / "a.log"
    up, down = ForwardServer(port=free_port()).start(), ForwardServer(port=free_port()).start()
    third = ForwardServer(port=free_port())
    http_port = free_port()

    def config(outputs: list[tuple[str, ForwardServer]]) -> None:
        write_config(tmp_path, http_port, [log], [(name, peer.port) for name, peer in outputs])

    write_lines(log, "a", 0, 500)
    config([("up", up), ("down", down)])
    journal = tmp_path / "journal.log"

    def start():
        return start_agent(tmp_path / "cfg.yaml", journal)

    agent = start()
    try:
        down_holds_what_up_stored(log, up, down, http_port)
        third.start()
        renamed_and_reused = [("up2", up), ("down", down), ("up", third)]
        if when == "stop":
            agent.send_signal(signal.SIGTERM)
            assert agent.wait(60) == 1, journal.read_text()  # batches undelivered
            config(renamed_and_reused)
            agent = start()
        else:
            config([("up2", up), ("down", down)])
            agent.send_signal(signal.SIGHUP)
            wait_until(lambda: "msg=reloaded" in journal.read_text(), 120, "the rename's reload")
            config(renamed_and_reused)
            agent.send_signal(signal.SIGHUP)
            wait_until(lambda: journal.read_text().count("msg=reloaded") == 2, 120, "the second reload")
        down.start()
        write_lines(log, "z", 0, 1)  # the last line: each server has all it will get once it has this one
        wait_until(lambda: all(("z", 0) in stored(p) for p in (up, down, third)), 120, "the last line at every server")
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 0, journal.read_text()
    finally:
        if agent.poll() is None:
            agent.kill()
        for peer in (up, down, third):
            peer.stop()
    # Lines 0-499 were stored by both and checkpointed before the new server came: it need not get them.
    for name, peer, first in (("up (renamed up2)", up, 0), ("down", down, 0), ("the new up", third, 500)):
        counts = stored(peer)
        missing = [n for n in range(first, 3500) if counts[("a", n)] == 0]
        repeated = [n for n in range(3500) if counts[("a", n)] > 1]
        assert not missing and not repeated, (
            f"server {name}: {len(missing)} lines missing ({missing[:1]}..{missing[-1:]}), "
            f"{len(repeated)} repeated\n{journal.read_text()}")
