"""JSON read with every integer kept exactly as written.

orjson reads an integer beyond 64 bits (or below -2**63) as a float, silently: a 30-digit id would reach
the event as '1.2345678901234568e+29', an audit record altered on the way. orjson stays the reader (it
validates and is fast); only a text holding a run of 19 digits or more, the one place such an integer can
be, is read again by the standard library, whose parse_int hook sees each integer's digits. An integer
past a double's range orjson refuses ("number is infinity"): that text too is read by the standard library.
An integer outside Elasticsearch's `long` range becomes the string of its digits: no index field could
hold it as a number and orjson could not write it into a batch.
"""
from __future__ import annotations

import json
from typing import Any, Callable

import orjson

JSONDecodeError = orjson.JSONDecodeError

# Bytes (every file and HTTP record; a text as its UTF-8): each ASCII digit as "0", any other byte as " ", then a substring search
# for 19 zeros. The regex tries a match at every offset: ~7.5 µs for a 500-byte line, 2.5 × what orjson takes
# to read it; translate and `in` (both C loops) find the same runs ~5 × cheaper.
_DIGITS_AS_ZERO = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
_ZEROS = b"0" * 19
# `needle in data` for bytes costs ~1,000 instructions more than `data.find(needle)`: CPython 3.11 first tries the
# needle as an integer (a byte value), raising and clearing a TypeError with its formatted message each time. And
# `partition(needle)[1]` (empty: not there) ~500 fewer than find, whose arguments PyArg_ParseTuple reads (partition's
# are read by argument clinic): the same search, a tuple of the text and two empty bytes.
_LONG_MIN, _LONG_MAX = -(2 ** 63), 2 ** 63 - 1


def _integer(digits: str) -> int | str:
    if len(digits) > 20:  # past any long, and int() of thousands of digits is refused by Python itself
        return digits
    v = int(digits)
    return v if _LONG_MIN <= v <= _LONG_MAX else digits


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _float(text: str) -> float:
    v = float(text)
    if v in (float("inf"), float("-inf")):
        raise ValueError(f"number {text[:40]} is infinity when read as a double")
    return v


def loads_replacing(data: bytes) -> Any:
    """loads of a record whose bytes that are not UTF-8 are read as U+FFFD (decode_text), for a product
    parser once loads refused it (orjson refuses such bytes): one Latin-1 byte does not make the whole
    record unreadable (docs/ecs-conventions.md). Raises orjson.JSONDecodeError as loads does."""
    return loads(data.decode("utf-8", errors="replace"))


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """orjson.loads, but integers exact (see the module's note); raises orjson.JSONDecodeError as it does."""
    try:
        doc = orjson.loads(data)
    except JSONDecodeError as e:
        if "number is infinity" not in str(e):
            raise
        # Possibly an integer of hundreds of digits: the standard library reads it, held to what orjson
        # takes (no NaN, no infinite float; a lone surrogate, which it would keep, fails the dumps check).
        try:
            doc = _stdlib(data)
            orjson.dumps(doc)
        except (ValueError, TypeError, RecursionError, orjson.JSONEncodeError):
            raise e from None
        return doc
    if data.__class__ is bytes:  # has_long_digits inline: this runs for every record of most products
        if not data.translate(_DIGITS_AS_ZERO).partition(_ZEROS)[1]:
            return doc
    elif not has_long_digits(data):
        return doc
    try:
        return _stdlib(data)
    except RecursionError:
        # orjson takes 1024 levels, the standard library fewer: refused rather than kept with a float
        raise JSONDecodeError("JSON nested too deep to read its integers exactly", "", 0)


def loads_for(records: list[bytes]) -> Callable[[bytes], Any]:
    """The loads for a batch of records: orjson.loads itself when no record holds a run of 19 digits (then the two
    read every text alike: an integer orjson cannot read exactly has 20 digits or more), else `loads`. One check
    of the whole batch (the records joined by a byte that is no digit) instead of one a record: a record's call
    to `loads` and its check cost ~2 k instructions beside orjson's ~9 k (bench/README.md, session 21)."""
    if b"\n".join(records).translate(_DIGITS_AS_ZERO).partition(_ZEROS)[1]:
        return loads
    return orjson.loads


def has_long_digits(data: bytes | bytearray | memoryview | str) -> bool:
    """Whether the text holds a run of 19 ASCII digits or more (where an integer past 64 bits can be)."""
    if data.__class__ is bytes:
        return bool(data.translate(_DIGITS_AS_ZERO).partition(_ZEROS)[1])
    if isinstance(data, str):  # its UTF-8: an ASCII digit is the same byte there, and no byte of a longer character
        # is one. The regex `[0-9]{19}` over the text took ~24,000 instructions for a 150-character JSON text (a
        # Databricks requestParams string, cachegrind)
        return bool(data.encode("utf-8", "surrogatepass").translate(_DIGITS_AS_ZERO).partition(_ZEROS)[1])
    return bool(bytes(data).translate(_DIGITS_AS_ZERO).partition(_ZEROS)[1])


def _stdlib(data: bytes | bytearray | memoryview | str) -> Any:
    return json.loads(bytes(data) if isinstance(data, memoryview) else data,
                      parse_int=_integer, parse_float=_float, parse_constant=_refuse_constant)
