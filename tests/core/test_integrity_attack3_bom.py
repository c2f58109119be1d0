"""Attack on `shipper verify` (issue 18): an honest trail saved with a UTF-8 byte order mark (an export
written by a Windows tool, PowerShell 5's `Out-File -Encoding utf8`). RFC 8259 §8.1 lets a reader
ignore the mark; verify must not call the first line "not a JSON event" and the trail broken. A mark
anywhere else stays what it is: bytes that are not JSON."""
from __future__ import annotations

from tests.core.test_integrity import shipped, verify

BOM = b"\xef\xbb\xbf"


def test_an_honest_trail_with_a_byte_order_mark_verifies_and_one_mid_file_does_not(tmp_path):
    capture, lines = shipped(tmp_path, n=5)
    capture.write_bytes(BOM + b"".join(ln + b"\n" for ln in lines))
    r = verify(tmp_path, capture)
    assert r.returncode == 0, r.stdout
    assert f"sequences 1-{len(lines)}, {len(lines)} links: intact" in r.stdout, r.stdout
    # a mark before a later line is not the start of a file: that line is not read as the event
    capture.write_bytes(b"".join((BOM if n == 3 else b"") + ln + b"\n" for n, ln in enumerate(lines)))
    r = verify(tmp_path, capture)
    assert r.returncode == 1, r.stdout
    assert f"{capture}:4: not a JSON event" in r.stdout, r.stdout
