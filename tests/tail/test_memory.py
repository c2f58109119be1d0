"""Issue 23 item 3: what the file follower keeps per file is released, also across restarts (a
reload restarts a source: it must not make what should be let go young again). Counted, not timed."""
from __future__ import annotations

import os

from shipper.tail import scan_rules, state as state_mod
from shipper.tail.identity import MARK_MAX, digest
from tests.tail.conftest import Follower


def test_a_tombstone_ages_across_restarts_and_is_let_go(tmp_path, monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    monkeypatch.setattr(scan_rules, "DELETED_GRACE", 0.0)
    d = tmp_path / "logs"
    d.mkdir()
    live = d / "a.log"
    live.write_bytes(b'{"seq": 0}\n')
    fol = Follower([live], tmp_path)
    fol.poll()
    os.rename(live, d / "a.log.1")  # rotated, read to its end, deleted
    live.write_bytes(b'{"seq": 1}\n')
    fol.poll()
    os.unlink(d / "a.log.1")
    fol.poll(3)
    assert fol.seqs() == [0, 1]
    gone = [lo for lo in fol.tailer.loose.values() if lo.gone_at is not None]
    assert len(gone) == 1  # the tombstone (a compressed copy appearing now would be known)

    fol.restart()  # a reload: the tombstone is still one, not a state to look for again
    fol.poll()
    assert [lo.gone_at is not None for lo in fol.tailer.loose.values()] == [True]
    assert not fol.tailer.needs_rescan()

    # An hour later (its recorded time moved back): the first scan after a restart lets it go,
    # in memory and in the checkpoint.
    (key,) = [k for k, v in fol.state.items() if k.startswith("f:") and v["gone"]]
    fol.state[key] = {**fol.state[key], "gone": fol.state[key]["gone"] - scan_rules.TOMBSTONE_SECONDS - 1}
    fol.restart()
    fol.poll()
    assert fol.tailer.loose == {}
    assert key not in fol.state
    assert len([k for k in fol.state if k.startswith("f:")]) == 1  # the live file's
    assert fol.seqs() == [0, 1] and fol.lost == 0


def test_a_tombstone_keeps_no_earlier_marks_and_its_compressed_copy_is_still_known(tmp_path, monkeypatch):
    """A deleted file read to its end is kept an hour with only what identifies it (inode, head,
    the mark at its end): the earlier read positions, which prove a copy shorter than what was
    read (a live file's copytruncate), are dropped — in memory and in the checkpoint, also from a
    checkpoint saved with them. Its compressed copy, appearing later (also after a restart), is
    still known by its end: nothing is read twice."""
    import gzip

    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    monkeypatch.setattr(scan_rules, "DELETED_GRACE", 0.0)
    d = tmp_path / "logs"
    d.mkdir()
    live = d / "a.log"
    fol = Follower([live], tmp_path)
    for seq in range(40):  # read as it is written: the live file's state gathers earlier marks
        with open(live, "ab") as f:
            f.write(b'{"seq": %d}\n' % seq)
        fol.poll()
    (key,) = [k for k in fol.state if k.startswith("f:")]
    assert len(fol.state[key]["earlier"]) >= 8
    spaced = fol.state[key]["spaced"]  # line ends at doubling offsets (FileState.spaced), each proven by its bytes
    data = live.read_bytes()
    assert len(spaced) == state_mod.SPACED_MARKS and all(b >= 2 * a for (a, _), (b, _) in zip(spaced, spaced[1:]))
    assert all(data[at - 1:at] == b"\n" and digest(data[max(0, at - MARK_MAX):at]) == m for at, m in spaced)
    os.rename(live, d / "a.log.1")
    live.write_bytes(b'{"seq": 40}\n')
    fol.poll()
    content = (d / "a.log.1").read_bytes()
    os.unlink(d / "a.log.1")
    fol.poll(3)
    (tomb,) = [lo for lo in fol.tailer.loose.values() if lo.gone_at is not None]
    assert tomb.state.earlier == [] and fol.state[key]["gone"] and fol.state[key]["earlier"] == []
    assert tomb.state.spaced == [] and fol.state[key]["spaced"] == []

    (d / "a.log.1.gz").write_bytes(gzip.compress(content))  # its compressed copy, made late: the content's file
    fol.poll(3)
    assert fol.seqs() == list(range(41)) and not fol.state[key]["gone"]
    os.unlink(d / "a.log.1.gz")
    fol.poll(3)
    assert fol.state[key]["gone"]
    fol.state[key] = {**fol.state[key], "earlier": [[12, "0" * 24]]}  # as a version that kept them saved it
    fol.restart()
    (tomb,) = [lo for lo in fol.tailer.loose.values() if lo.gone_at is not None]
    assert tomb.state.earlier == []
    (d / "a.log.2.gz").write_bytes(gzip.compress(content))  # and again after a restart
    fol.poll(3)
    assert fol.seqs() == list(range(41)) and fol.lost == 0


def test_rotations_and_restarts_keep_the_follower_bounded(tmp_path, monkeypatch):
    """30 rotations by rename (2 backups: the oldest deleted) with a restart after each, then an
    hour passes: only the three files on disk are left, in memory and in the checkpoint. Before,
    every restart made the tombstones young again: with a reload more often than hourly they were
    never let go (the soak's state_dir and RSS growth)."""
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    monkeypatch.setattr(scan_rules, "DELETED_GRACE", 0.0)
    # (Their hour is what this tests: kept all; their bound in count is test_tombstones_bounded.py's.)
    monkeypatch.setattr(scan_rules, "TOMBSTONES_PER_FAMILY", 100)
    d = tmp_path / "logs"
    d.mkdir()
    live = d / "a.log"
    fol = Follower([live], tmp_path)
    seq = 0
    for _ in range(30):
        with open(live, "ab") as f:
            f.write(b'{"seq": %d}\n' % seq)
        seq += 1
        fol.poll()
        if (d / "a.log.2").exists():
            os.unlink(d / "a.log.2")
        if (d / "a.log.1").exists():
            os.rename(d / "a.log.1", d / "a.log.2")
        os.rename(live, d / "a.log.1")
        live.touch()  # the writer's new file, as Log4j makes it at once
        fol.poll(3)
        fol.restart()
        fol.poll(3)
    assert fol.seqs() == list(range(seq)) and fol.lost == 0
    assert len(fol.tailer.files) == 3
    tombstones = [k for k, v in fol.state.items() if k.startswith("f:") and v.get("gone")]
    assert len(tombstones) == 28  # the deleted backups, each read to its end
    for k in tombstones:  # an hour later
        fol.state[k] = {**fol.state[k], "gone": fol.state[k]["gone"] - scan_rules.TOMBSTONE_SECONDS - 1}
    fol.restart()
    fol.poll()
    assert len(fol.tailer.files) == 3 and fol.tailer.loose == {}
    assert len([k for k in fol.state if k.startswith("f:")]) == 3, sorted(fol.state)  # (the empty live file: a placeholder)
    assert fol.seqs() == list(range(seq)) and fol.lost == 0


def _lag_series(source: str) -> list[str]:
    from shipper import metrics

    return [path for (src, path), _ in metrics.lag_bytes.items() if src == source]


def test_a_closed_file_source_leaves_no_lag_series(tmp_path):
    """A reload restarts a source as a new FileSource of the same name: the old one's per-file
    series must go with it, or a path only it knew (a dated name, since deleted) stays for ever."""
    import threading

    from shipper.plugin import SourceContext
    from shipper_plugins.sources.file import FileSource, FileSourceConfig

    for day in ("2026-12-01", "2026-12-02"):
        (tmp_path / f"app-{day}.log").write_bytes(b'{"a": 1}\n')
    cfg = FileSourceConfig(name="mem_lag", type="file", paths=[str(tmp_path / "app-*.log")], parser="json")
    ctx = SourceContext(name="mem_lag", emit=lambda batch: None, stop=threading.Event(), once=True, state={},
                        state_dir=str(tmp_path), base_dir=str(tmp_path))
    src = FileSource(cfg, ctx)
    src.run()
    assert len(_lag_series("mem_lag")) == 2
    src.close()
    assert _lag_series("mem_lag") == []
