"""A file the tailer follows through the holder's descriptor, opened by the tailer during a scan (the holder's
descriptor given back and closed then) and closed again over the descriptor budget later in that scan, was given
that closed descriptor's number again at the scan's end (letting_go.release_held went by the list of held files
taken at the scan's start). Opened through /proc/self/fd/N, the number was another file's or none: the file was
never read, its lines lost without a word (found by the torture harness once it drove the holder, seed 192000:
50 lines). The holder stepped by the test, its thread held off (Holder.paused), as the harness does."""
from __future__ import annotations

from tests.tail.stepped_holder import stepped_holder
from tests.tail.test_files import write
from tests.tail.test_hold import rotate


def test_a_held_file_given_back_during_the_scan_is_read(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    log = str(d / "app.log")
    write(log, "line 0")
    with stepped_holder(log, d, max_open=1) as h:
        f, holder = h.f, h.holder
        h.scan_and_read()
        for name in ("a", "b"):  # two rotations while the reader is held back: two new files, both held
            rotate(log, 3)
            write(log, f"line {name}")
        h.turn()  # it holds both
        assert len(holder.held) == 2
        for _ in range(3):  # each new file opened by the scan, the first closed again for the second (a budget of 1)
            h.scan_and_read()
        assert sorted(f.lines()) == [b"line 0", b"line a", b"line b"]
        held = {x.fd for x in holder.held.values()}
        assert not [x.path for x in f.tailer.files.values() if x.held_fd is not None and x.held_fd not in held]
