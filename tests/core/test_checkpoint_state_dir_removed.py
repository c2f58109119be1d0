"""The checkpoint store when its state_dir is removed under it (rm -rf, a tmpfiles cleaner): made
again with the lock taken first and the checkpoints it held; when it cannot be made again, a commit
fails (the caller retries, /health 503) instead of writing into a deleted file."""
from __future__ import annotations

import os
import shutil

import pytest

from shipper.checkpoint import CheckpointStore, StateDirError, StateDirGone, lock_state_dir


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
