"""Attack on `shipper verify` (issue 18): a whole chain deleted from one output's store, when the
chain beside it there also goes to a second output. Source `dm` ships to stdout only; source `two` to
stdout and Fluentd. `two`'s attestations say stdout also carries `dm` and Fluentd does not; the same
links of `two` make both stores, so the links alone cannot tell a stdout capture from a Fluentd export.
Verify names the absent chain when told which output the trail is from (--output), and without it
refuses to call a trail complete that would lack a chain in one of the stores it could be."""
from __future__ import annotations

import signal
import subprocess

import orjson

from tests.core.test_integrity import SHIPPER, append, events_of, record, setup, verify
from tests.peers.forward_server import ForwardServer
from tests.support import wait_until


def test_a_chain_deleted_from_an_output_that_another_chain_shares_is_named(tmp_path):
    log, cfg = setup(tmp_path)
    other = tmp_path / "other.log"
    other.write_bytes(b"")
    srv = ForwardServer().start()
    try:
        cfg.write_text(cfg.read_text().replace("parse_workers: 0\n", "parse_workers: 0\n    tag: a.dm\n", 1)
                       .replace("outputs:", f"""  - {{name: two, type: file, paths: [{other}], parser: datameer, parse_workers: 0, tag: b.two}}
outputs:""").replace("  - type: stdout\n", f"""  - {{type: stdout, name: so}}
  - {{type: fluentd, name: fd, host: 127.0.0.1, port: {srv.port}, match: 'b.*', flush_interval: 0.2}}
"""))
        out = tmp_path / "out.jsonl"
        with open(out, "wb") as f:
            proc = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=f, stderr=subprocess.DEVNULL)
        try:
            append(log, [record(i) for i in range(3)])
            append(other, [record(i) for i in range(100, 105)])
            wait_until(lambda: sum(1 for r in srv.records if "user" in r[2]) == 5, 60, "two's records in Fluentd")
            wait_until(lambda: sum(1 for e in events_of(out.read_bytes().splitlines()) if "user" in e) == 8, 60,
                       "both sources' records on stdout")
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0
        wait_until(lambda: any(r[2]["event"].get("reason") == "stop" for r in srv.records), 60, "two's stop in Fluentd")
    finally:
        srv.stop()
    fd = tmp_path / "fd.jsonl"  # Fluentd's store: only `two`, honest
    fd.write_bytes(b"".join(orjson.dumps(r) + b"\n" for _, _, r in srv.records))
    assert verify(tmp_path, fd, output="fd").returncode == 0
    lines = out.read_bytes().splitlines()
    assert verify(tmp_path, out, output="so").returncode == 0
    assert verify(tmp_path, out).returncode == 0  # `dm` went to stdout only: the capture can be no other store
    dm = next(e["labels"]["shipper_chain"] for e in events_of(lines) if e["labels"]["shipper_chain"].endswith("/dm"))
    cut = tmp_path / "cut.jsonl"  # stdout's store with every link of `dm` deleted
    cut.write_bytes(b"".join(ln + b"\n" for ln in lines if f'"shipper_chain":"{dm}"'.encode() not in ln))
    v = verify(tmp_path, cut, output="so")
    assert v.returncode == 1, v.stdout
    assert f"chain {dm}: none of its links is in the input, though its outputs had acknowledged sequences" in v.stdout, v.stdout
    assert "for output so" in v.stdout, v.stdout
    for trail in (cut, fd):  # unnamed, either could be stdout's (lacking `dm`) or Fluentd's (complete)
        v = verify(tmp_path, trail)
        assert v.returncode == 1, v.stdout
        assert "could be the store of any of the outputs fd, so" in v.stdout, v.stdout
        assert f"if it is so's store: chain {dm}: none of its links is in the input" in v.stdout, v.stdout
        assert "if it is fd's store: nothing is missing" in v.stdout, v.stdout
    v = verify(tmp_path, out, output="fd")  # `dm` never went to Fluentd: not that output's store
    assert v.returncode == 1, v.stdout
    assert f"chain {dm}: its attestations name outputs so, not fd" in v.stdout, v.stdout
