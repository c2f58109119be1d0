"""What the attacks on reloads that overlap a source's wait for a wedged output share
(tests/e2e/test_attack7_reload*.py): the agent they drive, the numbered lines an output received, and its endpoint."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

from tests.peers.forward_server import ForwardServer


def seq_list(path) -> list[int]:
    """The numbered lines' sequence numbers in a stdout output's file, in order, repeats kept."""
    with open(path, "rb") as f:
        return [json.loads(line)["generic"]["seq"] for line in f if line.endswith(b"\n")]


def on(server: ForwardServer) -> list[int]:
    """The sequence numbers a Fluentd peer stored, in order, repeats kept."""
    return [r["generic"]["seq"] for _, _, r in list(server.records)]


def get(port: int, path: str) -> tuple[int, dict]:
    """The status and JSON of the agent's HTTP endpoint at `path`."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def stdout_fa_fb_config(tmp_path, http: int, log, tags: str, fa_port: int, fb_port: int | None) -> str:
    """The agent the reload-overlap attacks drive: one file source (batches of 100) with `tags`, stdout and the
    Fluentd outputs fa and fb (fb left out when `fb_port` is None), shutdown_timeout 2, /health on `http`."""
    fb = ("" if fb_port is None else
          f"  - {{type: fluentd, name: fb, host: 127.0.0.1, port: {fb_port}, flush_interval: 0.2, ack_timeout: 1000}}\n")
    return f"""
state_dir: {tmp_path}/state
shutdown_timeout: 2
http: {{listen: "127.0.0.1:{http}"}}
sources:
  - {{name: app, type: file, paths: ["{log}"], parser: json, batch_size: 100, tags: [{tags}]}}
outputs:
  - {{type: stdout}}
  - {{type: fluentd, name: fa, host: 127.0.0.1, port: {fa_port}, flush_interval: 0.2, ack_timeout: 1000}}
{fb}"""
