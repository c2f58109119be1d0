"""Black-box attack 10 (operator): a file source's `encoding:` naming one of Python's codecs that is not a
text encoding (`base64`, `hex`, `quopri`, `rot13`, `zlib`, ... an operator who reads "the file is base64" or
"quoted-printable" in a vendor's document). `shipper check` (and `shipper run`) end in a Python traceback
with exit 1 (`LookupError: 'base64' is not a text encoding; use codecs.encode() to handle arbitrary
codecs`), naming neither the file, the line nor the key. An unknown name (`mbcs`) or a codec that does not
write a newline as 0x0a (`utf-16`) is refused as it should be: exit 2, `cfg.yaml:7: sources[0].encoding: ...`.
Found: 7 of 7 such codecs (base64_codec, rot13, hex, uu_codec, zlib_codec, bz2_codec, quopri), each by hand
and with this test. The promise (README, DEVELOPERS.md): a config error exits 2 naming file, line and key.
`idna` (and `punycode`) passed the check and ended the source at its first line (they cannot decode with
errors='surrogateescape', which the source uses for a byte the encoding cannot decode). Fixed: the source's
options refuse them (plugins/sources/file.py)."""
from __future__ import annotations

import subprocess
import sys

import pytest

CONFIG = """state_dir: ./state
sources:
  - name: app
    type: file
    paths: [./app.log]
    parser: json
    encoding: {encoding}
outputs:
  - type: stdout
"""


@pytest.mark.parametrize("encoding", ["base64", "hex", "quopri", "idna"])
def test_a_codec_that_is_not_a_text_encoding_is_a_config_error(tmp_path, encoding):
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(CONFIG.format(encoding=encoding))
    (tmp_path / "app.log").write_text('{"seq": 1}\n')
    r = subprocess.run([sys.executable, "-m", "shipper.cli", "check", "-c", str(cfg)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr, f"exit {r.returncode}: {r.stderr[-300:]}"
    assert "shipper.yaml:7" in r.stderr and "encoding" in r.stderr, r.stderr


def test_an_unknown_encoding_and_one_without_a_newline_byte_are_config_errors(tmp_path):
    """What held: the refusals the promise asks for, for the other wrong names."""
    for encoding in ("mbcs", "utf-16"):
        cfg = tmp_path / "shipper.yaml"
        cfg.write_text(CONFIG.format(encoding=encoding))
        r = subprocess.run([sys.executable, "-m", "shipper.cli", "check", "-c", str(cfg)],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and "Traceback" not in r.stderr, f"{encoding}: exit {r.returncode}: {r.stderr[-300:]}"
        assert "shipper.yaml:7" in r.stderr and "encoding" in r.stderr, r.stderr
