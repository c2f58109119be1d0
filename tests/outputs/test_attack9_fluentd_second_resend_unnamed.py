"""Black-box attack 9 (issue 13's held-out checks, played by an examiner): a Fluentd that stores a chunk and
loses the connection before its ack twice in a row (a worker restarted twice during a deploy, a proxy
cutting idle-looking connections), then acks as usual.

Promise (README, known limits: "A chunk whose ack does not come (the connection closed or reset after the
server stored it …) is sent again and may be stored twice; each such resend is named in the journal (`the
chunk will be sent again … the server may have stored the chunk`)"): every copy the server may hold beyond
the first is named, so an auditor can account for each repeat.

What happens (by hand 3 of 3 runs with the daemon and a 500-line chunk; this test 2 of 2 with `run --once`):
the chunk is stored three times (two repeats); the journal names the first resend ("fluentd delivery failed;
the chunk will be sent again … the server may have stored the chunk") but the second only as a count in an
info line ("fluentd delivery recovered … failures=2"), which says nothing of a possible copy.
Fixed: each failure after which the server may hold the chunk is named, not only the first of a run."""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.outputs.test_fluentd_attack_wrong_ack import config
from tests.peers.forward_server import ForwardServer

pytestmark = pytest.mark.slow

SHIPPER = [sys.executable, "-m", "shipper.cli"]


def test_each_resend_of_a_chunk_the_server_may_have_stored_is_named(tmp_path: Path):
    with open(tmp_path / "audit.log", "w") as f:
        for i in range(30):
            f.write(json.dumps({"@timestamp": "2026-01-02T03:04:05Z", "message": f"m{i}", "n": i}) + "\n")
    peer = ForwardServer().start()
    # The next two chunks of records are stored, then the connection is reset before their ack (this was 3 while the
    # peer also counted the empty chunk of the output's TLS question in between; a third would make a refusal).
    peer.drop_after_store(2)
    try:
        r = subprocess.run(SHIPPER + ["run", "--once", "--timeout", "60", "-c", str(config(tmp_path, peer.port, ack_timeout=5))],
                           capture_output=True, timeout=120)
        stored = [rec for _, _, rec in peer.records]
    finally:
        peer.stop()
    err = r.stderr.decode()
    assert r.returncode == 0, err
    copies = Counter(rec["generic"]["n"] for rec in stored)
    assert sorted(copies) == list(range(30)), err  # nothing lost
    repeats = max(copies.values()) - 1
    assert repeats >= 1, "the peer stored no repeat: the schedule did not happen"
    named = err.count("may have stored the chunk")
    assert named >= repeats, f"each event stored {repeats + 1} times, {named} resend(s) named:\n{err}"
