"""Black-box attack 12, after eb53295 (the chunks of an unfinished batch an output stored are noted as its own):
the same set-up as test_attack12_split_batch_acked_chunks_resent.py — a Fluentd output with chunks of 100 under a
source batch of 1,000, the server acknowledges three chunks and goes down — but the reload RENAMES the output
(`dest` -> `dest_new`, same server, as an operator tidying names does), then the server comes back.

Promised (docs/operations.md, "Reloads"): a renamed output is, to the reload, the old name removed and the new one
added; "the restarted source reads the batches again from its checkpoint and sends each event only to the outputs
that did not store it: a replaced output's replacement (same name; a renamed one: the new name) gets it, the others
do not get it again"; the events each output stored are noted, "for an output that sends a batch in several chunks
... the events of each chunk acknowledged, also when the batch is unfinished".

Found: the renamed output gets the whole batch again, "reload: batches a removed output held are read again for
the output the reload added": the 300 events of the three acknowledged chunks are stored twice, unnamed (the fourth
chunk's 100, written and not acknowledged, are named). By hand 2/2 on main at d480b20 (/tmp/al12/rep2.py
CH=rename: 400 of 1,000 twice); a stop, or a reload replacing the output under the same name, now repeats only
the named fourth chunk.
Now: an output renamed with the rest of its block unchanged is the same output (ReloadPlan.outputs_renamed): the
events its old name stored are noted for the new name, which is sent only the rest."""
from __future__ import annotations

import signal
import time
from collections import Counter

import pytest

from tests.e2e.test_attack12_split_batch_acked_chunks_resent import ACKED_CHUNKS, LINES, CountingServer, start
from tests.support import stop_process, wait_until
from tests.tail.attack_agent import numbered

pytestmark = pytest.mark.slow


def config(tmp_path, port: int, name: str) -> str:
    return f"""
state_dir: {tmp_path}/state
shutdown_timeout: 2
sources:
  - {{name: app, type: file, paths: ["{tmp_path}/app.log"], parser: json, batch_size: 1000}}
outputs:
  - {{type: fluentd, name: {name}, host: 127.0.0.1, port: {port}, flush_interval: 0.1, batch_size: 100}}
"""


def test_a_renamed_output_is_not_sent_the_chunks_its_old_name_stored(tmp_path):
    server = CountingServer(ACKED_CHUNKS, mode="delay_ack", ack_delay=0.5).start()
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(config(tmp_path, server.port, "dest"))
    (tmp_path / "app.log").write_text("".join(numbered(i) for i in range(LINES)))
    err = tmp_path / "err.txt"
    errors = lambda: err.read_text(errors="replace")  # noqa: E731
    agent = start(cfg, err)
    try:
        wait_until(lambda: server.acked_at_n is not None, 60, f"Fluentd's ack of chunk {ACKED_CHUNKS}")
        time.sleep(0.2)  # that ack is on the wire; the next chunk is stored and waits 0.5 s for its ack
        server.stop()  # down: chunk 4 stored, never acked (a resend the agent names)
        acked = set(server.acked_at_n or [])
        assert len(acked) == ACKED_CHUNKS * 100, f"the acked chunks held {len(acked)} events"
        cfg.write_text(config(tmp_path, server.port, "dest_new"))  # the output renamed, same server
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: "msg=reloaded" in errors(), 60, "the reload applied")
        server.mode = "ack"
        server.start()  # back, same port
        wait_until(lambda: set(range(LINES)) <= {r["generic"]["seq"] for _, _, r in list(server.records)}, 90,
                   "every line at Fluentd")
        time.sleep(2)  # a repeat still on its way arrives
    finally:
        stop_process(agent)
        server.stop()
    counts = Counter(r["generic"]["seq"] for _, _, r in list(server.records))
    assert set(counts) == set(range(LINES)), "lines lost"
    repeated_acked = sorted(s for s in acked if counts[s] > 1)
    assert not repeated_acked, (
        f"{len(repeated_acked)} of the {len(acked)} events Fluentd had acknowledged were stored again "
        f"(e.g. {repeated_acked[:5]}); the agent said: "
        f"{[x for x in errors().splitlines() if 'level=warning' in x or 'level=error' in x][:4]}")


def test_an_output_renamed_while_the_agent_is_stopped_is_not_sent_what_its_old_name_stored(tmp_path):
    """The same, but the rename is made while the agent is stopped (exit 1: batches undelivered, read again next
    start): the note of what `dest` stored says where it stores (OutputConfig.where), so the start knows `dest_new`
    for it (was: the 300 acknowledged events stored twice, unnamed)."""
    server = CountingServer(ACKED_CHUNKS, mode="delay_ack", ack_delay=0.5).start()
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(config(tmp_path, server.port, "dest"))
    (tmp_path / "app.log").write_text("".join(numbered(i) for i in range(LINES)))
    errs = [tmp_path / "err1.txt", tmp_path / "err2.txt"]
    errors = lambda: "".join(e.read_text(errors="replace") for e in errs if e.exists())  # noqa: E731
    agent = start(cfg, errs[0])
    try:
        wait_until(lambda: server.acked_at_n is not None, 60, f"Fluentd's ack of chunk {ACKED_CHUNKS}")
        time.sleep(0.2)
        server.stop()
        acked = set(server.acked_at_n or [])
        assert len(acked) == ACKED_CHUNKS * 100, f"the acked chunks held {len(acked)} events"
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 1, errors()[-2000:]
        cfg.write_text(config(tmp_path, server.port, "dest_new"))
        agent = start(cfg, errs[1])
        server.mode = "ack"
        server.start()
        wait_until(lambda: set(range(LINES)) <= {r["generic"]["seq"] for _, _, r in list(server.records)}, 90,
                   "every line at Fluentd")
        time.sleep(2)
    finally:
        stop_process(agent)
        server.stop()
    counts = Counter(r["generic"]["seq"] for _, _, r in list(server.records))
    assert set(counts) == set(range(LINES)), "lines lost"
    repeated_acked = sorted(s for s in acked if counts[s] > 1)
    assert not repeated_acked, (
        f"{len(repeated_acked)} of the {len(acked)} events Fluentd had acknowledged were stored again "
        f"(e.g. {repeated_acked[:5]}); the agent said: "
        f"{[x for x in errors().splitlines() if 'level=warning' in x or 'level=error' in x][:4]}")
