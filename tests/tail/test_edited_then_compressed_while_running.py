"""The live log scrubbed by `sed -i` and then rotated and compressed at once (logrotate `compress` without
`delaycompress`, run right after the scrub), the agent running all along. edits13 (session 15) found it while
fixing the same edit followed by a plain rotation (test_attack12_backup_edited_then_rotated.py): there the edited
copy is found at a rotated name; here only its .gz is left when the agent looks.

Found (session 15, strict xfail; session 16 reproduced 1/1 with the agent, 1/1 in process): the 999 lines already
delivered were shipped again and nothing was said, by two ways. With the agent, the holder had caught the edited
copy at the live name (inotify) before gzip deleted it; it was then under no name ("app.log (rotated away, held
open)"), which copies.edited_copy did not look at: read from its start, and the .gz proven a copy of it. Without
the holder (the in-process follower here; the agent when the holder is too late), copies.edited_copy skipped a .gz:
read from its start. Fixed (session 16): both are compared with the deleted file still held open, the .gz through
gzip (forward only, only when its head is that file's, up to edits.FIND_MAX), and read on from where what was read
ends in them, the edit named.

Promised (docs/operations.md "A live log trimmed or edited in place"): an edited copy renamed over the log is read
on from where the agent was, warned; the same for a rotated backup, "also … then compressed or rotated on"; where
that cannot be proven the repeat is warned. README: nothing repeated silently."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import time

from shipper.tail import edits
from tests.tail.attack_agent import Agent, append_numbered, exactly_once, logrotate_of
from tests.tail.conftest import Follower

SCRUB = '/"seq": 500,/d'  # (the line a scrub removes: one line of what was read)


def test_the_live_log_edited_then_compressed_at_once_is_read_on_from_where_it_was(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    append_numbered(log, 0, 1000)
    agent = Agent(tmp_path, [log])
    agent.start()
    try:
        assert agent.wait_delivered(range(1000), 60), exactly_once(agent.seqs(), range(1000))
        subprocess.run(["sed", "-i", SCRUB, str(log)], check=True)
        subprocess.run(["gzip", str(log)], check=True)  # the rotation with compress, right after the scrub
        os.rename(f"{log}.gz", logs / "app.log.1.gz")
        append_numbered(log, 1000, 1100)
        assert agent.wait_delivered(range(1000, 1100), 60), exactly_once(agent.seqs(), range(1100))
        agent.get("/status")  # one more round trip: repeats written with the last new lines show too
        time.sleep(1)
    finally:
        agent.stop()
    journal = agent.errors()
    assert exactly_once(agent.seqs(), range(1100)) == "", journal[-1500:]
    # (Placed as an edited copy, whichever the agent met: the copy held since it was at the live name, or the .gz.)
    assert "an edited copy of the file it replaced" in journal and "1 line(s) removed" in journal, journal[-1500:]


def seqs(f: Follower) -> list[int]:
    return [json.loads(x)["seq"] for x in f.lines() if x.startswith(b"{")]


def edits_named(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "edited copy" in r.getMessage()]


def test_without_the_holder_the_compressed_edited_copy_is_read_on_from_where_it_was(tmp_path, caplog):
    """In process, no holder: all the agent finds is the .gz (the edited copy was compressed and deleted before a
    scan, as when the holder is too late)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    append_numbered(log, 0, 1000)
    f = Follower([log], tmp_path)
    f.poll()
    assert seqs(f) == list(range(1000))
    subprocess.run(["sed", "-i", SCRUB, str(log)], check=True)
    subprocess.run(["gzip", str(log)], check=True)
    os.rename(f"{log}.gz", logs / "app.log.1.gz")
    append_numbered(log, 1000, 1100)
    with caplog.at_level(logging.INFO):
        f.settle()
    assert exactly_once(seqs(f), range(1100)) == ""
    named = edits_named(caplog)
    assert len(named) == 1 and "app.log.1.gz is an edited copy" in named[0] and "1 line(s) removed" in named[0], named
    assert f.lost == 0


