"""Black-box attack 9 (operator, issue 23): a reload moves `http.listen` to a port another program already holds
(or to an address the host does not have). The agent's /health is on the old port.
Promised (docs/operations.md, "Reloads"): an invalid new config is refused and "the running config keeps going";
a new `http.listen` moves the endpoint. A reload that cannot apply a change must not leave the agent worse off.
Found: the reload closes the running endpoint, fails to bind the new one ("cannot start the http endpoint …
Address already in use"), and says "reloaded: nothing changed": from then on the agent has no /health,
/metrics or /status at all, on either port, until a later reload (3 of 3 cases by hand: a busy port,
256.1.1.1, an address not on this host; twice each). Shipping goes on.
Fixed meanwhile by 379409b (found independently; its own test is tests/e2e/test_reload_http_move_refused.py):
this one passes plainly."""
from __future__ import annotations

import json
import signal
import socket
import urllib.error
import urllib.request

import pytest

from tests.e2e.ops_attack import OpsAgent, app_to_stdout
from tests.support import wait
from tests.tail.attack_agent import free_port

pytestmark = pytest.mark.slow


def health(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            json.loads(r.read())
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def test_a_reload_to_a_busy_http_port_keeps_the_running_endpoint(tmp_path):
    port = free_port()
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    taken = busy.getsockname()[1]
    cfg = app_to_stdout(tmp_path, 100, f'http: {{listen: "127.0.0.1:{port}"}}\n')
    agent = OpsAgent(tmp_path)
    try:
        agent.start(cfg)
        assert wait(lambda: health(port) == 200, 60), "the endpoint did not answer"
        cfg.write_text(cfg.read_text().replace(f"127.0.0.1:{port}", f"127.0.0.1:{taken}"))
        assert agent.proc is not None
        agent.proc.send_signal(signal.SIGHUP)
        assert wait(lambda: "reloaded" in agent.errors() or "reload refused" in agent.errors(), 30), \
            "the reload did not end"
        wait(lambda: "http endpoint" in agent.errors().split("reloading", 1)[-1], 5)
        after = health(port)
        assert agent.proc.poll() is None, "the agent ended"
    finally:
        agent.stop()
        busy.close()
    journal = [ln[:200] for ln in agent.errors().splitlines() if "http" in ln or "reload" in ln]
    assert after == 200, f"/health on the running port answers {after or 'nothing'}; journal: {journal}"
