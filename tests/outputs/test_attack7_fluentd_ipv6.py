"""Black-box attack 7 (state and stops): a Fluentd output whose server listens on IPv6 only: `host: "::1"`, or
`host: localhost` where /etc/hosts names both `::1` and `127.0.0.1` (Debian's and most distributions' default)
and in_forward is bound to `::1` (`bind ::1`) or `::` with IPv6 only. The systemd unit allows AF_INET6; the
README's fluentd `host` is any host name.

Found (by hand, 2 runs each of three cases): the output never reaches it. `host: "::1"`: every chunk fails with
`[Errno -9] Address family for hostname not supported`; `localhost` (::1 listed first or second) with the
server on ::1 only: `[Errno 111] Connection refused` (only 127.0.0.1 is tried). Both are taken for an outage
(`the chunk will be sent again`) and retried for ever; `run --once --timeout 60` exits 1 with 0 of 20,000
shipped; `shipper check` calls the config valid. Expected, as any TCP client (Fluentd's out_forward,
`socket.create_connection`): every address the name resolves to is tried, IPv6 included.
Fixed: every address the name resolves to is tried, in order (socket.create_connection).
What held: a server on 127.0.0.1 with localhost resolving to ::1 first (20,000 once), and a server on each
address (20,000 once, all to one of them)."""
from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from tests.peers.forward_server import ForwardServer, _Handler, _Server
from tests.tail.attack_agent import free_port, numbered

SHIPPER = [sys.executable, "-m", "shipper.cli"]
TOTAL = 2000


class _Server6(_Server):
    address_family = socket.AF_INET6


class ForwardServer6(ForwardServer):
    """The strict Forward peer on an IPv6 address."""

    def start(self) -> "ForwardServer6":
        srv = _Server6((self.host, self.port), _Handler)
        self.port = srv.server_address[1]
        srv.peer = self
        self._server = srv
        self._thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self


def config(tmp_path: Path, host: str, port: int) -> Path:
    log = tmp_path / "app.log"
    log.write_text("".join(numbered(i) for i in range(TOTAL)))
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
sources:
  - {{name: app, type: file, paths: ["{log}"], parser: json}}
outputs:
  - {{type: fluentd, host: "{host}", port: {port}}}
""")
    return cfg


def assert_once(peer: ForwardServer, r: subprocess.CompletedProcess) -> None:
    err = r.stderr.decode()
    seqs = Counter(rec["generic"]["seq"] for _, _, rec in peer.records)
    assert r.returncode == 0, f"{len(seqs)} of {TOTAL} shipped; {err[-500:]}"
    assert sorted(seqs) == list(range(TOTAL)) and max(seqs.values()) == 1


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _ipv6_loopback_here():
    assert ipv6_loopback(), "this machine has no IPv6 loopback (::1): the tests of an in_forward on ::1 need one"


def test_fluentd_on_ipv6_loopback(tmp_path: Path):
    peer = ForwardServer6(host="::1").start()
    try:
        cfg = config(tmp_path, "::1", peer.port)
        r = subprocess.run(SHIPPER + ["run", "--once", "--timeout", "20", "-c", str(cfg)], capture_output=True,
                           timeout=120)
        assert_once(peer, r)
    finally:
        peer.stop()


def test_fluentd_on_ipv6_loopback_named_localhost(tmp_path: Path):
    assert subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0, \
        "no private mount namespace (unshare -m, root): the test needs one for its own /etc/hosts"
    port = free_port()
    peer = ForwardServer6(host="::1", port=port).start()
    try:
        hosts = tmp_path / "hosts"
        hosts.write_text("::1 localhost\n127.0.0.1 localhost\n")
        cfg = config(tmp_path, "localhost", port)
        # the agent alone sees this /etc/hosts: a bind mount in a mount namespace of its own
        r = subprocess.run(["unshare", "-m", "sh", "-c", f'mount --bind "{hosts}" /etc/hosts && exec "$0" "$@"',
                            *SHIPPER, "run", "--once", "--timeout", "20", "-c", str(cfg)], capture_output=True,
                           timeout=120)
        assert_once(peer, r)
    finally:
        peer.stop()