def test_the_live_log_scrubbed_by_logrotates_prerotate_and_compressed_is_not_read_again(tmp_path, caplog):
    """The real logrotate: `prerotate` scrubs the live log with `sed -i`, then `compress` (no delaycompress) leaves
    only app.log.1.gz of it; the writer goes on in the file `create` made."""
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    append_numbered(log, 0, 1000)
    logrotate = logrotate_of(tmp_path, log, f"rotate 5\ncompress\ncreate\nprerotate\n  sed -i '{SCRUB}' \"$1\"\n"
                                            "endscript", settle=0)
    f = Follower([log], tmp_path)
    f.poll()
    logrotate()
    append_numbered(log, 1000, 1100)
    with caplog.at_level(logging.INFO):
        f.settle()
    assert sorted(os.listdir(logs)) == ["app.log", "app.log.1.gz"]
    assert exactly_once(seqs(f), range(1100)) == ""
    named = edits_named(caplog)
    assert len(named) == 1 and "app.log.1.gz is an edited copy" in named[0] and "1 line(s) removed" in named[0], named
    assert f.lost == 0


def test_a_backup_scrubbed_then_compressed_by_the_next_rotation_is_not_read_again(tmp_path, caplog):
    """`delaycompress`: the backup app.log.1, read, is scrubbed by a cron job that runs the real logrotate right
    after (logrotate compresses app.log.1 before its `prerotate` runs, so the scrub cannot be there), which makes
    app.log.2.gz of it before a scan saw the scrubbed copy."""
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    append_numbered(log, 0, 1000)
    logrotate = logrotate_of(tmp_path, log, "rotate 5\ncompress\ndelaycompress\ncreate", settle=0)
    f = Follower([log], tmp_path)
    f.poll()
    logrotate()  # app.log -> app.log.1
    append_numbered(log, 1000, 1500)
    f.poll()
    assert seqs(f) == list(range(1500))
    subprocess.run(["sed", "-i", SCRUB, str(logs / "app.log.1")], check=True)
    logrotate()  # app.log.1 (scrubbed) compressed to app.log.2.gz; app.log -> app.log.1
    append_numbered(log, 1500, 1600)
    with caplog.at_level(logging.INFO):
        f.settle()
    assert sorted(os.listdir(logs)) == ["app.log", "app.log.1", "app.log.2.gz"]
    assert exactly_once(seqs(f), range(1600)) == ""
    named = edits_named(caplog)
    assert len(named) == 1 and "app.log.2.gz is an edited copy" in named[0] and "1 line(s) removed" in named[0], named
    assert f.lost == 0


def test_a_compressed_file_sharing_only_the_header_is_read_whole(tmp_path, caplog):
    """The file read deleted while a .gz of another content with the same header appears (a Log4j layout header):
    no edited copy of it, read whole, unnamed."""
    header = "# app 1.0 started (a header every file has)\n"
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    log.write_text(header)
    append_numbered(log, 0, 1000)
    other = tmp_path / "other.log"
    other.write_text(header)
    append_numbered(other, 5000, 5300)
    f = Follower([log], tmp_path)
    f.poll()
    assert seqs(f) == list(range(1000))
    log.unlink()  # (rotated away by a rotate 0, say: the agent holds it, deleted)
    subprocess.run(["gzip", str(other)], check=True)
    os.rename(f"{other}.gz", logs / "app.log.1.gz")
    log.write_text(header)
    append_numbered(log, 1000, 1100)
    with caplog.at_level(logging.INFO):
        f.settle()
    assert exactly_once(seqs(f), list(range(1100)) + list(range(5000, 5300))) == ""
    assert not edits_named(caplog) and not [r for r in caplog.records if "shipped again" in r.getMessage()]


def test_a_compressed_edited_copy_over_the_bound_is_read_whole_with_the_repeat_named(tmp_path, caplog, monkeypatch):
    """Over edits.FIND_MAX decompressed (256 MiB; here made small) a .gz is not searched for the end of what was
    read: read whole as a new file, and the repeat named with its size."""
    monkeypatch.setattr(edits, "FIND_MAX", 16 * 1024)
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    append_numbered(log, 0, 1000)  # (44 KB)
    f = Follower([log], tmp_path)
    f.poll()
    subprocess.run(["sed", "-i", SCRUB, str(log)], check=True)
    subprocess.run(["gzip", str(log)], check=True)
    os.rename(f"{log}.gz", logs / "app.log.1.gz")
    with caplog.at_level(logging.INFO):
        f.settle()
    assert sorted(seqs(f)) == sorted(list(range(1000)) + [i for i in range(1000) if i != 500])
    again = [r.getMessage() for r in caplog.records if "shipped again" in r.getMessage()]
    assert len(again) == 1 and "app.log.1.gz" in again[0] and "first 21890 bytes" in again[0], again
