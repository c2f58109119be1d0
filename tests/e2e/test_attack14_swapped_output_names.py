"""Examiner session 16 (attacklong14): two Fluentd outputs swap their names, at a SIGHUP or while the agent is
stopped, while one is down.

docs/operations.md ("A reload"): an output renamed with the rest of its block unchanged is the same output,
and what its old name stored is noted for the new name; the others get only what they did not store. Each
note says where its output stores (`_delivered_where`, a digest of its block). Swapping the names of two
outputs renames each one, its block unchanged. Seen (2 of 2 runs by hand, /work/notes/s16/attacklong14): the
events the up server stored are noted for the *name* "up", now the down server's: the down server never gets
them (900 of 3,500 lines lost for it, only an info "events this output stored ... are not sent to it again
output=up"), and the up server, now named "down", gets them a second time (900 duplicates, unnamed). The same
with the names swapped while the agent is stopped (1 of 1 by hand, the test 1 of 1): docs/operations.md says the
start gives each note to the configured output that stores where the note says."""
from __future__ import annotations

import signal

import pytest

from tests.e2e.fluentd_agent import down_holds_what_up_stored, start_agent, stored, write_config, write_lines
from tests.peers.forward_server import ForwardServer
from tests.support import wait_until
from tests.tail.attack_agent import free_port

pytestmark = pytest.mark.slow


# Each note goes to the output that stores where it says: across a stop (SourceRunner._carry_renamed_notes), and at
# a reload, where the two replaced outputs are renamed to each other (shipper.reload.plan_reload, issue 23).
@pytest.mark.parametrize("when", ["reload", "stop"])
def test_outputs_swapping_names_lose_and_repeat_nothing(tmp_path, when):
    log = tmp_path / "a.log"
    up, down = ForwardServer(port=free_port()).start(), ForwardServer(port=free_port()).start()
    http_port = free_port()

    def config(names: tuple[str, str]) -> None:
        write_config(tmp_path, http_port, [log], [(name, peer.port) for name, peer in zip(names, (up, down))])

    write_lines(log, "a", 0, 500)
    config(("up", "down"))
    journal = tmp_path / "journal.log"

    def start():
        return start_agent(tmp_path / "cfg.yaml", journal)

    agent = start()
    try:
        down_holds_what_up_stored(log, up, down, http_port)
        if when == "stop":
            agent.send_signal(signal.SIGTERM)
            assert agent.wait(60) == 1, journal.read_text()  # batches undelivered
        config(("down", "up"))  # the same two blocks, their names swapped
        if when == "stop":
            agent = start()
        else:
            agent.send_signal(signal.SIGHUP)
            wait_until(lambda: "msg=reloaded" in journal.read_text(), 120, "reloaded")
        down.start()
        write_lines(log, "z", 0, 1)  # the last line: each server has all it will get once it has this one
        wait_until(lambda: ("z", 0) in stored(up) and ("z", 0) in stored(down), 120, "the last line at both servers")
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 0, journal.read_text()
    finally:
        if agent.poll() is None:
            agent.kill()
        up.stop()
        down.stop()
    for name, peer in (("up", up), ("down", down)):
        counts = stored(peer)
        missing = [n for n in range(3500) if counts[("a", n)] == 0]
        repeated = [n for n in range(3500) if counts[("a", n)] > 1]
        assert not missing and not repeated, (
            f"server first named {name}: {len(missing)} lines missing ({missing[:1]}..{missing[-1:]}), "
            f"{len(repeated)} repeated\n{journal.read_text()}")
