"""Attack on `shipper verify` (issue 18): a repeated key hidden behind nesting too deep for Python's
parser. The cheap quote count sees the extra copies and hands the line to Python's parser for the exact
check; at ~1000 levels (orjson reads up to 1024) Python gives up with RecursionError, and the line was
taken as free of repeats. orjson keeps the last copy, so the hash matches, while a first-wins reader
sees `user.name` "mallory". The agent never writes a line nested that deep (it writes at most 255
levels), so such a line is not the event as sealed."""
from __future__ import annotations

from tests.core.test_integrity import shipped, verify

DEPTH = 1010  # past Python's recursion limit, within orjson's 1024 levels


def test_a_repeated_key_behind_nesting_too_deep_for_python_is_not_intact(tmp_path):
    capture, lines = shipped(tmp_path, n=5)
    i = next(n for n, ln in enumerate(lines) if b'"user":{"name":"user2"}' in ln)
    junk = b"[" * DEPTH + b"]" * DEPTH  # a middle copy that only a nesting-limited check reads
    lines[i] = lines[i].replace(b'"user":{"name":"user2"}',
                                b'"user":{"name":"mallory","name":' + junk + b',"name":"user2"}', 1)
    capture.write_bytes(b"".join(ln + b"\n" for ln in lines))
    r = verify(tmp_path, capture)
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    assert r.returncode == 1, r.stdout
    assert f"{capture}:{i + 1}: " in r.stdout, r.stdout  # the line is named
