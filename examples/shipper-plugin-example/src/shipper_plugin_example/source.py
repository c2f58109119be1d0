"""`type: acme_vault_socket` — Acme Vault's socket audit device: the vault sends each audit record, one
JSON object, as one datagram to a Unix socket, which this source binds.

The vault counts a record as delivered once the kernel queued it, and cannot send it again: nothing
may be lost between two readers. A reload that restarts this source (a changed option) hands the
bound socket to its successor (Source.restarting / hand_over / take_over), so records sent meanwhile
wait in the socket's queue; only a stop or a removal takes its name away (the vault's sends fail from
then on), and what was queued before is read and emitted before the socket is closed. The source
cannot read a record again (`rereads = False`): batches the agent could not deliver before a reload's
or a stop's deadline are named by the agent as lost. A record longer than `max_record_bytes` arrives
cut: shipped flagged `_record_truncated`, never dropped.
"""
from __future__ import annotations

import os
import selectors
import socket
import stat
import uuid
from typing import Literal

from pydantic import Field

from shipper.api import ConfigPath, RawBatch, Source, SourceConfig, SourceContext, WakingEvent

STOP_CHECK = 0.5  # seconds: how soon a stop is seen when ctx.stop cannot wake the wait (a plain Event)


class AcmeVaultSocketConfig(SourceConfig):
    type: Literal["acme_vault_socket"] = "acme_vault_socket"
    path: ConfigPath = Field(description="the Unix datagram socket the vault sends to (relative: to the config's folder)")
    mode: int = Field(default=0o660, ge=0, le=0o777)  # who may send: the vault's group
    max_record_bytes: int = Field(default=256 * 1024, ge=1024, le=16 * 1024 * 1024)


class BoundSocket:
    """The bound socket on its way from one source object to its successor (hand_over)."""

    def __init__(self, sock: socket.socket, path: str) -> None:
        self.sock = sock
        self.path = path

    def unlink(self) -> None:
        """Take the name away: sends fail from now on; what is queued can still be received."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def close(self) -> None:
        self.sock.close()
        self.unlink()


class AcmeVaultSocketSource(Source):
    Config = AcmeVaultSocketConfig
    config: AcmeVaultSocketConfig
    rereads = False  # a record pushed to it is received once: what the agent cannot deliver is lost, and named

    def __init__(self, config: AcmeVaultSocketConfig, ctx: SourceContext) -> None:
        super().__init__(config, ctx)
        self._bound: BoundSocket | None = None  # bound in run(), or taken over from the predecessor
        self._restarting = False
        self._run_id = uuid.uuid4().hex[:12]  # records cannot be read again: keys unique per run, not positions
        self._received = 0

    def describe(self) -> list[str]:
        return [f"listens on {self.config.path} (Unix datagram socket)"]

    def status(self) -> dict[str, int]:
        return {"received": self._received}

    def run(self) -> None:
        if self._bound is None:
            self._bound = self._bind()
        sock = self._bound.sock
        stop = self.ctx.stop
        wake_r, wake_w = socket.socketpair()  # the agent's ctx.stop wakes the wait at once through it
        wake_w.setblocking(False)

        def wake() -> None:
            try:
                wake_w.send(b"!")
            except OSError:
                pass  # full: a wake-up is pending anyway

        sel = selectors.DefaultSelector()
        try:
            sel.register(sock, selectors.EVENT_READ)
            sel.register(wake_r, selectors.EVENT_READ)
            if isinstance(stop, WakingEvent):
                stop.add_waker(wake)
            while not stop.is_set():
                records = self._receive_queued(sock)
                if records:
                    self._emit(records)
                elif self.ctx.once:
                    return
                else:
                    sel.select(None if isinstance(stop, WakingEvent) else STOP_CHECK)
        finally:
            if isinstance(stop, WakingEvent):
                stop.remove_waker(wake)
            sel.close()
            wake_r.close()
            wake_w.close()
            if not self._restarting and self._bound is not None:
                self._bound.unlink()  # a stop or a removal: the vault's sends fail from now on, as they should
                if stop.is_set():  # what the kernel queued before is the vault's delivered records: emitted
                    while records := self._receive_queued(sock):
                        self._emit(records)
                self._bound.close()
                self._bound = None

    def _bind(self) -> BoundSocket:
        path = self.config.path
        try:
            if stat.S_ISSOCK(os.lstat(path).st_mode):
                os.unlink(path)  # left by a process that was killed: nobody reads it
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(path)
            os.chmod(path, self.config.mode)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        return BoundSocket(sock, path)

    def _receive_queued(self, sock: socket.socket) -> list[tuple[bytes, bool]]:
        """What is queued now, up to batch_size records: (record, cut short)."""
        out: list[tuple[bytes, bool]] = []
        limit = self.config.max_record_bytes
        while len(out) < self.config.batch_size:
            try:
                data, _, flags, _ = sock.recvmsg(limit)
            except BlockingIOError:
                break
            out.append((data, bool(flags & socket.MSG_TRUNC)))
        return out

    def _emit(self, records: list[tuple[bytes, bool]]) -> None:
        first = self._received
        self._received += len(records)
        raws = [r for r, _ in records]
        flags = [("_record_truncated",) if cut else () for _, cut in records]
        keys = [f"{self._run_id}:{first + i}" for i in range(len(records))]
        self.ctx.emit(RawBatch(raws, keys, {}, sum(map(len, raws)), flags=flags))

    def restarting(self) -> None:
        self._restarting = True

    def hand_over(self) -> BoundSocket | None:
        bound, self._bound = self._bound, None
        return bound

    def take_over(self, handed: BoundSocket) -> None:
        if handed.path != self.config.path:  # the reload moved the socket: bound anew by run()
            handed.close()
            return
        self._bound = handed

    def close(self) -> None:
        if self._bound is not None:  # never ran after taking over, or kept for a successor that never came
            self._bound.close()
            self._bound = None

