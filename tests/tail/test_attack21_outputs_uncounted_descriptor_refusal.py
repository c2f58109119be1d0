"""Attack 21 (exam23d, issue 13/23): the descriptor refusal counts the sources and ~16 of the agent's own, not the
outputs: at the edge it accepts, outputs beyond what is left never connect.

docs/operations.md ("File descriptors"): "Each file source also keeps 6 descriptors open whatever it reads …, the agent
~16 of its own: a config whose sources need more than the limit is refused, at start … exit 2"; the budgets exist "so
that the outputs, the HTTP endpoint and the checkpoint database keep descriptors through an outage". Attack 20 found
that eight plain sources under `--ulimit nofile=64` (8 x 6 + 16 = 64) start and ship everything, with one output.

Eight plain file sources and ten Fluentd outputs (each its own server, every source to every output) under
`prlimit --nofile=64`: accepted, and four of the ten outputs say `fluentd delivery failed … [Errno 24] Too many open
files` for as long as the agent runs: they get none of the 160 lines in 60 s, the six others all (2 of 2 by hand, with
10 outputs; with 4 outputs and the HTTP endpoint, 2 of 4 outputs got nothing, 1 of 2 runs). Each output keeps at least
a connection; the count has none for it.

What should happen: such a config is refused (exit 2 naming LimitNOFILE), or every output gets every line.
"""
from __future__ import annotations

import json
from pathlib import Path

from tests.peers.forward_server import ForwardServer
from tests.support import free_port, run_under_nofile, stop_process, wait

SOURCES, OUTPUTS, LINES, NOFILE = 8, 10, 20, 64


def test_outputs_past_what_the_limit_leaves_are_refused_or_all_delivered(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    peers = [ForwardServer(port=free_port()).start() for _ in range(OUTPUTS)]
    blocks = []
    for i in range(SOURCES):
        log = tmp_path / "logs" / f"s{i}" / "app.log"
        log.parent.mkdir(parents=True)
        log.write_text("".join(json.dumps({"src": i, "n": n}) + "\n" for n in range(LINES)))
        blocks.append({"name": f"s{i}", "type": "file", "paths": [str(log)], "parser": "json", "parse_workers": 0})
    cfg = {"state_dir": str(tmp_path / "state"), "shutdown_timeout": 5, "sources": blocks,
           "outputs": [{"type": "fluentd", "name": f"f{k}", "host": "127.0.0.1", "port": p.port}
                       for k, p in enumerate(peers)]}
    agent, err = run_under_nofile(cfg, tmp_path, NOFILE)
    try:
        wait(lambda: all(len(p.records) >= SOURCES * LINES for p in peers) or agent.poll() is not None, 60,
             every=0.5)
        got = [len(p.records) for p in peers]  # while the agent runs
    finally:
        stop_process(agent, 60)
        for p in peers:
            p.stop()
    journal = err.read_text(errors="replace")
    refused_clearly = agent.returncode == 2 and "LimitNOFILE" in journal
    assert refused_clearly or min(got) >= SOURCES * LINES, (agent.returncode, got, journal[-2000:])
