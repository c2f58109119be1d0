"""Attack on `shipper verify` (issue 18): a stored line that repeats a key. JSON parsers disagree on
which copy counts (orjson and Python take the last, others the first or refuse: RFC 8785 and I-JSON
forbid duplicate names), so a line with an added first copy of `user` reads as another user to a
first-wins reader while a last-wins verify still finds the sealed value. Such a line is not the
event the agent sealed: verify must not call the trail intact."""
from __future__ import annotations

from tests.core.test_integrity import shipped, verify


def test_a_link_with_a_repeated_key_is_not_intact(tmp_path):
    capture, lines = shipped(tmp_path, n=5)
    i = next(n for n, ln in enumerate(lines) if b'"user":{"name":"user2"}' in ln)
    # a first copy of user, and one inside it: both read as "mallory" by a first-wins parser
    lines[i] = lines[i].replace(b'"user":{"name":"user2"}',
                                b'"user":{"name":"mallory"},"user":{"name":"mallory","name":"user2"}', 1)
    capture.write_bytes(b"".join(ln + b"\n" for ln in lines))
    r = verify(tmp_path, capture)
    assert r.returncode == 1, r.stdout
    assert f"{capture}:{i + 1}" in r.stdout, r.stdout  # the line is named
