"""What attack 15's tail tests share (session 17): a log of numbered JSON lines (`seq`), an agent config with one
file source and one Fluentd output, written atomically so a SIGHUP never reads half of it, and the counts of what
a Forward peer stored."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from tests.peers.forward_server import ForwardServer

SHIPPER = str(Path(sys.executable).with_name("shipper"))


def line(n: int) -> str:
    return json.dumps({"seq": n, "@timestamp": "2026-12-06T07:00:00Z", "message": f"line {n} " + "x" * 40}) + "\n"


def write(path: Path, seqs: range) -> None:
    with path.open("a") as f:
        f.writelines(line(n) for n in seqs)


def config(path: Path, tmp: Path, port: int, paths: list[str], **source: object) -> None:
    cfg = {"state_dir": str(tmp / "state"), "shutdown_timeout": 3,
           "sources": [{"name": "app", "type": "file", "paths": paths, "parser": "json",
                        "read_from": "beginning", "batch_size": 100, **source}],
           "outputs": [{"type": "fluentd", "name": "fwd", "host": "127.0.0.1", "port": port}]}
    t = path.with_suffix(".tmp")
    t.write_text(json.dumps(cfg))  # JSON is YAML
    os.replace(t, path)


def wait(cond, timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def seqs(server: ForwardServer) -> set[int]:
    return {r["generic"]["seq"] for _, _, r in list(server.records) if "seq" in r.get("generic", {})}


def nbytes(seqs_: set[int]) -> int:
    """The bytes the lines numbered `seqs_` take on disk."""
    return sum(len(line(n).encode()) for n in seqs_)
