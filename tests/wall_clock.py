"""A wall clock that steps, for one process tree: an LD_PRELOAD library (compiled here with the system's C
compiler) that adds the number of seconds written in a file to CLOCK_REALTIME (`time.time()`, `datetime.now()`,
gettimeofday, time) and leaves CLOCK_MONOTONIC alone, as a real clock step (NTP, an operator's `date -s`, a VM
resumed from a snapshot) does. libfaketime cannot be used: with its monotonic clock left real, Python's
`time.sleep` fails with EINVAL under it (libfaketime 0.9.10)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SOURCE = r"""
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static double offset = 0;
static long long last_read = -1;

static void refresh(void) {  /* the offset file is read again at most every 100 ms */
    struct timespec now;
    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &now);
    long long ns = now.tv_sec * 1000000000LL + now.tv_nsec;
    if (last_read >= 0 && ns - last_read < 100000000LL) return;
    last_read = ns;
    const char *p = getenv("WALL_CLOCK_STEP_FILE");
    FILE *f = p ? fopen(p, "r") : NULL;
    if (!f) return;
    double v;
    if (fscanf(f, "%lf", &v) == 1) offset = v;
    fclose(f);
}

int clock_gettime(clockid_t clk, struct timespec *ts) {
    int r = syscall(SYS_clock_gettime, clk, ts);
    if (r == 0 && (clk == CLOCK_REALTIME || clk == CLOCK_REALTIME_COARSE)) {
        refresh();
        long long ns = ts->tv_sec * 1000000000LL + ts->tv_nsec + (long long)(offset * 1e9);
        ts->tv_sec = ns / 1000000000LL;
        ts->tv_nsec = ns % 1000000000LL;
    }
    return r;
}

int gettimeofday(struct timeval *tv, void *tz) {
    struct timespec ts;
    int r = clock_gettime(CLOCK_REALTIME, &ts);
    if (r == 0 && tv) { tv->tv_sec = ts.tv_sec; tv->tv_usec = ts.tv_nsec / 1000; }
    return r;
}

time_t time(time_t *t) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (t) *t = ts.tv_sec;
    return ts.tv_sec;
}
"""


class SteppedClock:
    """`env` runs a process whose wall clock is `step(seconds)` away from the real one (0 at first)."""

    def __init__(self, tmp: Path):
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            pytest.fail("no C compiler to build the wall clock shim (apt-get install gcc)")
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / "wall_clock.c").write_text(SOURCE)
        self.library = tmp / "wall_clock.so"
        subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", str(self.library), str(tmp / "wall_clock.c")], check=True)
        self.file = tmp / "wall_clock_step"
        self.step(0)
        self.env = dict(os.environ, LD_PRELOAD=str(self.library), WALL_CLOCK_STEP_FILE=str(self.file))

    def step(self, seconds: float) -> None:
        """Processes under `env` see it within 100 ms."""
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(f"{seconds}\n")
        os.replace(tmp, self.file)
