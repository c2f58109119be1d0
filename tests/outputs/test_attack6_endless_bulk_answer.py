"""Attack 6 (hostile network): a `_bulk` answer that does not end (a proxy or a broken node streaming a body
with no length, as fast as loopback goes). A bulk answer to 30 documents is a few kilobytes; shipper's
Fluentd output cuts an endless ack after a few megabytes, the `http_poll` source has `max_response_bytes`.
Found: the Elasticsearch output reads the whole body into memory until request_timeout: 1.5 GB of answer
took the agent to 2.5 GB RSS in 5 s (by hand), so a longer one ends in the OOM killer. Here: the server
offers 256 MB and counts how much the agent takes before hanging up."""
from __future__ import annotations

import subprocess
import threading

from tests.hostile_es import SHIPPER, HostileES, config
from tests.support import stop_process, wait

MB = 1 << 20
OFFERED = 256  # MB the server is ready to send
BOUND = 32  # MB: far above any bulk answer to 30 documents, far below what an endless one brings


def test_an_endless_bulk_answer_is_cut_and_the_batch_sent_again(tmp_path):
    es = HostileES()
    streamed = {"mb": 0, "done": threading.Event()}
    stopped = threading.Event()
    handler = es.httpd.RequestHandlerClass
    post = handler.do_POST

    def do_POST(self):
        if "_bulk" not in self.path or streamed["done"].is_set():
            return post(self)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()  # no Content-Length: the body ends when the connection does
        blob = b" " * MB
        try:
            self.wfile.write(b'{"took":1,"errors":false,"items":[')
            while streamed["mb"] < OFFERED and not stopped.is_set():
                self.wfile.write(blob)
                streamed["mb"] += 1
        except OSError:
            pass  # the agent hung up
        finally:
            streamed["done"].set()
            self.close_connection = True

    handler.do_POST = do_POST
    cfg = config(tmp_path, [es.url], n=30, extra=", request_timeout: 30")
    err = open(tmp_path / "agent.err", "wb")
    agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=err)
    try:
        assert streamed["done"].wait(90), "the endless answer was neither cut nor read to its end"
        taken = streamed["mb"]
        # the kernel's socket buffers hold a few MB of what was written; the rest the agent read
        assert taken < BOUND, f"the agent read {taken} MB of the answer to a 30-document bulk request"
        assert wait(lambda: es.ns() == list(range(30)), 60), f"stored {len(es.ns())} of 30"
    finally:
        stopped.set()
        stop_process(agent)
        err.close()
        es.stop()


def test_check_outputs_cuts_an_endless_answer_to_get_root(tmp_path):
    es = HostileES()
    streamed = {"mb": 0}
    stopped = threading.Event()

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.end_headers()
        blob = b" " * MB
        try:
            while streamed["mb"] < OFFERED and not stopped.is_set():
                self.wfile.write(blob)
                streamed["mb"] += 1
        except OSError:
            pass
        self.close_connection = True

    es.httpd.RequestHandlerClass.do_GET = do_GET
    cfg = config(tmp_path, [es.url], n=3, extra=", request_timeout: 30")
    try:
        r = subprocess.run([SHIPPER, "check", "--outputs", "-c", str(cfg)], capture_output=True, text=True, timeout=120)
    finally:
        stopped.set()
        es.stop()
    assert streamed["mb"] < BOUND, f"check --outputs read {streamed['mb']} MB of GET / (exit {r.returncode})"
