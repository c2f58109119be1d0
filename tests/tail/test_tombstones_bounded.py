"""Issue 23: tombstones (contents read to their end and gone) are bounded in count, not only in time:
a rotation storm held one per rotated file for an hour (session 22's soak: 1,820 alive, ~+20 MiB an
hour). Real files, real renames, the real Tailer; every line counted."""
from __future__ import annotations

import gzip
import logging
import os

import pytest

from shipper.tail import scan_rules, tombstones
from tests.tail.conftest import Follower, assert_exactly_once

pytestmark = pytest.mark.slow  # (tens of seconds: `make test` hands it out with the slow files, early)


def _tombstones(fol: Follower) -> int:
    return sum(1 for lo in fol.tailer.loose.values() if lo.gone_at is not None)


def _saved_tombstones(fol: Follower) -> list[str]:
    return [k for k, v in fol.state.items() if k.startswith("f:") and v.get("gone")]


def _rotate(live: str, backups: int) -> None:
    """Log4j 1.2's order: the oldest backup deleted, each renamed one up, the live file renamed to .1."""
    oldest = f"{live}.{backups}"
    if os.path.exists(oldest):
        os.unlink(oldest)
    for i in range(backups - 1, 0, -1):
        if os.path.exists(f"{live}.{i}"):
            os.rename(f"{live}.{i}", f"{live}.{i + 1}")
    os.rename(live, f"{live}.1")


def _storm(tmp_path, rounds: int, families: int = 4, backups: int = 2):
    d = tmp_path / "logs"
    d.mkdir()
    lives = [str(d / f"app{i}.log") for i in range(families)]
    fol = Follower([d / "*.log"], tmp_path)
    seq = 0
    for r in range(rounds):
        for live in lives:
            with open(live, "ab") as f:
                for _ in range(2):
                    f.write(b'{"seq": %d}\n' % seq)
                    seq += 1
        fol.poll()
        for live in lives:
            _rotate(live, backups)
        fol.poll(2)
        yield fol, seq, r


def test_a_rotation_storm_keeps_tombstones_at_the_bound_and_every_line_once(tmp_path, monkeypatch, caplog):
    """4 families rotated by rename 250 times each (2 backups: the oldest deleted), scanned between:
    1,000 rotations, ~990 contents read to their end and deleted. Their tombstones stay at the newest
    TOMBSTONES_PER_FAMILY of each family, in memory and in the checkpoint; the forgetting is said once
    (info); every line is read once, none lost. (On main's code all ~990 were kept, for an hour.)"""
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    monkeypatch.setattr(scan_rules, "DELETED_GRACE", 0.0)
    monkeypatch.setattr(tombstones, "_TOLD", set())  # (said once per source and process: this test's)
    caplog.set_level(logging.INFO, logger="shipper.tail")
    bound = 4 * scan_rules.TOMBSTONES_PER_FAMILY
    most = 0
    for step in _storm(tmp_path, rounds=250):
        fol, seq, r = step
        most = max(most, _tombstones(fol))
        assert _tombstones(fol) <= bound, f"round {r}: {_tombstones(fol)} tombstones held, over {bound}"
    fol.poll(3)
    assert_exactly_once(fol.seqs(), range(seq))
    assert fol.lost == 0
    assert most == bound == _tombstones(fol) == fol.tailer.tombstones
    assert len(_saved_tombstones(fol)) == bound  # the checkpoint keeps the same bound
    per_family: dict[str, int] = {}
    for lo in fol.tailer.loose.values():
        per_family[lo.state.family] = per_family.get(lo.state.family, 0) + 1
    assert sorted(per_family.values()) == [scan_rules.TOMBSTONES_PER_FAMILY] * 4
    told = [r for r in caplog.records if "tombstones forgotten" in r.getMessage()]
    assert len(told) == 1 and told[0].levelno == logging.INFO  # said once, not per file

    # A restart does not bring the forgotten ones back (they left the checkpoint with their memory), and the
    # restarted source (a reload restarts one) does not say the forgetting again.
    fol.restart()
    assert _tombstones(fol) == bound
    fol.poll(2)
    assert _tombstones(fol) == bound and fol.lost == 0
    live = str(tmp_path / "logs" / "app0.log")
    for _ in range(3):
        with open(live, "ab") as f:
            f.write(b'{"seq": %d}\n' % seq)
        seq += 1
        fol.poll()
        _rotate(live, 2)
        fol.poll(2)
    assert _tombstones(fol) == bound and fol.lost == 0
    assert_exactly_once(fol.seqs(), range(seq))
    assert len([r for r in caplog.records if "tombstones forgotten" in r.getMessage()]) == 1


