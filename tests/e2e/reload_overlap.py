"""What the attacks on reloads that overlap a source's wait for a wedged output share
(tests/e2e/test_attack7_reload*.py): the agent they drive, the numbered lines an output received, and its endpoint."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

from tests.e2e.ops_attack import append_numbered
from tests.peers.forward_server import ForwardServer
from tests.support import wait


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


def stdout_and_fluentd_config(tmp_path, log, port: int, http: int, *, fwd_name: str = "fwd", fwd_extra: str = "",
                              shutdown_timeout: int = 5) -> str:
    """One file source of JSON lines to stdout and to a Fluentd output `fwd_name` (tests/e2e/test_attack9_*)."""
    return f"""
state_dir: {tmp_path}/state
shutdown_timeout: {shutdown_timeout}
http: {{listen: "127.0.0.1:{http}"}}
sources:
  - {{name: app, type: file, paths: ["{log}"], parser: json, batch_size: 100}}
outputs:
  - {{type: stdout}}
  - {{type: fluentd, name: {fwd_name}, host: 127.0.0.1, port: {port}, flush_interval: 0.2, ack_timeout: 1000{fwd_extra}}}
"""


def hold_on_a_down_fluentd(agent, fwd: ForwardServer, log, first: int, held: int) -> None:
    """Lines 1..first stored by both outputs; then Fluentd goes down and stdout alone writes the next `held`
    lines, which the Fluentd output then holds. `agent` (ops_attack.OpsAgent) is running with
    stdout_and_fluentd_config; `log` has lines 1..first."""
    assert wait(lambda: set(range(1, first + 1)) <= set(agent.seqs()) and len(set(on(fwd))) >= first, 90), \
        "the first lines were not shipped to both outputs"
    fwd.stop()
    append_numbered(log, first + 1, held)
    assert wait(lambda: set(range(1, first + held + 1)) <= set(agent.seqs()), 90), \
        "stdout did not write the held lines"
