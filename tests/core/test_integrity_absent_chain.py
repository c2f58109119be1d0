"""A chain missing from a trail altogether (issue 18): every link of one source deleted leaves no
gap in any chain, so the other sources' attestations name the chains their outputs also carry, at
their sequence; `shipper verify` names a chain that sealed links meanwhile and has none in the input."""
from __future__ import annotations

import signal
import subprocess

from tests.core.test_integrity import SHIPPER, append, events_of, record, setup, verify
from tests.support import wait_until


def test_a_chain_deleted_from_the_trail_altogether_is_named(tmp_path, assert_ecs):
    log, cfg = setup(tmp_path)
    other = tmp_path / "other.log"
    other.write_bytes(b"")
    cfg.write_text(cfg.read_text().replace("outputs:", f"""  - {{name: two, type: file, paths: [{other}], parser: datameer, parse_workers: 0}}
outputs:"""))
    out = tmp_path / "out.jsonl"
    with open(out, "wb") as f:
        proc = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=f, stderr=subprocess.DEVNULL)
    try:
        def events() -> list[dict]:
            return events_of(out.read_bytes().splitlines())

        wait_until(lambda: {e["labels"]["shipper_chain"].rsplit("/", 1)[1] for e in events()
                            if e["event"].get("reason") == "start"} == {"dm", "two"}, 60, "both chains' start")
        append(other, [record(i) for i in range(5)])
        wait_until(lambda: sum(1 for e in events() if "user" in e) == 5, 60, "the second source's records")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    lines = out.read_bytes().splitlines()
    for e in events_of(lines):  # sealed events and attestations (with the chains beside) stay valid ECS
        assert_ecs(e, "datameer", "shipper")
    assert verify(tmp_path, out).returncode == 0
    two = next(e["labels"]["shipper_chain"] for e in events_of(lines) if e["labels"]["shipper_chain"].endswith("/two"))
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(b"".join(ln + b"\n" for ln in lines if f'"shipper_chain":"{two}"'.encode() not in ln))
    v = verify(tmp_path, cut)
    assert v.returncode == 1, v.stdout
    assert f"chain {two}: none of its links is in the input, though its outputs had acknowledged sequences" in v.stdout, v.stdout
