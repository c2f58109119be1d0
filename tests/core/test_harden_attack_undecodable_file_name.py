"""Attack (issue 14): a local user who may create files in a followed folder creates one whose name is
not UTF-8 (`bad\\xff.log`). The whole source stopped ("str is not valid UTF-8: surrogates not allowed")
and shipped nothing, not even the other files' events. The promise: bad input never crashes the agent
and is never dropped silently: the other files are shipped, and the one that cannot be kept in a
checkpoint or an event is named in a warning."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[2]


def test_a_file_name_that_is_not_utf8_does_not_stop_the_source(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    names = [b"ok.log", b"bad\xff.log", b"new\nline.log"]
    for i, n in enumerate(names):
        with open(bytes(logs) + b"/" + n, "wb") as f:
            f.write(orjson.dumps({"n": i}) + b"\n")
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"state_dir: {tmp_path}/state\n"
                   f"sources:\n  - {{name: a, type: file, paths: [\"{logs}/*.log\"], parser: json}}\n"
                   "outputs:\n  - {type: stdout}\n")
    r = subprocess.run([sys.executable, "-m", "shipper.cli", "run", "--once", "--timeout", "30", "-c", str(cfg)],
                       capture_output=True, timeout=90, cwd=str(REPO))
    err = r.stderr.decode(errors="replace")
    got = sorted(orjson.loads(line)["generic"]["n"] for line in r.stdout.splitlines())
    # The other files are shipped; the one whose name cannot be kept is named, not passed over in silence.
    assert got == [0, 2], err
    assert r.returncode == 0, err
    assert "not followed" in err and "bad\\\\xff.log" in err, err  # logfmt doubles the backslash
