"""Black-box attack 7 (operator): two reloads in a row. The first changes a source (its tags) while one of its
outputs, a Fluentd that reads nothing (a SIGSTOPped server), holds a batch it is sending: the source waits
for that batch ("reload: the source restarts once the batches its outputs are sending complete",
docs/operations.md). The second, during that wait, replaces that output (another port: the operator points
it at a Fluentd that works; also when it renames it). Promised: a reload "repeats nothing and loses nothing,
whatever it changes and however often"; the replaced output's batches are "read again for its replacement".
Found: the source never restarts. It reads nothing more, for good (`/status`: running false, 1 batch in
flight), while `/health` answers 200 and the journal says nothing after "reloaded … outputs_replaced";
the old server coming back does not help either. 900 of 3000 lines reached stdout and 800 the Fluentd
after 40 s, in 5 of 5 runs (twice in a chaos run of 107 random reloads, where two sources stopped so).
The cause: the batch after the 8 the wedged output held had reached stdout, and its put to the full
Fluentd queue still waited; closed by the 2nd reload, that output refused it, and nothing took it back
(it was in no queue): it stayed in flight for good. Now such a batch is "stranded" and read again too."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from collections import Counter

import pytest

from tests.e2e.reload_overlap import seq_list
from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait, wait_until
from tests.tail.attack_agent import free_port, numbered

pytestmark = pytest.mark.slow

LINES = 3000


def seqs_in(path) -> set:
    with open(path, "rb") as f:
        return {json.loads(line)["generic"]["seq"] for line in f if line.endswith(b"\n")}


def test_second_reload_replacing_the_output_a_restarting_source_waits_for(tmp_path):
    wedged = ForwardServer(port=free_port()).start()
    wedged.frozen.set()  # takes the connection, reads nothing, acks nothing
    working = ForwardServer(port=free_port()).start()
    log = tmp_path / "app.log"
    log.write_text("".join(numbered(i) for i in range(LINES)))
    cfg = tmp_path / "shipper.yaml"
    http = free_port()

    def write_config(tags: str, port: int) -> None:
        cfg.write_text(f"""
state_dir: {tmp_path}/state
shutdown_timeout: 2
http: {{listen: "127.0.0.1:{http}"}}
sources:
  - {{name: app, type: file, paths: ["{log}"], parser: json, batch_size: 100, tags: [{tags}]}}
outputs:
  - {{type: stdout}}
  - {{type: fluentd, host: 127.0.0.1, port: {port}, flush_interval: 0.2, ack_timeout: 1000}}
""")
    write_config("first", wedged.port)
    out = tmp_path / "stdout.jsonl"
    journal = tmp_path / "agent.err"
    with open(out, "wb") as o, open(journal, "wb") as e:
        agent = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)], stdout=o, stderr=e)
    try:
        wait_until(lambda: wedged.connections >= 1 and len(seqs_in(out)) >= 100, 60,
                   "stdout shipping and the wedged output holding a chunk")
        write_config("second", wedged.port)  # the source changes: it waits for the batch being sent
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: b"restarts once the batches" in journal.read_bytes(), 60,
                   "the source waiting for the batch its output is sending")
        write_config("second", working.port)  # the output is replaced: pointed at a Fluentd that works
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: journal.read_bytes().count(b"msg=reloaded") >= 2, 60, "the second reload done")
        delivered = wait(lambda: set(range(LINES)) <= seqs_in(out)
                         and set(range(LINES)) <= {r["generic"]["seq"] for _, _, r in list(working.records)}, 25)
        with urllib.request.urlopen(f"http://127.0.0.1:{http}/status", timeout=10) as r:
            source = json.loads(r.read())["sources"]["app"]
    finally:
        stop_process(agent)
        wedged.stop()
        working.stop()
    assert delivered, (f"after 25 s stdout has {len(seqs_in(out))} of {LINES} lines, the new Fluentd "
                       f"{len(working.records)}; the source: running={source.get('running')}, "
                       f"in flight={source.get('in_flight_batches')}")
    repeated = {s: n for s, n in Counter(seq_list(out)).items() if n > 1}
    repeated_fwd = {s: n for s, n in Counter(r["generic"]["seq"] for _, _, r in working.records).items() if n > 1}
    assert not repeated and not repeated_fwd, f"repeated on stdout: {len(repeated)}, on the new Fluentd: {len(repeated_fwd)}"
