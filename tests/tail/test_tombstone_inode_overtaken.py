"""A new live file given the inode of a tombstone (a content read to its end and gone: ext4 hands a freed inode to
the next file at once), listed by a scan and renamed by the rotation that overtook it before its bytes were compared,
then deleted by the next rotation before the next scan (torture seed 1268, 60 steps, `--overtaken`: it failed in
about one run of 150 under load, when the inode numbers met so). The tombstone's comparison with the file under its
listed name met the writer's next file there (MovedDuringScan), and the file was taken out of the scan as "decided
at the next scan, under its new name" — there was none: its lines went without a word. The file is looked at under
its new name at this scan, as a new file listed and renamed during the scan is."""
from __future__ import annotations

import logging

from shipper.tail import scan_rules
from tests.tail.conftest import Follower
from tests.tail.test_overtaken_scan import overtake


def test_a_file_on_a_tombstones_inode_renamed_during_the_scan_is_read_or_its_loss_named(tmp_path, monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    warned: list[str] = []

    class H(logging.Handler):
        def emit(self, record):
            warned.append(record.getMessage())
    h = H(logging.WARNING)
    logging.getLogger("shipper.tail").addHandler(h)
    live, one = tmp_path / "app.log", tmp_path / "app.log.1"

    def rotate() -> None:  # Log4j, MaxBackupIndex=1
        if one.exists():
            one.unlink()
        live.rename(one)
        live.write_bytes(b"")

    f = Follower([live], tmp_path)
    try:
        live.write_bytes(b"seq 0 the first file\n")
        f.poll()
        rotate()
        f.poll()
        f.restart()  # (nothing held open: its inode is freed when it is deleted)
        tomb = one.stat().st_ino
        one.unlink()
        f.poll(3)
        assert any(lo.gone_at is not None and lo.state.ino == tomb for lo in f.tailer.prospector.loose.values())
        rotate()  # the new live file takes the tombstone's inode (ext4 gives the freed one at once)
        st = live.stat()
        if st.st_ino != tomb:
            # A file system that numbers inodes anew (tmpfs, XFS under load): the tombstone is given the new file's
            # inode by hand, which is what ext4 did by itself in the torture run.
            for lo in f.tailer.prospector.loose.values():
                if lo.gone_at is not None and lo.state.ino == tomb:
                    lo.state.dev, lo.state.ino = st.st_dev, st.st_ino
        with open(live, "ab") as w:
            w.write(b"seq 1 x\nseq 2 xx\nseq 3 xxx\n")
        overtake(f, rotate)  # overtakes the scan: the listed live file is app.log.1 now
        f.poll()
        rotate()  # and is deleted before the next scan
        f.poll(3)
        got = [x for x in f.lines() if x.startswith(b"seq ") and x != b"seq 0 the first file"]
        lost = [m for m in warned if m.startswith("data lost") and str(live) in m]
        assert got == [b"seq 1 x", b"seq 2 xx", b"seq 3 xxx"] or (not got and lost), (got, warned)
    finally:
        logging.getLogger("shipper.tail").removeHandler(h)
        f.tailer.close()
