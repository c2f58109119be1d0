"""Which Fluentd gets the next chunk: weighted choice among healthy servers, standbys only while
every primary is down, failed servers probed in the background (the shape of out_forward's)."""
from __future__ import annotations

import logging
import random
import socket
import threading
import time
from dataclasses import dataclass, field

from shipper_plugins.outputs.fluentd_forward import ForwardConnection

log = logging.getLogger("shipper.output.fluentd")


def backoff_delay(failures: int, base: float, cap: float) -> float:
    """Exponential backoff with full jitter (AWS's "full jitter"): spreads a fleet's reconnects."""
    return random.uniform(0, min(cap, base * (2 ** min(failures, 20))))


@dataclass
class Server:
    host: str  # "unix:///path" for a unix socket
    port: int
    weight: int
    standby: bool
    conn: ForwardConnection
    failures: int = 0
    retry_at: float = 0.0  # monotonic time before which the server is not used
    refused: str | None = None  # why it refused us (wrong key, certificate…): a retry will not fix it
    tls_probed: bool = False  # asked whether it speaks TLS since it last took a chunk (once is enough)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def label(self) -> str:
        return self.host if self.host.startswith("unix://") else f"{self.host}:{self.port}"

    def healthy(self, now: float) -> bool:
        return self.failures == 0 or now >= self.retry_at


class ServerPool:
    def __init__(self, servers: list[tuple[str, int, int, bool]], timeout: float,
                 backoff_base: float, backoff_max: float, heartbeat_interval: float, **connection_options):
        # connection_options: TLS and handshake credentials, the same for every server.
        self.servers = [Server(h, p, w, s, ForwardConnection(h, p, timeout, **connection_options))
                        for h, p, w, s in servers]
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.heartbeat_interval = heartbeat_interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def pick(self) -> Server | None:
        """A healthy primary by weight; else a healthy standby; else None (all in backoff)."""
        now = time.monotonic()
        for standby in (False, True):
            live = [s for s in self.servers if s.standby == standby and s.weight > 0 and s.healthy(now)]
            if live:
                return random.choices(live, weights=[s.weight for s in live])[0]
        return None

    def next_retry_in(self) -> float:
        now = time.monotonic()
        return max(0.0, min(s.retry_at for s in self.servers) - now)

    def failed(self, server: Server) -> None:
        server.failures += 1
        server.retry_at = time.monotonic() + backoff_delay(server.failures, self.backoff_base, self.backoff_max)

    def succeeded(self, server: Server) -> None:
        server.failures = 0
        server.retry_at = 0.0
        server.refused = None
        server.tls_probed = False

    def refused(self, server: Server, reason: str, retry_in: float) -> None:
        """The server said no: left alone for `retry_in` s, also by the heartbeat (it listens fine)."""
        server.failures += 1
        server.refused = reason
        server.retry_at = time.monotonic() + retry_in

    def set_credentials(self, creds) -> None:
        """Handshake credentials for the connections made from now on (open ones keep theirs)."""
        for s in self.servers:
            s.conn.creds = creds

    def all_refused(self) -> bool:
        return all(s.refused for s in self.servers if s.weight > 0)

    def forget_refusals(self) -> None:
        """Let the next send try the refusing servers again (the core decides when: long backoff)."""
        for s in self.servers:
            if s.refused:
                s.retry_at = 0.0

    def start(self) -> None:
        if len(self.servers) > 1 and self._thread is None:
            self._thread = threading.Thread(target=self._heartbeat, name="fluentd-heartbeat", daemon=True)
            self._thread.start()

    def _heartbeat(self) -> None:
        # A server in backoff is probed with a plain connect (out_forward's TCP heartbeat), so it
        # rejoins as soon as it listens again rather than when its backoff happens to run out.
        while not self._stop.wait(self.heartbeat_interval):
            for s in self.servers:
                if s.failures and not s.refused and time.monotonic() < s.retry_at and _can_connect(s):
                    log.info("fluentd server is back", extra={"server": s.label})
                    s.retry_at = 0.0

    def close(self) -> None:
        self._stop.set()
        for s in self.servers:
            s.conn.close_now()


def _can_connect(s: Server) -> bool:
    try:
        if s.host.startswith("unix://"):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(1.0)
                sock.connect(s.host[len("unix://"):])
        else:
            socket.create_connection((s.host, s.port), timeout=1.0).close()  # every address of the name, as sending does
        return True
    except OSError:
        return False