def test_the_source_keeps_at_most_its_bound_the_oldest_go_first(tmp_path, monkeypatch):
    """Many families rotating: beyond TOMBSTONES_PER_SOURCE in all, the oldest tombstones of any family go
    first (the newest of each family are those whose copies may still appear)."""
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    monkeypatch.setattr(scan_rules, "DELETED_GRACE", 0.0)
    monkeypatch.setattr(scan_rules, "TOMBSTONES_PER_SOURCE", 10)
    for step in _storm(tmp_path, rounds=12, families=6, backups=1):
        fol, seq, r = step
        assert _tombstones(fol) <= 10, f"round {r}"
    fol.poll(3)
    assert_exactly_once(fol.seqs(), range(seq))
    assert fol.lost == 0 and _tombstones(fol) == 10 == len(_saved_tombstones(fol))
    kept = sorted(lo.state.gone for lo in fol.tailer.loose.values() if lo.gone_at is not None)
    gone_walls = sorted(fol.state[k]["gone"] for k in _saved_tombstones(fol))
    assert kept == gone_walls
    # The newest were kept: every family's last deleted content (the newest 6 of the 66 made) is there.
    assert {lo.state.family for lo in fol.tailer.loose.values() if lo.gone_at is not None} == {
        str(tmp_path / "logs" / f"app{i}.log") for i in range(6)}


def test_a_checkpoint_over_the_bound_is_compacted_at_the_first_scan(tmp_path, monkeypatch):
    """A checkpoint saved with more tombstones than the bound (by a version that kept them an hour, or
    under a higher bound) is brought to the bound at the first scan: in memory and in the checkpoint."""
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    monkeypatch.setattr(scan_rules, "DELETED_GRACE", 0.0)
    monkeypatch.setattr(scan_rules, "TOMBSTONES_PER_FAMILY", 1000)
    *_, (fol, seq, _r) = _storm(tmp_path, rounds=30, families=2, backups=1)
    fol.poll(3)
    assert _tombstones(fol) == len(_saved_tombstones(fol)) >= 50
    monkeypatch.setattr(scan_rules, "TOMBSTONES_PER_FAMILY", 5)
    fol.restart()
    fol.poll()
    assert _tombstones(fol) == 10 == len(_saved_tombstones(fol))
    assert_exactly_once(fol.seqs(), range(seq))
    assert fol.lost == 0


