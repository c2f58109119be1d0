"""A state_dir that moved while the agent was stopped, found at the start.

Earlier releases took relative paths from the folder of the config's symlink target; they are now taken
from the folder of the config's path as given (shipper.config.load_config). A relative `state_dir` in a
config read through a link was therefore elsewhere before: started on the new, empty one, every source
would read its inputs again from `read_from` without a word. The start is refused instead (exit 2,
naming both folders and what to do) while the earlier folder holds checkpoints of this config's sources
and the state_dir none. A state_dir changed by hand between two runs cannot be told from a first start:
docs/operations.md asks for an absolute one.
"""
from __future__ import annotations

import os
import sqlite3

from shipper.checkpoint_db import DB_FILE
from shipper.config import Config, Problem
from shipper.status import CheckpointsHeld, read_checkpoints


def moved_state_dir(config: Config) -> Problem | None:
    """The problem to refuse the start with, or None when the state_dir is where it was (or nothing was saved)."""
    earlier = config.earlier_state_dir
    if earlier is None or os.path.exists(os.path.join(config.state_dir, DB_FILE)):
        return None
    if not os.path.exists(os.path.join(earlier, DB_FILE)):
        return None
    ours = {s.name for s in config.sources}
    try:
        held = sorted(ours & set(read_checkpoints(earlier)))
        if not held:
            return None  # another agent's state: not this config's sources
        what = f"holds the checkpoints of source(s) {', '.join(held)}"
    except CheckpointsHeld as e:
        what = f"is in use by a running shipper (pid {e.named})"
    except sqlite3.Error as e:
        what = f"holds a checkpoint database (unreadable: {e})"
    return Problem(config.path, config.state_dir_line, "state_dir",
                   f"{config.state_dir} holds no checkpoints, but {earlier} {what}: the config is read through a "
                   f"symlink, and relative paths are taken from the folder of its path as given "
                   f"({config.base_dir}), no longer from the link's target (earlier releases); started here, every "
                   f"source would read its inputs again from read_from. With no agent running, move {earlier} to "
                   f"{config.state_dir}, or set state_dir to {earlier} (an absolute path); or remove {earlier} to "
                   "start over")
