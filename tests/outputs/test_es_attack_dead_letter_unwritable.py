"""A document refused for good must reach the dead-letter file before its batch counts as delivered.
When that file cannot be written (disk full: /dev/full), the batch waits, and what is wrong must be
said where operators look: /health's `last_error`, and the line `run --once` ends with. Before, /health
said `last_error: null` and --once ended on "output es: 1 batches" with no reason."""
from __future__ import annotations

import json
import subprocess
import urllib.request

from tests.hostile_es import SHIPPER, HostileES, config, dead_letter_ns, item, run_once
from tests.support import free_port, wait

BAD = 3


def refusing_one(srv, actions):
    items = [item(op, meta, 400, {"type": "mapper_parsing_exception", "reason": "bad"})
             if doc["generic"]["n"] == BAD else srv.store(op, meta, doc) for op, meta, doc in actions]
    return 200, {}, json.dumps({"took": 1, "errors": True, "items": items}).encode()


def health(port: int) -> dict:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        return json.loads(e.read())
    except OSError:
        return {}


def test_a_dead_letter_file_that_cannot_be_written_is_named_and_nothing_is_lost(tmp_path):
    es = HostileES(bulk=refusing_one)
    port = free_port()
    cfg = config(tmp_path, [es.url], n=20, extra=", dead_letter: /dev/full")
    cfg.write_text(cfg.read_text().replace("shutdown_timeout: 5", f"shutdown_timeout: 2\nhttp: {{listen: '127.0.0.1:{port}'}}"))
    try:
        agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            def said() -> bool:
                return "dead-letter" in str(health(port).get("outputs", {}).get("es", {}).get("last_error"))

            assert wait(said, 30), f"/health does not name the dead-letter file: {health(port)}"
        finally:
            agent.terminate()
            agent.wait(30)
        r = run_once(cfg, timeout=5)
        assert r.returncode == 1
        last = [l for l in r.stderr.splitlines() if "not delivered" in l][-1]
        assert "dead-letter" in last and "/dev/full" in last, last
        # The disk has room again: the refused document is dead-lettered, every other one stored once.
        cfg.write_text(cfg.read_text().replace("dead_letter: /dev/full", "dead_letter: null"))
        r = run_once(cfg, timeout=30)
        assert r.returncode == 0, r.stderr
    finally:
        es.stop()
    assert es.ns() == [n for n in range(20) if n != BAD]
    assert dead_letter_ns(tmp_path) == [BAD]
