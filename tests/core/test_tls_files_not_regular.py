"""Issue 13: the TLS files `ssl` opens by name itself (a CA bundle, a client certificate and key) are
not read through read_secret, so a FIFO there made `shipper check` and the start wait for ever on
its open. Anything but a regular file is refused as a config error naming file, line and key (exit 2)."""
from __future__ import annotations

import os
import subprocess
import sys


def _shipper(*args: str) -> subprocess.CompletedProcess:
    # A hang is the failure this guards against: the generous timeout raises instead of waiting for ever.
    return subprocess.run([sys.executable, "-m", "shipper.cli", *args], capture_output=True, text=True, timeout=120)


def test_a_fifo_folder_or_device_as_a_tls_file_is_a_config_error(tmp_path):
    fifo = tmp_path / "key.fifo"
    os.mkfifo(fifo)  # no writer: opening it for reading would block
    cert = tmp_path / "client.pem"
    cert.write_text("not looked into: the check is of what the file is\n")
    token = tmp_path / "token"
    token.write_text("a-token\n")
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""state_dir: {tmp_path}/state
sources:
  - name: pe
    type: http_poll
    parser: puppet_enterprise
    url: https://127.0.0.1:1/activity-api/v2
    token_file: {token}
    ca_file: {tmp_path}
outputs:
  - type: fluentd
    host: 127.0.0.1
    port: 1
    tls: true
    tls_cert_file: {cert}
    tls_key_file: {fifo}
  - type: elasticsearch
    name: es
    hosts: [https://127.0.0.1:1]
    ca_file: /dev/null
""")
    out = _shipper("check", "-c", str(cfg))
    assert out.returncode == 2, out
    lines = out.stderr.splitlines()
    assert any(f"{cfg}:8: sources[0].ca_file: {tmp_path} is a folder, not a regular file" in x for x in lines), out.stderr
    assert any(f"{cfg}:15: outputs[0].tls_key_file: {fifo} is a FIFO or pipe, not a regular file" in x
               for x in lines), out.stderr
    assert any(f"{cfg}:19: outputs[1].ca_file: /dev/null is a character device, not a regular file" in x
               for x in lines), out.stderr
    assert "outputs[0].tls_cert_file" not in out.stderr  # a regular file passes

    cfg.write_text(cfg.read_text().replace(f"tls_key_file: {fifo}", f"tls_key_file: {cert}")
                   .replace("ca_file: /dev/null", f"ca_file: {fifo}").replace(f"    ca_file: {tmp_path}\n", ""))
    out = _shipper("run", "-c", str(cfg))  # the start: refused at once, nothing shipped
    assert out.returncode == 2, out
    assert f"outputs[1].ca_file: {fifo} is a FIFO or pipe" in out.stderr, out.stderr
