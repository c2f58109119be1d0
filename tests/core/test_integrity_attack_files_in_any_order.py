"""Attack on `shipper verify` (issue 18), an honest trail: docs/evidence.md says "Give the files of a
period in any order". A capture split in two files (Fluentd out_file's hourly files, say) and
given newest first is the same trail: it must verify; a link moved inside one file is still told."""
from __future__ import annotations

from tests.core.test_integrity import shipped, verify


def test_files_given_newest_first_verify(tmp_path):
    capture, lines = shipped(tmp_path, n=10)
    older, newer = tmp_path / "trail.1.jsonl", tmp_path / "trail.2.jsonl"
    older.write_bytes(b"".join(ln + b"\n" for ln in lines[:6]))
    newer.write_bytes(b"".join(ln + b"\n" for ln in lines[6:]))
    r = verify(tmp_path, newer, older)
    assert r.returncode == 0, r.stdout
    assert "reordered" not in r.stdout
    moved = lines[:6]
    moved[2], moved[4] = moved[4], moved[2]
    older.write_bytes(b"".join(ln + b"\n" for ln in moved))
    r = verify(tmp_path, newer, older)
    assert r.returncode == 1 and "reordered" in r.stdout, r.stdout
