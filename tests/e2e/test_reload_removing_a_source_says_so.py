"""A reload that removes a source whose batches an output is still sending: the journal says what happens — the
source is removed, it stops once those batches are settled, what was taken back is not read again — and never that
it restarts (issue 23, exam23's "Noticed and left alone": the removal logged "the source restarts once …", "taken
back and read again from the checkpoint", and, put back, "source restarted from its checkpoint").

Real agent, strict Fluentd peer down while source b has lines in flight (the output is sending its first batch, the
others queued), a reload removes b, then the peer comes back. docs/operations.md (Reload) quotes these lines.
"""
from __future__ import annotations

import json
import signal
import urllib.request

from tests.e2e.fluentd_agent import run_agent, stored, write_lines
from tests.peers.forward_server import ForwardServer
from tests.support import free_port, stop_process, wait_until


def _config(tmp_path, port: int, http_port: int, with_b: bool):
    sources = [{"name": "a", "type": "file", "paths": [str(tmp_path / "a.log")], "parser": "json",
                "parse_workers": 0}]
    if with_b:
        sources.append({"name": "b", "type": "file", "paths": [str(tmp_path / "b.log")], "parser": "json",
                        "batch_size": 500, "parse_workers": 0})
    cfg = {"state_dir": str(tmp_path / "state"), "shutdown_timeout": 2, "sources": sources,
           "http": {"listen": f"127.0.0.1:{http_port}"},
           "outputs": [{"type": "fluentd", "name": "fwd", "host": "127.0.0.1", "port": port, "batch_size": 500,
                        "backoff_max": 0.5}]}
    path = tmp_path / "cfg.yaml"
    path.write_text(json.dumps(cfg))  # JSON is YAML
    return path


def _sources(http_port: int) -> set[str]:
    """The sources /status shows (a removed one while its batches are settled too)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/status", timeout=30) as r:
        return set(json.loads(r.read())["sources"])


def _lines_of_b(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if "source=b" in ln]


def test_a_reload_removing_a_source_in_flight_says_it_is_removed(tmp_path):
    peer = ForwardServer().start()
    port, http_port = peer.port, free_port()
    journal = tmp_path / "agent.err"
    write_lines(tmp_path / "a.log", "a", 0, 10)
    (tmp_path / "b.log").touch()
    agent = run_agent(_config(tmp_path, port, http_port, True), journal)
    try:
        wait_until(lambda: len(stored(peer)) == 10, 60, "a's lines at the peer")
        peer.stop()
        write_lines(tmp_path / "b.log", "b", 0, 2000)  # 4 batches: the output sends the first, the others wait
        wait_until(lambda: "fluentd delivery failed" in journal.read_text(), 60, "the output to try b's batch")
        mark = journal.stat().st_size
        _config(tmp_path, port, http_port, False)
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: "msg=reloaded" in journal.read_text()[mark:], 60, "the reload")
        peer = ForwardServer(port=port).start()
        wait_until(lambda: _sources(http_port) == {"a"}, 60, "b's batches to settle")
    finally:
        stop_process(agent, 60)
        peer.stop()
    said = _lines_of_b(journal.read_text()[mark:])
    text = "\n".join(said)
    assert "the removed source stops once the batches its outputs are sending complete" in text, text
    assert "taken back and not read again: the source is removed" in text, text
    assert "the removed source stopped: the batches its outputs were sending were delivered" in text, text
    assert "source removed; its checkpoint is kept" in text, text
    for wrong in ("restarts", "restarted", "read again from the checkpoint", "goes on"):
        assert not [ln for ln in said if wrong in ln], f"{wrong!r} said of the removed source:\n{text}"
