"""Attack on `shipper verify` (issue 18): the field the Fluentd output adds after sealing
(`_shipper_id`, the event's stable id) is left out of the hash, so any value under that name rode
along in an intact trail: an object `{"user": {"name": "mallory"}}` added to a stdout capture's link,
shown by every reader of the store, verified. The output only ever writes a stable id there (32 hex
digits); anything else under that name is not what the agent shipped."""
from __future__ import annotations

import pytest

from tests.core.test_integrity import shipped, verify


@pytest.mark.parametrize("value", [b'{"user":{"name":"mallory"}}', b'"mallory deleted the audit log"', b"42"])
def test_a_shipper_id_that_is_no_stable_id_is_an_alteration(tmp_path, value):
    capture, lines = shipped(tmp_path, n=3)
    honest = b'{"_shipper_id":"d152312c53727e903b262adea98ba056",' + lines[2][1:]  # as the output writes it
    capture.write_bytes(b"".join(ln + b"\n" for ln in lines[:2] + [honest] + lines[3:]))
    assert verify(tmp_path, capture).returncode == 0
    lines[2] = b'{"_shipper_id":' + value + b"," + lines[2][1:]
    capture.write_bytes(b"".join(ln + b"\n" for ln in lines))
    r = verify(tmp_path, capture)
    assert r.returncode == 1, r.stdout
    assert f"altered: sequence 3 at {capture}:3 does not match its hash" in r.stdout, r.stdout
