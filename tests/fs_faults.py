"""Real filesystem faults for the tests: a small tmpfs that fills up, then frees space again; a small ext4
that is frozen (fsfreeze) and thawed; one that turns read-only on an error (errors=remount-ro).

Mounting needs root (the tests run as root in CI and here); nothing is simulated: the kernel
itself answers ENOSPC, short writes included.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import threading
import time
from pathlib import Path


@contextlib.contextmanager
def small_tmpfs(path: Path, size_kib: int, inodes: int | None = None):
    """path: a tmpfs of `size_kib` KiB (and of `inodes` inodes at most, when given), unmounted at the end."""
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size_kib}k,mode=0755" + (f",nr_inodes={inodes}" if inodes else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        unmount(path)


def unmount(path: Path) -> None:
    """Unmount path, also when something still holds a file there (an agent the failing test left running):
    a plain umount first (it releases a loop device at once), a lazy one if that is refused as busy. A mount
    left behind outlives the run under /tmp/pytest-of-root (tests/conftest.py names the test that leaves one)."""
    if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextlib.contextmanager
def ext4_image(folder: Path, image: Path, seed: str | None = None):
    """folder: a new 16 MiB ext4 filesystem in the file image (a loop mount); unmounted at the end. `seed` (a
    UUID): its UUID and directory hash seed, which otherwise mkfs draws at random (they decide the order a folder
    lists its files in and the block group a top folder's inodes come from: the torture harness replays exactly)."""
    subprocess.run(["truncate", "-s", "16M", str(image)], check=True)
    fixed = ["-U", seed, "-E", f"hash_seed={seed}"] if seed else []
    subprocess.run(["mkfs.ext4", "-q", "-F", *fixed, str(image)], check=True)
    subprocess.run(["mount", "-o", "loop", str(image), str(folder)], check=True)
    try:
        yield folder
    finally:
        unmount(folder)


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


@contextlib.contextmanager
def kept_full(fs: Path):
    """The filesystem filled (fill), and kept full while the block runs: a thread takes every byte freed at once, as
    another program writing there does (SQLite's WAL truncated, rows deleted: the agent's own frees give it no
    room). The filler is removed at the end: the space is back."""
    filler = fill(fs, 0)
    done = threading.Event()

    def take_freed() -> None:
        with open(filler, "ab", buffering=0) as f:
            while not done.wait(0.01):
                try:
                    while f.write(b"\0" * 4096):
                        pass
                except OSError:  # ENOSPC: full again
                    pass

    thread = threading.Thread(target=take_freed, daemon=True)
    thread.start()
    try:
        yield filler
    finally:
        done.set()
        thread.join()
        filler.unlink(missing_ok=True)


@contextlib.contextmanager
def ext4_folder(tmp_path: Path):
    """tmp_path/ext4: a small ext4 filesystem of its own (a loop mount), whatever the test machine's /tmp is:
    the tests of inode reuse need ext4's way of giving a freed inode to the next file made."""
    folder = tmp_path / "ext4"
    folder.mkdir()
    with ext4_image(folder, tmp_path / "ext4.img"):
        yield folder


def remount_read_only(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)


@contextlib.contextmanager
def frozen_able_state(tmp_path):
    """tmp_path/state on its own small ext4 filesystem; yields freeze(bool). Thawed and unmounted at the end."""
    state = tmp_path / "state"
    state.mkdir()
    frozen = [False]

    def freeze(on: bool) -> None:
        subprocess.run(["fsfreeze", "-f" if on else "-u", str(state)], check=True)
        frozen[0] = on

    with ext4_image(state, tmp_path / "state.ext4"):
        try:
            yield freeze
        finally:
            if frozen[0]:
                subprocess.run(["fsfreeze", "-u", str(state)], check=False)
            wait_lock_free(state, 60)


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


@contextlib.contextmanager
def read_only_on_error_state(tmp_path):
    """tmp_path/state on its own small ext4 mounted with errors=remount-ro; yields (fail, repair). fail():
    the kernel takes an error on it (ext4's trigger_fs_error) and turns it read-only, whoever has files open
    for writing (a `mount -o remount,ro` would be refused while they do); repair(): unmounted, e2fsck'd and
    mounted read-write again, as an operator would (nothing may hold a file open on it). Unmounted at the end."""
    state = tmp_path / "state"
    state.mkdir()
    image = tmp_path / "state.ext4"
    subprocess.run(["truncate", "-s", "16M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)

    def mount() -> None:
        subprocess.run(["mount", "-o", "loop,errors=remount-ro", str(image), str(state)], check=True)

    def fail() -> None:
        device = subprocess.run(["findmnt", "-n", "-o", "SOURCE", str(state)], capture_output=True, text=True,
                                check=True).stdout.strip()
        with open(f"/sys/fs/ext4/{os.path.basename(device)}/trigger_fs_error", "w") as f:
            f.write("a test's error: the filesystem turns read-only")

    def repair() -> None:
        subprocess.run(["umount", str(state)], check=True)
        fsck = subprocess.run(["e2fsck", "-f", "-y", str(image)], capture_output=True)
        assert fsck.returncode in (0, 1), fsck.stdout.decode() + fsck.stderr.decode()  # 1: errors corrected
        mount()

    mount()
    try:
        yield fail, repair
    finally:
        unmount(state)
