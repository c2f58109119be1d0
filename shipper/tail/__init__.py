"""Lossless file tailing, one concern per module (docs/design.md, "The hard part"): which files
(discovery.py), change notification (watcher.py), holding rotated files as they appear (holder.py),
identity (identity.py) and the proofs a scan decides by (matching.py), the scan and its decisions
(prospector.py; by file: copies.py, gone.py, truncation.py, letting_go.py, scan_rules.py),
the follower that ties them together (tailer.py), reading one file (harvester.py,
reader.py, lines.py, keys.py), the records of files (followed.py), checkpoints (state.py,
checkpoint_queue.py), descriptors (descriptors.py), losses (losses.py) and what the follower reports to its source (events.py).

The package imports none of them itself: a parser reaches tail.keys and tail.lines through shipper.api, and
with them it would import the whole follower (and pydantic's schema of its states), in every parse worker too."""
