"""The numbers and markers a tail scan decides with: how long a file must be missing before it is
gone, how long a tombstone or an out-of-scope checkpoint is kept, how long a file too short to tell
from a copy waits. Read at each use as `scan_rules.NAME` (tests and the torture harness set them).
"""
from __future__ import annotations

MISSING_SCANS = 2  # a file must be missing from this many scans in a row …
MISSING_SECONDS = 1.0  # … and for this long, before it is declared gone (renames race with scans)
TOMBSTONE_SECONDS = 3600.0
# … and only the newest this many of a family, and of the source in all (tombstones.py says why that is safe):
# bounded in time only, a rotation storm held one per rotated file for an hour (session 22's soak: 1,820).
TOMBSTONES_PER_FAMILY = 16
TOMBSTONES_PER_SOURCE = 1024
DELETED_GRACE = 2.0  # a deleted file we hold open is let go this long after it stopped growing
# Files a scan opens as it lists them (Prospector.hold_listed), beyond the descriptor budget for the
# scan's length; further ones are compared by their names, as before.
LISTED_OPEN_MAX = 64
FOUND_OUTSIDE_LOOKS = 64  # files compared to say where a content called lost is (its message only)
UNDECIDED_SECONDS = 10.0  # a file too short to be told from a known one waits this long, then is read
# A checkpoint no path matches any more is kept this long (wall clock, across restarts): a path taken
# out by a reload and put back within it goes on where it was; later it is a new file (read_from).
OUT_OF_SCOPE_SECONDS = 7 * 86400.0
MOVED_UNOPENED = "renamed during the scan that found it"  # (Loose.never_read) see Followed.unopened
STARTED_GLOB = "glob:"  # (after SEEN_PREFIX) a glob looked through once; families are absolute paths
