"""Black-box attack 6 (operator): config files an editor or a paste can produce that YAML cannot read:
a control character in a comment (an escape sequence pasted from a terminal, `\\x1b[A`, or a NUL), and an
integer of 5,000 digits (the "huge numbers" of a generated file). `shipper check` (and `shipper run`)
end in a Python traceback with exit 1 (`yaml.reader.ReaderError: unacceptable character #x1b ...
in "<unicode string>", position 127`; `ValueError: Exceeds the limit (4300 digits) for integer string
conversion`), and a reload refuses them with that text, naming neither the file nor the line. Found:
3 of 3 contents, each reproduced twice (check by hand and this test; reload by hand for the NUL and
the integer). The promise (README, docs/operations.md): a config error exits 2 with file, line and key;
a refused reload names file, line and key."""
from __future__ import annotations

import subprocess
import sys

import pytest

BASE = """state_dir: ./state
sources:
  - {name: app, type: file, paths: [./app.log], parser: json}
outputs:
  - type: stdout
"""

HOSTILE = {
    "escape_in_comment": BASE + "# the up arrow pasted from a terminal: \x1b[A\n",
    "nul_in_comment": BASE + "# \x00\n",
    "five_thousand_digits": BASE + "    max_in_flight_bytes: 1" + "0" * 5000 + "\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_unreadable_config_content_is_a_config_error_naming_file_and_line(tmp_path, name):
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(HOSTILE[name])
    r = subprocess.run([sys.executable, "-m", "shipper.cli", "check", "-c", str(cfg)],
                       capture_output=True, text=True, timeout=120)
    line = HOSTILE[name].count("\n")  # the hostile content is on the last line
    assert r.returncode == 2 and "Traceback" not in r.stderr, f"exit {r.returncode}: {r.stderr[-300:]}"
    assert f"shipper.yaml:{line}" in r.stderr, r.stderr
