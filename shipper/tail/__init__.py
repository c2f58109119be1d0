"""Lossless file tailing: identity (identity.py), checkpoints (state.py), which files
(discovery.py), change notification (watcher.py), positioned reads (reader.py), line cutting
(lines.py), holding rotated files as they appear (holder.py), what the follower reports to its
source (events.py) and the follower that ties them together (tailer.py)."""
from shipper.tail.tailer import STARTED_GLOB, Chunk, Tailer

__all__ = ["Chunk", "Tailer", "STARTED_GLOB"]
