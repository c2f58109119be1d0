"""systemd's notify protocol (sd_notify) through the `sdnotify` package; a no-op without NOTIFY_SOCKET.

READY=1 once the config is loaded and the sources started, RELOADING=1/READY=1 around a reload,
STOPPING=1 on the way out, STATUS=<one line> whenever the summary changes, and WATCHDOG=1 pings
that the runner sends only while Pipeline.stalled() finds nothing wedged.
"""
from __future__ import annotations

import os
import time

import sdnotify

from shipper.secrets import redact


class Notifier:
    def __init__(self) -> None:
        self.enabled = bool(os.environ.get("NOTIFY_SOCKET"))
        self._sd = sdnotify.SystemdNotifier() if self.enabled else None
        self.watchdog_interval = _watchdog_interval()
        self._last_status: str | None = None
        self._last_ping = 0.0
        # Like sd_notify(unset_environment=1): children of the agent must not talk to systemd as us.
        os.environ.pop("NOTIFY_SOCKET", None)
        os.environ.pop("WATCHDOG_USEC", None)
        os.environ.pop("WATCHDOG_PID", None)

    def send(self, *lines: str) -> None:
        if self._sd is not None:
            # STATUS= carries config errors: no password from a dsn, and one line each (a newline
            # would start another assignment).
            self._sd.notify("\n".join(redact(line).replace("\n", "; ") for line in lines))

    def ready(self, status: str) -> None:
        self._last_status = status
        self.send("READY=1", f"STATUS={status}")

    def reloading(self) -> None:
        # MONOTONIC_USEC lets systemd ≥ 253 (Type=notify-reload) tie the message to this reload.
        self.send("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def stopping(self, status: str) -> None:
        self._last_status = status
        self.send("STOPPING=1", f"STATUS={status}")

    def status(self, status: str) -> None:
        if status != self._last_status:
            self._last_status = status
            self.send(f"STATUS={status}")

    def watchdog_due(self, now: float | None = None) -> bool:
        if self.watchdog_interval is None:
            return False
        now = time.monotonic() if now is None else now
        return now - self._last_ping >= self.watchdog_interval

    def ping(self, now: float | None = None) -> None:
        self._last_ping = time.monotonic() if now is None else now
        self.send("WATCHDOG=1")


def _watchdog_interval() -> float | None:
    """Half of WatchdogSec (what sd_watchdog_enabled() recommends), or None when no watchdog is set."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or not os.environ.get("NOTIFY_SOCKET"):
        return None
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    try:
        return max(0.05, int(usec) / 1e6 / 2)
    except ValueError:
        return None