def test_a_forgotten_tombstones_compressed_copy_is_read_as_a_named_repeat(tmp_path, monkeypatch, caplog):
    """A compressed copy of part of a content whose tombstone was forgotten (more rotations of its family
    than it keeps), appearing later (restored by hand): nothing can prove it was read, so it is read as a
    new file — and said to be a possible repeat, naming it. A copy of a content whose tombstone is kept is
    still known: not read again; so is (session 25) one holding exactly a forgotten content, by the
    fingerprint kept of it (tombstones.end_of_forgotten), said at info."""
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    monkeypatch.setattr(scan_rules, "DELETED_GRACE", 0.0)
    monkeypatch.setattr(scan_rules, "TOMBSTONES_PER_FAMILY", 2)
    caplog.set_level(logging.INFO, logger="shipper.tail")
    d = tmp_path / "logs"
    d.mkdir()
    live = str(d / "app.log")
    fol = Follower([d / "app.log*"], tmp_path)
    contents: list[bytes] = []
    seq = 0
    for _ in range(6):
        with open(live, "ab") as f:
            for _ in range(3):
                f.write(b'{"seq": %d, "pad": "%s"}\n' % (seq, b"x" * 40))
                seq += 1
        fol.poll()
        contents.append(open(live, "rb").read())
        _rotate(live, 1)
        fol.poll(3)
    assert_exactly_once(fol.seqs(), range(seq)) and fol.lost == 0
    assert _tombstones(fol) == 2
    caplog.clear()

    kept = d / "app.log.2.gz"  # the newest deleted content (the 5th): its tombstone is kept
    kept.write_bytes(gzip.compress(contents[4]))
    os.utime(kept, (os.stat(kept).st_atime, os.stat(kept).st_mtime - 60))
    fol.poll(3)
    assert_exactly_once(fol.seqs(), range(seq))  # known: not read again
    assert not [r for r in caplog.records if "possible repeat" in r.getMessage()]

    old = d / "app.log.3.gz"  # the first content: its tombstone was forgotten
    old.write_bytes(gzip.compress(contents[0]))
    os.utime(old, (os.stat(old).st_atime, os.stat(old).st_mtime - 60))  # gzip keeps the content's mtime
    fol.poll(3)
    assert_exactly_once(fol.seqs(), range(seq))  # known by its fingerprint: not read again
    known = [r for r in caplog.records if "tombstone was forgotten" in r.getMessage()]
    assert len(known) == 1 and str(old) in known[0].getMessage() and "not read again" in known[0].getMessage()

    part = d / "app.log.4.gz"  # the first two lines of the second content (forgotten too): no fingerprint proves it
    part.write_bytes(gzip.compress(b"".join(contents[1].splitlines(keepends=True)[:2])))
    os.utime(part, (os.stat(part).st_atime, os.stat(part).st_mtime - 60))
    fol.poll(3)
    seqs = fol.seqs()
    assert sorted(seqs[-2:]) == [3, 4] and len(seqs) == seq + 2  # read again, whole …
    named = [r for r in caplog.records if "possible repeat" in r.getMessage()]
    assert len(named) == 1 and str(part) in named[0].getMessage()  # … and said, naming it
    assert named[0].levelno == logging.WARNING and fol.lost == 0


def test_where_each_rotated_file_was_found_is_not_kept_once_saved_or_forgotten(tmp_path, monkeypatch):
    """The position each file identified in this run was found at (Prospector.found: what a stop with an output down
    saves a file never saved from) is let go once the file's state is saved, or forgotten: a rotation storm kept one
    per rotated file, ~0.16-0.3 KiB each, until 4,096 of them (on main's code: ~1,000 after this storm)."""
    from shipper.tail import prospector

    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    monkeypatch.setattr(scan_rules, "DELETED_GRACE", 0.0)
    for step in _storm(tmp_path, rounds=250):
        fol, seq, r = step
        if r == 0:  # (the source's saved checkpoint, as the file source gives it: what the Follower committed)
            fol.tailer.prospector.saved = fol.state.get
        assert len(fol.tailer.prospector.found) <= prospector.FOUND_LOOKED_AT + 8, f"round {r}"
    assert_exactly_once(fol.seqs(), range(seq))
    assert fol.lost == 0
    # Without a saved checkpoint to tell by, only the forgotten ones go: what is left is the states still known.
    fol.tailer.prospector.saved = None
    for k in _saved_tombstones(fol)[:3]:
        fol.tailer.prospector.found.remember(k, (0, "", []))
    gone = [f"f:{i:016x}" for i in range(prospector.FOUND_LOOKED_AT + 1)]  # (states forgotten since)
    for k in gone:
        fol.tailer.prospector.found.remember(k, (0, "", []))
    fol.poll()
    found = set(fol.tailer.prospector.found.keys())
    assert not found & set(gone) and set(_saved_tombstones(fol)[:3]) <= found
