"""A log kept by a sync tool (rsync -a: each pull a copy of the grown file beside it, renamed over it) pulled
several times while the reader is held back (an output down): the holder holds every copy renamed over the live
name, each deleted by the next pull. At the next scan the live name's file, a copy of the followed file holding
what was read, is read on from there (copies.replaces_deleted); the held copies in between, known only by their
descriptors ("app.log (rotated away, held open)"), hold nothing that file does not hold at the same place. They
were read from their start as new files: every line in them shipped again, without a word (attack 16: 1,900 of
2,100 lines shipped 2-6 times, tests/tail/test_attack16_copies_renamed_over_while_down.py). The holder stepped by
the test, its thread held off (Holder.paused), as the torture harness does."""
from __future__ import annotations

import json
import os
import shutil
from collections import Counter

from tests.tail.stepped_holder import stepped_holder


def test_copies_renamed_over_the_live_file_while_held_back_are_not_read_again(tmp_path):
    remote, logs = tmp_path / "remote", tmp_path / "logs"
    remote.mkdir()
    logs.mkdir()
    log = str(logs / "app.log")
    seq = 0

    def write(n: int) -> None:
        nonlocal seq
        with open(remote / "app.log", "a") as fh:
            for _ in range(n):
                fh.write(json.dumps({"seq": seq, "msg": "x" * 60}) + "\n")
                seq += 1

    def pull(i: int) -> None:  # rsync -a: a copy beside the file, renamed over it
        tmp = logs / f".app.log.{i:06d}"
        shutil.copyfile(remote / "app.log", tmp)
        os.rename(tmp, log)

    write(100)
    pull(0)
    with stepped_holder(log, logs) as h:
        f, holder = h.f, h.holder
        h.scan_and_read()
        assert len(f.records) == 100
        for i in range(1, 5):  # four pulls while the reader is held back: the holder holds each copy
            write(200)
            pull(i)
            h.turn()  # it holds the copy now under the live name
        assert len(holder.held) >= 3
        for _ in range(3):
            h.scan_and_read()
        got = Counter(json.loads(r)["seq"] for _, r, _ in f.records)
        assert sorted(got) == list(range(seq))
        again = sum(got.values()) - seq
        assert again == 0, f"{again} lines read again of {seq}"


def test_a_copy_renamed_over_two_replaced_files_reads_on_from_the_newer(tmp_path):
    """Two files replaced in turn at the live name both still followed: the older one (read to its end) kept by the
    holder's descriptor through the scan that took the newer, then deleted; the newer one not read yet. The next
    copy renamed over the name replaced the newer one: it was taken for the older (the first found of the two,
    both at the same read offset), read on from there, and the newer one, read to its end too, shipped its
    unread lines twice (20 of 160, silently: found by a scratch fuzzer of pulls, holder steps, scans and reads)."""
    remote, logs = tmp_path / "remote", tmp_path / "logs"
    remote.mkdir()
    logs.mkdir()
    log = str(logs / "app.log")
    seq = 0

    def write(n: int) -> None:
        nonlocal seq
        with open(remote / "app.log", "a") as fh:
            for _ in range(n):
                fh.write(json.dumps({"seq": seq, "msg": "x" * 60}) + "\n")
                seq += 1

    def pull(i: int) -> None:
        tmp = logs / f".app.log.{i:06d}"
        shutil.copyfile(remote / "app.log", tmp)
        os.rename(tmp, log)

    write(100)
    pull(0)
    with stepped_holder(log, logs) as h:
        f = h.f
        h.scan_and_read()
        write(20)
        pull(1)  # B over A
        f.tailer.scan()  # B taken for A, read on from A's end
        h.turn()  # B held
        f.tailer.read_all(f.emit, f.stop)  # B read to its end
        write(20)
        pull(2)  # C over B
        h.turn()  # C held
        f.tailer.scan()  # C taken for B (B, held, still named by the holder's descriptor): B and C both followed
        write(20)
        pull(3)  # D over C
        h.turn()  # D held
        for _ in range(3):
            h.scan_and_read()
        got = Counter(json.loads(r)["seq"] for _, r, _ in f.records)
        assert sorted(got) == list(range(seq))
        again = sum(got.values()) - seq
        assert again == 0, f"{again} lines read again of {seq}"


def test_a_copy_renamed_over_a_held_replaced_file_reads_on_from_it(tmp_path):
    """A file replaced at the live name and still held by the holder is seen at the scan through the holder's
    descriptor, under the name it had: not marked deleted. The next copy renamed over the name was not taken for
    it but for the file it had replaced (deleted, the holder having let it go), read on from where that one was:
    the held file's unread lines shipped twice, silently (20 of 160: found by a scratch fuzzer of pulls, holder
    steps, scans and reads)."""
    remote, logs = tmp_path / "remote", tmp_path / "logs"
    remote.mkdir()
    logs.mkdir()
    log = str(logs / "app.log")
    seq = 0

    def write(n: int) -> None:
        nonlocal seq
        with open(remote / "app.log", "a") as fh:
            for _ in range(n):
                fh.write(json.dumps({"seq": seq, "msg": "x" * 60}) + "\n")
                seq += 1

    def pull(i: int) -> None:
        tmp = logs / f".app.log.{i:06d}"
        shutil.copyfile(remote / "app.log", tmp)
        os.rename(tmp, log)

    write(100)
    pull(0)
    with stepped_holder(log, logs) as h:
        f = h.f
        h.scan_and_read()
        write(20)
        pull(1)  # B over A
        f.tailer.scan()  # B taken for A (read on from A's end), not read yet
        h.turn()  # B held
        write(20)
        pull(2)  # C over B
        f.tailer.scan()  # C taken as B edited (B still named by the holder's descriptor): B read to its end
        h.turn()  # C held
        write(20)
        pull(3)  # D over C
        h.turn()  # D held
        for _ in range(3):
            h.scan_and_read()
        got = Counter(json.loads(r)["seq"] for _, r, _ in f.records)
        assert sorted(got) == list(range(seq))
        again = sum(got.values()) - seq
        assert again == 0, f"{again} lines read again of {seq}"
