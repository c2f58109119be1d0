"""A chunk whose ack comes after `ack_timeout` (a Fluentd paused by a long GC or a full disk, a loaded host): the
server stored it, the agent sends it again, and it is stored twice. README (Known limits) promises each such resend
named in the journal: `the chunk will be sent again … the server may have stored the chunk`.

Found by the session 16 soak (bench/soak.py, two hours at load 30-50): 3 repeats in each of two runs, each after
`fluentd delivery failed; the chunk will be sent again … error="no ack within 30.0s"`, a line that did not say the
server may have stored the chunk (the soak counted them unnamed). A connection cut before the ack said it (in its
error text); the ack's timeout, the first of a run, did not."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from tests.outputs.test_fluentd_attack_wrong_ack import config
from tests.peers.forward_server import ForwardServer

pytestmark = pytest.mark.slow

SHIPPER = [sys.executable, "-m", "shipper.cli"]


def test_a_resend_after_the_ack_timed_out_is_named_a_possible_repeat(tmp_path: Path):
    with open(tmp_path / "audit.log", "w") as f:
        for i in range(30):
            f.write(json.dumps({"@timestamp": "2026-01-02T03:04:05Z", "message": f"m{i}", "n": i}) + "\n")
    peer = ForwardServer(mode="delay_ack", ack_delay=4).start()  # the first chunk's ack comes after ack_timeout (1 s)

    def acks_in_time_once_one_chunk_is_stored() -> None:
        if peer.wait_for_records(1, timeout=60):
            peer.mode = "ack"
    threading.Thread(target=acks_in_time_once_one_chunk_is_stored, daemon=True).start()
    try:
        r = subprocess.run(SHIPPER + ["run", "--once", "--timeout", "60", "-c", str(config(tmp_path, peer.port, ack_timeout=1))],
                           capture_output=True, timeout=120)
        stored = [rec for _, _, rec in peer.records]
    finally:
        peer.stop()
    err = r.stderr.decode()
    assert r.returncode == 0, err
    copies = Counter(rec["generic"]["n"] for rec in stored)
    assert sorted(copies) == list(range(30)), err  # nothing lost
    repeats = max(copies.values()) - 1
    assert repeats >= 1, f"the peer stored no repeat: the schedule did not happen\n{err}"
    assert "no ack within 1" in err, err
    named = err.count("may have stored the chunk")
    assert named >= repeats, f"each event stored {repeats + 1} times, {named} resend(s) named:\n{err}"
    # ...with the count of events each may repeat: an auditor matches them to the copies stored
    repeated = sum(n - 1 for n in copies.values())
    counted = sum(int(n) for n in re.findall(r"a possible repeat of (\d+) events", err))
    assert counted >= repeated, f"{repeated} copies stored twice, the warnings count {counted}:\n{err}"
