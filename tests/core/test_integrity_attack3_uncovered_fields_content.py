"""Attack on `shipper verify` (issue 18): the two fields a link's hash leaves out — `log.file.path`
(a replay after a rotation reads the record from the renamed file) and a parse failure's
`@timestamp` (read again at another time) — took any JSON value: an object
`{"user": {"name": "mallory"}}` or a list there verified as intact. What the agent writes there is
a string (a path, a time); only a string is left out of the hash, anything else is an alteration."""
from __future__ import annotations

import orjson
import pytest

from tests.core.test_integrity import shipped, verify

VALUES = [{"user": {"name": "mallory"}}, ["/var/log/a", "mallory"], 42]


@pytest.mark.parametrize("value", VALUES)
def test_a_file_path_or_a_parse_failure_time_that_is_no_string_is_an_alteration(tmp_path, value):
    capture, lines = shipped(tmp_path, n=3)  # ends with two parse failures before the stop attestation
    docs = [orjson.loads(ln) for ln in lines]
    i = next(n for n, d in enumerate(docs) if "user" in d)
    j = next(n for n, d in enumerate(docs) if "_parse_failure" in d.get("tags", ()))
    docs[i]["log"]["file"]["path"] = "/var/log/renamed.1"  # a string: not covered, as documented
    docs[j]["@timestamp"] = "2030-01-01T00:00:00.000Z"
    capture.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    assert verify(tmp_path, capture).returncode == 0
    docs[i]["log"]["file"]["path"] = value
    docs[j]["@timestamp"] = value
    capture.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    r = verify(tmp_path, capture)
    assert r.returncode == 1, r.stdout
    seq_i, seq_j = docs[i]["event"]["sequence"], docs[j]["event"]["sequence"]
    assert f"altered: sequence {seq_i} at {capture}:{i + 1} does not match its hash" in r.stdout, r.stdout
    assert f"altered: sequence {seq_j} at {capture}:{j + 1} does not match its hash" in r.stdout, r.stdout
