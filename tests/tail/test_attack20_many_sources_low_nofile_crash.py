"""Attack 20 (exam23c, issue 13/23): many file sources under a low descriptor limit, at start and by a reload.

docs/operations.md ("File descriptors"): the file sources share half of the soft limit, the holders a quarter,
"so that the outputs, the HTTP endpoint and the checkpoint database keep descriptors" (`--ulimit nofile=64` is the
case it names). Twelve plain file sources, each over one small log, under `prlimit --nofile=64` (or thirty under
128): the agent starts, several sources die with a traceback (`source failed … ChangeWatcher … OSError: [Errno 24]
Too many open files`, they read nothing until a restart), then the run itself ends with a raw traceback from
`os.pipe2` (`OSError: [Errno 24] Too many open files`), exit 1, nothing delivered. Every time (5 of 5 by hand: 12/64,
16/96, 18/96, 30/128, and 18 sources after a kill -9 under 96). Eight sources under 64 start and ship everything.

A reload adding sources under the limit does the same to the added sources (5 of 8 die, "reloaded" said; 3 of 3 by
hand: 6 -> 14 under 64 twice, 10 -> 30 under 128), the agent running on.

What should happen: the agent ships what it can with the files it can open (naming what it cannot), or refuses at
start with one line naming the limit and what to raise (`LimitNOFILE`), exit 2 — never a traceback.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.peers.forward_server import ForwardServer
from tests.support import free_port, run_under_nofile, stop_process, wait


@pytest.mark.parametrize(("sources", "nofile"), [(12, 64), (30, 128)])
def test_many_sources_under_a_low_descriptor_limit_never_crash(tmp_path: Path, sources: int, nofile: int) -> None:
    state = tmp_path / "state"
    state.mkdir()
    port = free_port()
    peer = ForwardServer(port=port).start()
    blocks = []
    for i in range(sources):
        log = tmp_path / "logs" / f"s{i}" / "app.log"
        log.parent.mkdir(parents=True)
        log.write_text("".join(json.dumps({"src": i, "n": n}) + "\n" for n in range(20)))
        blocks.append({"name": f"s{i}", "type": "file", "paths": [str(log)], "parser": "json"})
    cfg = {"state_dir": str(state), "shutdown_timeout": 5, "sources": blocks,
           "outputs": [{"type": "fluentd", "host": "127.0.0.1", "port": port}]}
    agent, err = run_under_nofile(cfg, tmp_path, nofile)
    try:
        wait(lambda: len(peer.records) >= sources * 20 or agent.poll() is not None, 60)
        shipped_all = len(peer.records) >= sources * 20
    finally:
        stop_process(agent, 60)
        peer.stop()
    journal = err.read_text(errors="replace")
    assert "Traceback" not in journal, journal[-3000:]
    refused_clearly = agent.returncode == 2 and "LimitNOFILE" in journal
    assert shipped_all or refused_clearly, (agent.returncode, len(peer.records), journal[-2000:])


def test_a_reload_adding_sources_under_a_low_descriptor_limit_kills_none(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    port = free_port()
    peer = ForwardServer(port=port).start()

    def write_config(count: int) -> None:
        blocks = []
        for i in range(count):
            log = tmp_path / "logs" / f"s{i}" / "app.log"
            if not log.exists():
                log.parent.mkdir(parents=True)
                log.write_text("".join(json.dumps({"src": i, "n": n}) + "\n" for n in range(20)))
            blocks.append({"name": f"s{i}", "type": "file", "paths": [str(log)], "parser": "json"})
        cfg = {"state_dir": str(state), "shutdown_timeout": 5, "sources": blocks,
               "outputs": [{"type": "fluentd", "host": "127.0.0.1", "port": port}]}
        (tmp_path / "cfg.yaml").write_text(json.dumps(cfg))

    write_config(6)
    err = tmp_path / "agent.err"
    shipper = str(Path(sys.executable).with_name("shipper"))
    with open(err, "wb") as ef:
        agent = subprocess.Popen(["prlimit", "--nofile=64:64", "--", shipper, "run", "-c", str(tmp_path / "cfg.yaml")],
                                 stdout=subprocess.DEVNULL, stderr=ef)
    try:
        assert wait(lambda: len(peer.records) >= 6 * 20, 60), err.read_text()
        write_config(14)
        agent.send_signal(signal.SIGHUP)
        assert wait(lambda: "msg=reloaded" in err.read_text(errors="replace")
                     or "reload refused" in err.read_text(errors="replace"), 60), err.read_text()
        # (refused, nothing more comes: no need to wait for lines that will not be sent)
        wait(lambda: len(peer.records) >= 14 * 20 or "reload refused" in err.read_text(errors="replace"), 30)
    finally:
        stop_process(agent, 60)
        peer.stop()
    journal = err.read_text(errors="replace")
    assert "Traceback" not in journal and "source failed" not in journal, journal[-3000:]
    refused_clearly = "reload refused" in journal and "LimitNOFILE" in journal
    assert len(peer.records) >= 14 * 20 or refused_clearly, (len(peer.records), journal[-2000:])
