"""Issue 22, attack: the postgres source connecting to a server that accepts the TCP connection and then
says nothing (a hung PgBouncer, a half-open firewall path). "A stop cuts a request or query in
progress": SIGTERM waited for the whole `shutdown_timeout` (60 s here), the connect being stuck in
libpq for `connect_timeout`, and the journal said nothing about it."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time

from tests.support import wait_until


def test_a_stop_cuts_a_connect_to_a_server_that_never_answers(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []

    def accept():
        while True:
            try:
                held.append(listener.accept()[0])  # accepted, never answered
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
shutdown_timeout: 60
sources:
  - name: cml
    type: postgres
    parser: cloudera_ai
    dsn: "host=127.0.0.1 port={listener.getsockname()[1]} dbname=x user=u sslmode=disable"
    connect_timeout: 120
outputs:
  - type: stdout
""")
    err = tmp_path / "err.log"
    p = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)], stdout=subprocess.DEVNULL,
                         stderr=open(err, "wb"))
    try:
        wait_until(lambda: "msg=started" in err.read_text() and held, timeout=60, what="the agent connecting")
        time.sleep(1.0)
        sent = time.monotonic()
        p.send_signal(signal.SIGTERM)
        rc = p.wait(75)
        took = time.monotonic() - sent
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)
        listener.close()
        for s in held:
            s.close()
    assert rc == 0, err.read_text()
    assert took < 15, f"SIGTERM took {took:.1f} s: the connect in progress was not cut"
