"""A source a reload (SIGHUP) removes ends its chain with an attestation (`event.reason: removed`):
an auditor sees the chain ended on purpose, not a tail cut off (issue 18)."""
from __future__ import annotations

import os
import signal
import subprocess

from tests.core.test_integrity import SHIPPER, append, events_of, record, setup, verify
from tests.support import wait_until


def test_a_source_removed_by_a_reload_attests_the_end_of_its_chain(tmp_path):
    log, cfg = setup(tmp_path)
    other = tmp_path / "other.log"
    other.write_bytes(b"")
    with_other = cfg.read_text().replace("outputs:", f"""  - {{name: gone, type: file, paths: [{other}], parser: datameer, parse_workers: 0}}
outputs:""")
    without_other = cfg.read_text()
    cfg.write_text(with_other)
    out = tmp_path / "out.jsonl"
    with open(out, "wb") as f:
        proc = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=f, stderr=subprocess.DEVNULL)
    try:
        def events() -> list[dict]:
            return events_of(out.read_bytes().splitlines())

        append(log, [record(i) for i in range(3)])
        append(other, [record(i) for i in range(100, 104)])
        wait_until(lambda: sum(1 for e in events() if "user" in e) == 7, 60, "the records of both sources")
        cfg.write_text(without_other)
        os.kill(proc.pid, signal.SIGHUP)
        wait_until(lambda: any(e["event"].get("reason") == "removed" for e in events()), 60,
                   "the removed source's last attestation")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    evs = events()
    gone = [e for e in evs if e["labels"]["shipper_chain"].endswith("/gone")]
    assert gone[-1]["event"]["reason"] == "removed", [e["event"].get("reason") for e in gone]
    assert gone[-1]["shipper"]["attestation"]["events"] == 4  # its four records since the start
    assert sum(1 for e in evs if e["event"].get("reason") == "removed") == 1  # only the removed source's
    v = verify(tmp_path, out)
    assert v.returncode == 0, v.stdout
    chain = gone[-1]["labels"]["shipper_chain"]
    block = v.stdout.split(f"chain {chain}:", 1)[1]
    assert "intact" in block.splitlines()[0], v.stdout
    assert next(ln for ln in block.splitlines() if "last attestation:" in ln).endswith("(removed)"), v.stdout
