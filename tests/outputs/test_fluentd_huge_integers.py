"""An integer msgpack cannot hold (past 64 bits: a parser plugin's value) goes to Fluentd as its digits: msgpack hands
it to pack_entry's `default=str` as it does a value of a type it does not know. Checked when orjson's refusal of such
an integer ended a stdout source (exam30a, session 30): the Fluentd output held already; this keeps it so."""
from __future__ import annotations

import msgpack
from fluent.sender import EventTime

from shipper_plugins.outputs.fluentd_forward import pack_entry


def _unpacked(data: bytes) -> list:
    return msgpack.unpackb(data, ext_hook=lambda code, raw: (code, raw), raw=False)


def test_integers_past_64_bits_go_as_their_digits_the_others_as_they_are():
    record = {"n": 1 << 70, "deep": {"list": [-(1 << 63) - 1, 7, (1 << 64) - 1]}, "low": -(1 << 63), "s": "x"}
    at, got = _unpacked(pack_entry(1_700_000_000_123_456_789, record))
    assert got == {"n": str(1 << 70), "deep": {"list": [str(-(1 << 63) - 1), 7, (1 << 64) - 1]}, "low": -(1 << 63),
                   "s": "x"}
    assert at == _unpacked(msgpack.packb([EventTime.from_unix_nano(1_700_000_000_123_456_789)]))[0]


def test_a_record_msgpack_holds_is_packed_as_before():
    record = {"n": (1 << 64) - 1, "m": -(1 << 63), "t": [1, "a", None, 2.5]}
    assert pack_entry(5, record) == msgpack.packb([EventTime.from_unix_nano(5), record], default=str)
