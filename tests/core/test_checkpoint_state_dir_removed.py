"""The checkpoint store when its state_dir is removed under it (rm -rf, a tmpfiles cleaner): made
again with the lock taken first and the checkpoints it held; when it cannot be made again, a commit
fails (the caller retries, /health 503) instead of writing into a deleted file."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from multiprocessing.reduction import recv_handle
from pathlib import Path

import pytest

from shipper.checkpoint import CheckpointStore, StateDirError, StateDirGone, lock_state_dir
from shipper.checkpoint_db import StateDirInUse
from tests.other_user_locks import FLOCK_EXCLUSIVE, locked_by_nobody, passable_folder
from tests.support import wait

ROOT = Path(__file__).resolve().parents[2]


def test_removed_state_dir_is_made_again_with_its_lock_and_checkpoints(tmp_path):
    state = tmp_path / "state"
    store = CheckpointStore(str(state))
    try:
        store.update("app", {"a": {"offset": 10}, "b": {"offset": 20}})
        shutil.rmtree(state)
        assert store.ensure_present() is True
        assert store.ensure_present() is False  # once
        assert (state / "checkpoints.sqlite").exists()
        with pytest.raises(StateDirError, match="in use by another shipper"):
            lock_state_dir(str(state))  # a second agent is refused again
        store.update("app", {"b": {"offset": 30}})
        reread = store.load("app")
    finally:
        store.close()
    assert reread == {"a": {"offset": 10}, "b": {"offset": 30}}
    again = CheckpointStore(str(state))  # what a restart finds on disk
    try:
        assert again.load("app") == {"a": {"offset": 10}, "b": {"offset": 30}}
    finally:
        again.close()


def test_removed_state_dir_that_cannot_be_made_again_fails_the_commit(tmp_path):
    state = tmp_path / "state"
    store = CheckpointStore(str(state))
    try:
        store.update("app", {"a": {"offset": 10}})
        shutil.rmtree(state)
        state.write_text("not a folder")  # in its place: the state_dir cannot be made again
        with pytest.raises(StateDirGone, match="removed under the running agent"):
            store.update("app", {"a": {"offset": 20}})
        with pytest.raises(StateDirGone):
            store.ensure_present()
        state.unlink()  # the way is free again: the next commit makes it and saves
        store.update("app", {"a": {"offset": 20}})
        assert store.load("app") == {"a": {"offset": 20}}
    finally:
        store.close()


def test_a_second_store_is_refused_before_the_removed_state_dir_is_made_again(tmp_path):
    """In the second between an `rm -rf` of the state_dir and the running agent's check, its lock file is
    gone: a second agent found the way free and shipped everything again. The state_dir's claim does not
    live in the directory."""
    state = tmp_path / "state"
    store = CheckpointStore(str(state))
    try:
        store.update("app", {"a": {"offset": 10}})
        shutil.rmtree(state)
        with pytest.raises(StateDirError, match=rf"in use by another shipper \(pid {os.getpid()}\)"):
            CheckpointStore(str(state))  # a second agent, before the first's check
        assert not state.exists()  # (the refused one made nothing there)
        assert store.ensure_present() is True  # the running one makes it again, with its checkpoints
        assert store.load("app") == {"a": {"offset": 10}}
    finally:
        store.close()
    again = CheckpointStore(str(state))  # the claim ends with the writer: a later agent starts
    again.close()


def test_the_state_dir_named_through_a_symlink_is_claimed_under_both_names(tmp_path):
    real = tmp_path / "real"
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    real.mkdir()
    store = CheckpointStore(str(link))
    try:
        link.unlink()  # (rm -rf of the link: the directory stays, the name is free)
        with pytest.raises(StateDirError, match="in use by another shipper"):
            CheckpointStore(str(link))
        with pytest.raises(StateDirError, match="in use by another shipper"):
            CheckpointStore(str(real))
    finally:
        store.close()


_SECOND = ("import sys\nfrom shipper.checkpoint_db import StateDirInUse, lock_state_dir\n"
           "try:\n    lock_state_dir(sys.argv[1])\nexcept StateDirInUse as e:\n    print('refused', e.holder, e)\n"
           "else:\n    print('locked')")


def _second_lock(state_dir: str, bind: tuple[Path, Path] | None = None) -> str:
    """What a second agent's lock_state_dir on `state_dir` says, in a process of its own (`bind`: with the first folder
    bind-mounted on the second in a mount namespace of its own): "locked", or "refused <holder's pid> <why>"."""
    code = ["python3", "-I", "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r})\n{_SECOND}", state_dir]
    if bind is not None:
        code = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                'mount --bind "$0" "$1" && shift && exec "$@"', str(bind[0]), str(bind[1]), *code]
    done = subprocess.run(code, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-800:]
    return done.stdout.strip()


@pytest.mark.parametrize("reached", ["as_named", "through_a_symlinked_parent", "through_a_bind_mounted_parent",
                                     "its_files_alone_removed"])
def test_a_second_lock_is_refused_while_the_removed_lock_file_is_held(tmp_path, reached):
    """exam29a: in the seconds before the running agent makes a removed state_dir again only its abstract name kept a
    second agent out, and that name can be squatted by another user or be another network namespace's: the second
    agent took a new lock and shipped every event again. The running agent still holds its lock on the removed file:
    the second finds it, whichever path it reaches the state_dir by."""
    parent = tmp_path / "var"
    state = parent / "state"
    state.mkdir(parents=True)
    fd = lock_state_dir(str(state))  # the running agent's (its pid written: this process's)
    try:
        if reached == "its_files_alone_removed":  # (a cleaner, or a state_dir that is a mount point: rm -rf keeps it)
            for f in state.iterdir():
                f.unlink()
        else:
            shutil.rmtree(state)
        if reached == "through_a_symlinked_parent":
            (tmp_path / "link").symlink_to(parent, target_is_directory=True)
            said = _second_lock(str(tmp_path / "link" / "state"))
        elif reached == "through_a_bind_mounted_parent":
            (tmp_path / "mnt").mkdir()
            said = _second_lock(str(tmp_path / "mnt" / "state"), bind=(parent, tmp_path / "mnt"))
        else:
            said = _second_lock(str(state))
        assert said.startswith(f"refused {os.getpid()} "), said
        assert "state_dir was removed under it" in said
        # The refused one let its new lock go: the running agent takes it when it makes its state_dir again (its own
        # removed lock left out), and ships on.
        again = lock_state_dir(str(state), ours=(os.fstat(fd).st_dev, os.fstat(fd).st_ino))
        os.close(again)
        with pytest.raises(StateDirInUse):
            os.close(lock_state_dir(str(state)))  # (without it left out: held by this process, refused)
    finally:
        os.close(fd)
    assert _second_lock(str(state)) == "locked"  # the removed lock let go: nothing keeps a next agent out


def test_a_removed_lock_file_held_by_another_user_keeps_no_agent_out():
    """A removed lock file held by a process of another user (a squatter that opened an earlier release's 0644 lock
    file) is judged as a live one is (_squatted): it keeps nobody out."""
    with passable_folder("removed-lock-") as folder:
        state = folder / "state"
        state.mkdir()
        (state / "shipper.lock").write_text("1\n")
        (state / "shipper.lock").chmod(0o644)
        with locked_by_nobody(state / "shipper.lock", FLOCK_EXCLUSIVE) as took:
            assert took == "locked"
            shutil.rmtree(state)
            state.mkdir()
            assert _second_lock(str(state)) == "locked"


def test_a_removed_lock_file_held_by_an_ended_agents_writer_keeps_no_agent_out(tmp_path):
    """A checkpoint writer whose agent ended (left in a write on a frozen filesystem until the thaw: its parent is init
    now) holding the removed lock makes nothing again: the next agent starts on the state_dir made anew."""
    state = tmp_path / "state"
    state.mkdir()
    writer = ("import fcntl, os, sys, time\nfd = os.open(sys.argv[2], os.O_RDWR | os.O_CREAT)\n"
              "fcntl.flock(fd, fcntl.LOCK_EX)\nos.write(fd, sys.argv[4].encode())\ntime.sleep(120)")
    lock = str(state / "shipper.lock")
    # Its command line as a writer's: <python> -c <main> …/checkpoint_db.py <fd> <state_dir> <agent's pid>; started by
    # a shell that ends at once (the agent that ended).
    started = subprocess.run(["sh", "-c", 'python3 -c "$0" /x/checkpoint_db.py "$1" "$2" "$3" >/dev/null 2>&1 & echo $!',
                              writer, lock, str(state), "999999"], capture_output=True, text=True, timeout=30)
    pid = int(started.stdout.split()[0])
    try:
        assert wait(lambda: (state / "shipper.lock").exists() and (state / "shipper.lock").read_text() == "999999", 30)
        shutil.rmtree(state)
        state.mkdir()
        assert _second_lock(str(state)) == "locked"
    finally:
        os.kill(pid, 9)


def test_a_removed_lock_handed_by_a_writer_that_ended_is_found_in_its_agent(tmp_path):
    """The lock a writer took and handed to its agent before it ended (killed, replaced) is listed in /proc/locks under
    the writer's pid, which no longer holds it (ended, or given to another process since): the agent holding it is
    found among every process."""
    state = tmp_path / "state"
    state.mkdir()
    ours, theirs = socket.socketpair()
    with ours, theirs:
        taker = ("import fcntl, os, socket, sys\nfrom multiprocessing.reduction import send_handle\n"
                 "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\nfcntl.flock(fd, fcntl.LOCK_EX)\n"
                 "os.write(fd, sys.argv[3].encode())\n"
                 "send_handle(socket.socket(fileno=int(sys.argv[2])), fd, int(sys.argv[3]))")
        subprocess.run([sys.executable, "-c", taker, str(state / "shipper.lock"), str(theirs.fileno()),
                        str(os.getpid())], pass_fds=[theirs.fileno()], check=True, timeout=30)
        fd = recv_handle(ours)  # (the writer ended: this process, its agent, holds the lock)
    try:
        shutil.rmtree(state)
        said = _second_lock(str(state))
        assert said.startswith(f"refused {os.getpid()} "), said
    finally:
        os.close(fd)
