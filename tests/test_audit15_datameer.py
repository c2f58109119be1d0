"""Issue 15 audit, Datameer: held-out records read as an auditor would (docs/ecs-conventions.md)."""
from __future__ import annotations

import orjson
import pytest

from shipper_plugins.parsers.datameer import DatameerParser


def line(**kw) -> bytes:
    doc = {"timestamp": "2026-03-04 05:06:07", "actionType": "AUTHENTICATION", "action": "LOGIN",
           "performingUser": "admin"}
    doc.update(kw)
    return orjson.dumps(doc)


@pytest.mark.parametrize("written,ip", [("203.0.113.9:8080", "203.0.113.9"), ("[2001:db8::1]:8443", "2001:db8::1")])
def test_an_address_with_a_port_keeps_the_text_as_written(written, ip, assert_ecs):
    # Conventions, "Addresses": `:port` and `[v6]:port` are cut from source.ip and the text as written
    # stays in the vendor namespace (datameer.ip_address) -- the port is otherwise lost.
    [ev] = DatameerParser().parse(line(ipAddress=written))
    assert_ecs(ev, "datameer")
    assert ev["source"]["ip"] == ip
    assert ev["datameer"]["ip_address"] == written
