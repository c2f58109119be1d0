"""Black-box attack 4: lines at the `max_line_bytes` limit. A long line is cut into pieces tagged
`_line_truncated` (README); the pieces together must still be the line the writer wrote (an auditor
reassembles them), and a line that fits must not be called truncated."""
from __future__ import annotations

import json
import subprocess
import sys


def cat(path, max_line_bytes: int) -> list[dict]:
    out = subprocess.run([sys.executable, "-m", "shipper.cli", "cat", "-p", "json", "--max-line-bytes",
                          str(max_line_bytes), str(path)], capture_output=True, check=True, timeout=120).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_pieces_of_a_long_line_add_up_to_the_line(tmp_path):
    line = "x" + "é" * 600  # 1201 bytes: a cut at 1024 falls inside an 'é'
    (tmp_path / "a.log").write_bytes(line.encode() + b"\n")
    events = cat(tmp_path / "a.log", 1024)
    assert all("_line_truncated" in e["tags"] for e in events)
    assert "".join(e["event"]["original"] for e in events) == line


def test_a_crlf_line_that_fits_is_one_event(tmp_path):
    text = json.dumps({"seq": 1, "m": "x" * 1000})
    text += " " * (1024 - len(text))  # exactly the limit, then CRLF
    (tmp_path / "a.log").write_bytes(text.encode() + b"\r\n" + b'{"seq": 2}\r\n')
    events = cat(tmp_path / "a.log", 1024)
    assert [e.get("generic", {}).get("seq") for e in events] == [1, 2], events
    assert not any("_line_truncated" in e.get("tags", []) or "_parse_failure" in e.get("tags", []) for e in events)
