"""Attack on `shipper verify` (issue 18): the time of an event tagged `_parse_failure`.
docs/evidence.md leaves `@timestamp` of such an event out of its hash because it "carries the time
it was read", which a replay after a crash reads again at another time. But a record the parser can
half read (a Datameer record without its action type, a Posit Connect line with one bad value) is
shipped tagged `_parse_failure` with the product's own time as `@timestamp`: that is when the action
happened, and what an auditor searches the store by. Moving it to another day must not verify.
Fixed: such an event carries the time it was read as `event.created`, left out of its hash instead,
and its @timestamp is sealed; one without event.created has the read time there (docs/evidence.md)."""
from __future__ import annotations

import orjson

from tests.core.test_integrity import append, run_once, setup, verify


def test_the_product_time_of_a_half_parsed_record_is_sealed(tmp_path):
    log, cfg = setup(tmp_path)
    # A login with its time but without "action-type": the parser ships it as a parse failure.
    append(log, [orjson.dumps({"timestamp": "2026-11-02 09:00:01", "action": "LOGIN",
                               "performing-user": "mallory", "ip-address": "192.0.2.44"})])
    lines = run_once(cfg).splitlines()
    evs = [orjson.loads(ln) for ln in lines]
    assert [e["event"]["sequence"] for e in evs] == [1, 2, 3]
    failed = evs[1]
    assert "_parse_failure" in failed["tags"], failed
    assert failed["@timestamp"] == "2026-11-02T09:00:01.000Z", failed  # the product's time, not the read time
    assert failed["event"]["created"] > "2026-12", failed  # the time it was read

    trail = tmp_path / "trail.jsonl"
    trail.write_bytes(b"".join(ln + b"\n" for ln in lines))
    assert verify(tmp_path, trail).returncode == 0

    failed["@timestamp"] = "2019-01-01T00:00:00.000Z"  # the login moved back by years
    trail.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in evs))
    r = verify(tmp_path, trail)
    assert r.returncode == 1, r.stdout
    assert "altered: sequence 2" in r.stdout, r.stdout

    # The read time is what a replay after a crash changes: left out, as documented
    failed["@timestamp"] = "2026-11-02T09:00:01.000Z"
    failed["event"]["created"] = "2030-01-01T00:00:00.000Z"
    trail.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in evs))
    assert verify(tmp_path, trail).returncode == 0
    # Without event.created the rule for a read-time @timestamp would leave the product's time out
    del failed["event"]["created"]
    trail.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in evs))
    r = verify(tmp_path, trail)
    assert r.returncode == 1 and "altered: sequence 2" in r.stdout, r.stdout
