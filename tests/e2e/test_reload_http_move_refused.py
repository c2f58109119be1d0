"""A reload that moves `http.listen` onto a port in use: the old endpoint used to be closed first and the new
one refused, leaving the agent with no /health and no /metrics until a restart (a monitoring gap, and
systemd-less supervisors that probe /health restart a healthy agent). Now the new address is bound before
the old endpoint closes: refused, the old one serves on, the refusal is named, and the next reload tries again."""
from __future__ import annotations

import signal
import socket
import urllib.request

import pytest

from tests.support import wait, wait_until
from tests.tail.attack_agent import Agent, numbered

pytestmark = pytest.mark.slow


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            return r.status == 200
    except OSError:
        return False


def test_reload_onto_a_busy_port_keeps_the_old_endpoint_and_names_the_refusal(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("".join(numbered(i) for i in range(10)))
    agent = Agent(tmp_path, [log])
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    taken = busy.getsockname()[1]
    agent.start()
    try:
        old = agent.port
        agent.cfg.write_text(agent.cfg.read_text().replace(f"127.0.0.1:{old}", f"127.0.0.1:{taken}"))
        agent.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "cannot start the http endpoint" in agent.errors(), 60, "the refusal named")
        said = [line for line in agent.errors().splitlines() if "cannot start the http endpoint" in line]
        assert f"it stays on 127.0.0.1:{old}" in said[0], said
        assert answers(old), "the old endpoint was closed: no /health any more"
        busy.close()  # the port is free: the next reload moves the endpoint
        agent.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: answers(taken), 60, "the endpoint on the new port")
        assert wait(lambda: not answers(old), 30), "the old endpoint still answers"
    finally:
        busy.close()
        code = agent.stop()
    assert code == 0, agent.errors()


def test_reload_onto_the_same_port_on_another_address_moves_the_endpoint(tmp_path):
    """127.0.0.1:P to 0.0.0.0:P: the old endpoint holds what the new one needs, so it is let go first."""
    log = tmp_path / "app.log"
    log.write_text("".join(numbered(i) for i in range(10)))
    agent = Agent(tmp_path, [log])
    agent.start()
    try:
        port = agent.port
        agent.cfg.write_text(agent.cfg.read_text().replace(f"127.0.0.1:{port}", f"0.0.0.0:{port}"))
        agent.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: f"listen=0.0.0.0:{port}" in agent.errors(), 60, "the endpoint on 0.0.0.0")
        assert answers(port)
        assert "cannot start the http endpoint" not in agent.errors(), agent.errors()
    finally:
        code = agent.stop()
    assert code == 0, agent.errors()
