"""Attack 21 (exam23d, issue 13/23): file sources following several files each, under a descriptor limit the refusal
accepts, take every descriptor, and the output can never connect: nothing is shipped.

docs/operations.md ("File descriptors"): "The file sources together keep at most half of the soft descriptor limit
open (less 64; each an equal share of it, at least 8 files) … so that the outputs, the HTTP endpoint and the checkpoint
database keep descriptors", and "Each file source also keeps 6 descriptors open whatever it reads (its change
watcher's and one file), the agent ~16 of its own: a config whose sources need more than the limit is refused".

Twelve plain file sources, each over 8 small logs in 8 folders, under `prlimit --nofile=128`: 12 x 6 + 16 = 88, so
the config is accepted; half of 128 less 64 is 0, so each source's share is its floor, 8 files: 96 files and 60
watcher descriptors, more than the limit. Sources say `cannot read … [Errno 24] Too many open files; retried at every
scan`, and the Fluentd output says `fluentd delivery failed … [Errno 24] Too many open files: '…/encodings/idna.py'`,
then `still failing: …` for as long as the agent runs: 0 of 960 lines shipped in 150 s, the files kept open (2 of 2
by hand; 8 sources x 8 files under 64: 0 of 640 in 60 s). The stop closes the files, and only then does the output
connect.

What should happen: the share's floor fits the limit (the outputs keep their descriptors), or such a config is
refused (exit 2 naming LimitNOFILE); either way no output is starved for good.
"""
from __future__ import annotations

import json
from pathlib import Path

from tests.peers.forward_server import ForwardServer
from tests.support import free_port, run_under_nofile, stop_process, wait

SOURCES, FILES, LINES, NOFILE = 12, 8, 10, 128


def test_file_sources_at_their_share_floor_leave_the_output_a_descriptor(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    peer = ForwardServer(port=free_port()).start()
    blocks = []
    for i in range(SOURCES):
        paths = []
        for f in range(FILES):
            log = tmp_path / "logs" / f"s{i}" / f"f{f}" / "app.log"
            log.parent.mkdir(parents=True)
            log.write_text("".join(json.dumps({"src": i, "file": f, "n": n}) + "\n" for n in range(LINES)))
            paths.append(str(log))
        blocks.append({"name": f"s{i}", "type": "file", "paths": paths, "parser": "json", "parse_workers": 0})
    cfg = {"state_dir": str(tmp_path / "state"), "shutdown_timeout": 5, "sources": blocks,
           "outputs": [{"type": "fluentd", "host": "127.0.0.1", "port": peer.port}]}
    agent, err = run_under_nofile(cfg, tmp_path, NOFILE)
    try:
        wait(lambda: len(peer.records) >= SOURCES * FILES * LINES or agent.poll() is not None, 90, every=0.5)
        shipped = len(peer.records)  # while the agent runs: its stop closes the files and lets the output connect
    finally:
        stop_process(agent, 60)
        peer.stop()
    journal = err.read_text(errors="replace")
    refused_clearly = agent.returncode == 2 and "LimitNOFILE" in journal
    assert refused_clearly or shipped >= SOURCES * FILES * LINES, (agent.returncode, shipped, journal[-3000:])
