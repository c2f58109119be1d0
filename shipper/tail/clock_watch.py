"""The process stopped or not run, seen from inside: SIGCONT, and a clock watch (shipper/tail/attention.py's lapses).

A process stopped (SIGSTOP, a debugger) is told by SIGCONT, whose handler (the agent's runner) calls continued(). One
not run for a while without a signal — a cgroup freeze (`systemctl freeze`, `docker pause`, a paused pod) or a host
starving it of CPU — is told by the clock watch: a thread that wakes every WATCH_SECONDS and finds itself late, on
the real clock (its waits are real waits, as the watcher's: the torture harness's driven clocks never start it).
While no line has been read for IDLE_AFTER seconds it wakes every IDLE_WATCH_SECONDS: an idle agent's wake-ups stay
few, and a freeze while nothing is written loses nothing. After a stop or a freeze it calls the wakers the file
sources added, so that they attest their files at once (attention.Lapses.attest).
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from shipper.tail import clock

# A span of this much or more in which the process was not run (or its reader held) is a lapse of attention: a
# second is well past the latency of a look under load, inside which a write and the cut are not told apart anyway.
LAPSE_SECONDS = 1.0
# The watch's period: a freeze of LAPSE_SECONDS + WATCH_SECONDS or more always makes one of its wakes that late.
WATCH_SECONDS = 1.0
IDLE_AFTER = 5.0  # … once this long has passed without a line read, its period is
IDLE_WATCH_SECONDS = 10.0


class Watch:
    """What was seen (one a process), on the tailer's clock."""
    running = False
    period = WATCH_SECONDS
    ticked_at = float("-inf")  # the watch's last wake
    late_at = float("-inf")  # the end of the latest span the process was not run
    late_for = 0.0  # its length less the period, seconds
    continued_at = float("-inf")  # when the process was last continued after a stop (SIGCONT)
    read_at = float("-inf")  # (the real clock) when lines were last handed over: read()
    quicken = threading.Event()  # set when lines are read while the watch keeps its idle pace
    wakers: list[Callable[[], None]] = []


def continued() -> None:
    """The process was continued after being stopped (the agent's SIGCONT handler calls it: a note, no more)."""
    Watch.continued_at = clock.monotonic()


def read() -> None:
    """Lines were read (a hand-over): the watch keeps its one-second pace for IDLE_AFTER seconds."""
    Watch.read_at = time.monotonic()
    if Watch.period != WATCH_SECONDS and not Watch.quicken.is_set():
        Watch.quicken.set()


def add_waker(wake: Callable[[], None]) -> None:
    """`wake` (thread-safe) is called when the watch sees a stop or a freeze ended: the caller's tailer should attest
    its files at once, before a quiet one's later cut is taken for the lapse's."""
    Watch.wakers.append(wake)


def remove_waker(wake: Callable[[], None]) -> None:
    if wake in Watch.wakers:
        Watch.wakers.remove(wake)


def late_now() -> bool:
    """Has the watch missed its wake by LAPSE_SECONDS (a freeze ending now, before it ran)?"""
    return Watch.running and clock.monotonic() - Watch.ticked_at >= Watch.period + LAPSE_SECONDS


def start_watch() -> None:
    """Start the clock watch (the agent's runner does, once)."""
    if Watch.running:
        return
    Watch.running, Watch.ticked_at = True, clock.monotonic()
    threading.Thread(target=_watch, name="clock-watch", daemon=True).start()


def _watch() -> None:
    told = Watch.continued_at
    while True:
        before = time.monotonic()
        Watch.period = WATCH_SECONDS if before - Watch.read_at < IDLE_AFTER else IDLE_WATCH_SECONDS
        Watch.quicken.wait(Watch.period)
        Watch.quicken.clear()
        late = time.monotonic() - before - Watch.period  # (woken early by read(): negative)
        if late >= LAPSE_SECONDS:
            Watch.late_for, Watch.late_at = late, clock.monotonic()
        Watch.ticked_at = clock.monotonic()
        if late >= LAPSE_SECONDS or Watch.continued_at != told:
            told = Watch.continued_at  # (the SIGCONT handler only notes it: waking from a signal handler may deadlock)
            for wake in list(Watch.wakers):
                wake()
