"""Attack on `shipper verify` (issue 18): a copy of a link, with its sequence and hash but another
content, placed after the original. Exact copies are legitimate (a replay that stdout or Fluentd
stored twice); a copy whose content differs is an altered event and must be named as one, wherever
it stands."""
from __future__ import annotations

from tests.core.test_integrity import shipped, verify


def test_an_altered_copy_after_the_original_is_named(tmp_path):
    capture, lines = shipped(tmp_path, n=5)
    i = next(n for n, ln in enumerate(lines) if b'"user":{"name":"user2"}' in ln)
    forged = lines[i].replace(b'"name":"user2"', b'"name":"mallory"')
    lines.insert(i + 1, forged)
    capture.write_bytes(b"".join(ln + b"\n" for ln in lines))
    r = verify(tmp_path, capture)
    assert r.returncode == 1, r.stdout
    assert "altered: sequence" in r.stdout and f"at {capture}:{i + 2} does not match its hash" in r.stdout, r.stdout


def test_an_exact_copy_is_still_only_counted(tmp_path):
    capture, lines = shipped(tmp_path, n=5)
    lines.insert(4, lines[3])
    capture.write_bytes(b"".join(ln + b"\n" for ln in lines))
    r = verify(tmp_path, capture)
    assert r.returncode == 0, r.stdout
    assert "1 exact copies" in r.stdout
