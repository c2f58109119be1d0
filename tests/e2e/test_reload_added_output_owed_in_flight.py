"""Issue 23: an output a reload adds, while an output that stays (down) holds batches another (up) stored.

docs/operations.md ("A reload"): an output a reload gives a source, storing where none of its outputs did, is owed
every batch not completed at that reload: they are not checkpointed without it, and once the outputs that have
them are done, the restarted source reads them again for the outputs that did not store them, the added one
alone here. Before, those batches completed at up and down and were checkpointed: the added server never got
lines 500-1399 (unnamed), after one SIGHUP as after two (the first changing the source, the second adding the
output while the restart waits), as tests/e2e/test_attack14_output_old_name_reused.py[reload] found. The same
for a name kept and given to another server ("move"): the events its old server stored are not the new one's."""
from __future__ import annotations

import signal

import pytest

from tests.e2e.fluentd_agent import down_holds_what_up_stored, start_agent, stored, write_config, write_lines
from tests.peers.forward_server import ForwardServer
from tests.support import wait_until
from tests.tail.attack_agent import free_port

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("reloads", ["add", "tags+add", "move"])
def test_an_output_added_while_one_is_down_gets_what_was_not_checkpointed(tmp_path, reloads):
    log = tmp_path / "a.log"
    up, down, added = (ForwardServer(port=free_port()).start() for _ in range(3))
    http_port = free_port()
    journal = tmp_path / "journal.log"

    def config(outputs: list[tuple[str, ForwardServer]], tags: list[str]) -> None:
        write_config(tmp_path, http_port, [log], [(name, peer.port) for name, peer in outputs], tags)

    def reload() -> None:
        done = journal.read_text().count("msg=reloaded")
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: journal.read_text().count("msg=reloaded") > done, 120, "the reload")

    write_lines(log, "a", 0, 500)
    config([("up", up), ("down", down)], ["t0"])
    agent = start_agent(tmp_path / "cfg.yaml", journal)
    try:
        down_holds_what_up_stored(log, up, down, http_port)
        if reloads == "tags+add":
            config([("up", up), ("down", down)], ["t1"])
            reload()
            assert "restarts once the batches its outputs are sending complete" in journal.read_text()
        if reloads == "move":  # the name "up" given to the added server: up's own server is no longer used
            config([("up", added), ("down", down)], ["t0"])
        else:
            config([("up", up), ("down", down), ("added", added)], ["t1"])
        reload()
        down.start()
        write_lines(log, "z", 0, 1)  # the last line: each server has all it will get once it has this one
        servers = (down, added) if reloads == "move" else (up, down, added)
        wait_until(lambda: all(("z", 0) in stored(p) for p in servers), 120, "the last line everywhere")
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 0, journal.read_text()
    finally:
        if agent.poll() is None:
            agent.kill()
        for peer in (up, down, added):
            peer.stop()
    text = journal.read_text()
    # Lines 0-499 were stored by both and checkpointed before the reload: the added server need not get them.
    for name, peer, first in (("up", up, 0), ("down", down, 0), ("added", added, 500)):
        counts = stored(peer)
        last = max(n for (src, n) in counts if src == "a") + 1 if peer is up and reloads == "move" else 3500
        missing = [n for n in range(first, last) if counts[("a", n)] == 0]
        repeated = [n for n in range(3500) if counts[("a", n)] > 1]
        assert not missing and not repeated, (
            f"server {name}: {len(missing)} lines missing ({missing[:1]}..{missing[-1:]}), "
            f"{len(repeated)} repeated\n{text}")
    assert "that output among them" in text and f"outputs_added={'up' if reloads == 'move' else 'added'}" in text, text
