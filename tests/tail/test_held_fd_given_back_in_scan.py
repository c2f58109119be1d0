"""A file the tailer follows through the holder's descriptor, opened by the tailer during a scan (the holder's
descriptor given back and closed then) and closed again over the descriptor budget later in that scan, was given
that closed descriptor's number again at the scan's end (letting_go.release_held went by the list of held files
taken at the scan's start). Opened through /proc/self/fd/N, the number was another file's or none: the file was
never read, its lines lost without a word (found by the torture harness once it drove the holder, seed 192000:
50 lines). The holder stepped by the test, its thread held off (Holder.paused), as the harness does."""
from __future__ import annotations

import contextlib

from shipper.tail.holder import Holder, generation
from tests.tail.conftest import Follower
from tests.tail.test_files import write
from tests.tail.test_hold import rotate


def source_pass(f: Follower, holder: Holder, folder: str, match) -> None:
    """A scan and a read as the file source makes them: the holder told what the tailer follows after the scan."""
    t = f.tailer
    t.scan()
    opened = {k: (x.family, x.fh.fd) for k, x in t.files.items() if x.fh is not None}
    holder.follow({x.family for x in t.files.values()}, {k: fam for k, (fam, _) in opened.items()}, {folder}, match,
                  {k: generation(fd) for k, (_, fd) in opened.items()})
    t.read_all(f.emit, f.stop)


def test_a_held_file_given_back_during_the_scan_is_read(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    log = str(d / "app.log")
    write(log, "line 0")
    holder = Holder(max_files=16)
    assert holder.start()
    off = contextlib.ExitStack()
    off.enter_context(holder.paused())  # its thread held off: events are handled when the test says
    f = Follower([log], d, max_open=1)
    f.tailer.holder = holder
    try:
        match = lambda p: p == log  # noqa: E731 (the source's globs)
        holder.watch_more({log}, {str(d)}, match)
        source_pass(f, holder, str(d), match)
        for name in ("a", "b"):  # two rotations while the reader is held back: two new files, both held
            rotate(log, 3)
            write(log, f"line {name}")
        off.close()  # the holder's turn: it holds both
        off.enter_context(holder.paused())
        assert len(holder.held) == 2
        for _ in range(3):  # each new file opened by the scan, the first closed again for the second (a budget of 1)
            source_pass(f, holder, str(d), match)
        assert sorted(f.lines()) == [b"line 0", b"line a", b"line b"]
        held = {h.fd for h in holder.held.values()}
        assert not [x.path for x in f.tailer.files.values() if x.held_fd is not None and x.held_fd not in held]
    finally:
        off.close()
        holder.stop()
        f.tailer.close()
