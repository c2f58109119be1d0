"""Attack 6 (hostile network): a `_bulk` answer that is a gzip bomb (Content-Encoding: gzip, 260 KB on the wire,
256 MB of spaces once inflated; a hostile or broken proxy). shipper asks for gzip answers' decoding itself, and
a bulk answer to 30 documents is a few kilobytes. Found: the answer is inflated whole in memory: by hand, 1 MB
on the wire (1 GB inflated) took the agent to 2.5 GB RSS, where it was stopped; a bigger one ends in the OOM
killer. Not the same as an endless answer (test_attack6_endless_bulk_answer.py): a bound on the bytes read
from the socket does not catch it. Asserted on the agent's peak RSS (VmHWM), with a wide margin."""
from __future__ import annotations

import subprocess
import zlib

from tests.hostile_es import SHIPPER, HostileES, config
from tests.support import stop_process, wait

MB = 1 << 20
INFLATED = 256  # MB once inflated
BOUND = 200  # MB of peak RSS: the agent runs in ~50 MB; the bomb, held whole, is more than 256


def gzip_bomb() -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: a gzip stream
    parts = [z.compress(b'{"took":1,"errors":false,"items":[')]
    blob = b" " * MB
    parts += [z.compress(blob) for _ in range(INFLATED)]
    return b"".join(parts) + z.flush()


def peak_rss_mb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) // 1024 for line in f if line.startswith("VmHWM:"))


def test_a_gzip_bomb_bulk_answer_is_cut_and_the_batch_sent_again(tmp_path):
    bomb = gzip_bomb()
    es = HostileES()
    bulks = {"n": 0}
    handler = es.httpd.RequestHandlerClass
    post = handler.do_POST

    def do_POST(self):
        if "_bulk" not in self.path:
            return post(self)
        bulks["n"] += 1
        if bulks["n"] > 1:
            return post(self)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(bomb)))
        self.end_headers()
        self.wfile.write(bomb)

    handler.do_POST = do_POST
    cfg = config(tmp_path, [es.url], n=30, extra=", request_timeout: 60")
    err = open(tmp_path / "agent.err", "wb")
    agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=err)
    try:
        assert wait(lambda: es.ns() == list(range(30)), 120), f"stored {len(es.ns())} of 30"
        peak = peak_rss_mb(agent.pid)
        assert peak < BOUND, f"the agent's RSS peaked at {peak} MB on a {len(bomb) // 1024} KB bulk answer"
    finally:
        stop_process(agent)
        err.close()
        es.stop()
