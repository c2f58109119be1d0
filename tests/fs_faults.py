"""Real filesystem faults for the tests: a small tmpfs that fills up, then frees space again; a small ext4
that is frozen (fsfreeze) and thawed.

Mounting needs root (the tests run as root in CI and here); nothing is simulated: the kernel
itself answers ENOSPC, short writes included.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import time
from pathlib import Path


@contextlib.contextmanager
def small_tmpfs(path: Path, size_kib: int):
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0755", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(fs: Path, leave: int = 0) -> Path:
    """Fill the filesystem with one file until only about `leave` bytes (rounded to pages) remain."""
    filler = fs / ".filler"
    with open(filler, "ab") as f:
        while True:
            st = os.statvfs(fs)
            free = st.f_bavail * st.f_frsize
            if free <= leave:
                break
            try:
                f.write(b"\0" * min(free - leave, 1 << 20))
                f.flush()
            except OSError:
                break
    return filler


def remount_read_only(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)


@contextlib.contextmanager
def frozen_able_state(tmp_path):
    """tmp_path/state on its own small ext4 filesystem; yields freeze(bool). Thawed and unmounted at the end."""
    state = tmp_path / "state"
    state.mkdir()
    image = tmp_path / "state.ext4"
    subprocess.run(["truncate", "-s", "16M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
    subprocess.run(["mount", "-o", "loop", str(image), str(state)], check=True)
    frozen = [False]

    def freeze(on: bool) -> None:
        subprocess.run(["fsfreeze", "-f" if on else "-u", str(state)], check=True)
        frozen[0] = on

    try:
        yield freeze
    finally:
        if frozen[0]:
            subprocess.run(["fsfreeze", "-u", str(state)], check=False)
        wait_lock_free(state, 60)
        subprocess.run(["umount", str(state)], check=False)


def lock_free(state) -> bool:
    """No process holds the state_dir's lock (the writer left behind ended after the thaw)."""
    try:
        fd = os.open(state / "shipper.lock", os.O_RDWR)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def wait_lock_free(state, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not lock_free(state) and time.monotonic() < deadline:
        time.sleep(0.1)

