"""The tailers' files are a share of what the descriptor limit leaves past what the sources keep (issue 13/23).

Seven plain file sources of four logs each under `prlimit --nofile=64`: the refusal counts 16 for the agent and 6 a
source (58), so the config is taken. Each tailer then kept at least 8 files open whatever the limit left (28 files
here, past it): reads, the holders and the output's connection met EMFILE (exam23d found it with `**` globs, session
23). Now each keeps at least the one file the refusal counted, more only within what the limit leaves: every line is
shipped and nothing says "Too many open files".
"""
from __future__ import annotations

import json
from pathlib import Path

from tests.peers.forward_server import ForwardServer
from tests.support import free_port, run_under_nofile, stop_process, wait

SOURCES, FILES, LINES, NOFILE = 7, 4, 10, 64


def test_seven_sources_of_four_files_under_64_ship_everything(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    peer = ForwardServer(port=free_port()).start()
    blocks = []
    for i in range(SOURCES):
        paths = []
        for f in range(FILES):
            log = tmp_path / "logs" / f"s{i}" / f"f{f}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text("".join(json.dumps({"src": i, "file": f, "n": n}) + "\n" for n in range(LINES)))
            paths.append(str(log))
        blocks.append({"name": f"s{i}", "type": "file", "paths": paths, "parser": "json"})
    cfg = {"state_dir": str(tmp_path / "state"), "shutdown_timeout": 5, "sources": blocks,
           "outputs": [{"type": "fluentd", "host": "127.0.0.1", "port": peer.port}]}
    agent, err = run_under_nofile(cfg, tmp_path, NOFILE)
    try:
        wait(lambda: len(peer.records) >= SOURCES * FILES * LINES or agent.poll() is not None, 60)
        shipped = {(r[2]["generic"]["src"], r[2]["generic"]["file"], r[2]["generic"]["n"]) for r in peer.records}
    finally:
        stop_process(agent, 60)
        peer.stop()
    journal = err.read_text(errors="replace")
    assert "Too many open files" not in journal and "Traceback" not in journal, journal[-3000:]
    assert len(shipped) == SOURCES * FILES * LINES, (len(shipped), journal[-3000:])
