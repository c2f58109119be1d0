"""A live file identified (its checkpoint saved: its head, offset 0) and read, the agent killed (-9)
before any of what it read was delivered (so no read position was committed), then rotated and
compressed while the agent was down (logrotate `compress`, no `create`: the writer makes the next
live file). The .gz is another inode, and nothing read past the head proves it holds that content.
It was read as a new file (every line arrived), yet the content's checkpoint was called "data lost:
1.6 MB … deleted" and counted (tests/tail/test_attack3_kill9_compress_false_loss.py under load).

Here the kill is made deterministic: the follower keeps the checkpoint-only fragment that saved the
identity and drops the batches of lines in flight, as a killed pipeline does."""
from __future__ import annotations

import logging

import pytest

from shipper.tail import scan_rules
from tests.tail.conftest import Follower
from tests.tail.test_files import write
from tests.tail.test_identity import HEADER, expect, logrotate, records

COMPRESS = "  compress"


@pytest.fixture(autouse=True)
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)


class KilledInFlight(Follower):
    """A follower whose batches of lines are lost in flight while `killed` is set (a kill -9 before
    delivery): only checkpoint-only fragments (the identity of a new file) are committed."""

    killed = False

    def emit(self, chunk) -> None:
        if self.killed and chunk.records:
            return
        super().emit(chunk)


def kill_after_identifying(f: KilledInFlight) -> dict:
    f.killed = True
    f.poll()
    f.killed = False
    f.tailer.close()  # (a new Tailer is made from the committed state: nothing else is kept)
    return {k: v for k, v in f.state.items() if isinstance(v, dict) and v.get("head_len")}


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_an_identified_unread_file_compressed_while_killed_is_found_in_its_gz(tmp_path, caplog):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    f = KilledInFlight([log], d)
    write(log, *[f"line {i}" for i in range(0, 2000)])  # new at a scan: identified there, saved at once
    saved = kill_after_identifying(f)
    assert [v["offset"] for v in saved.values()] == [0], saved  # identified, nothing committed
    logrotate(tmp_path, log, COMPRESS)  # app.log -> app.log.1.gz; the writer makes a new app.log
    write(log, *[f"line {i}" for i in range(2000, 2100)])
    f.restart()
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.settle()
    assert sorted(records(f)) == sorted(expect(2100)) and len(records(f)) == 2100
    assert f.tailer.losses == 0 and f.lost == 0
    assert warnings(caplog) == []
    # Found in the .gz, it goes on under its own name: the keys of the lines are those of the batches
    # lost in flight (an output that keys its documents, Elasticsearch's _id, sees no new document).
    fid = next(iter(saved.values()))["fid"]
    assert sum(1 for k, r, _ in f.records if k.startswith(fid + ":")) == 2000
    # What proved it is not kept once it is read: its read position proves it from then on.
    assert f.state[f"f:{fid}"]["offset"] > 0 and f.state[f"f:{fid}"]["ahead"] == []


def test_a_file_identified_by_its_header_alone_compressed_while_killed_is_a_possible_loss(tmp_path, caplog):
    """Identified while it held only its header (no line past it to prove anything by), then read and
    killed in flight: its .gz starts with a header other files share, so nothing tells that it is that
    file. The .gz is read from its start as a new file (every line arrives), and the content is said
    to be possibly lost (it is there unless more rotations than backups deleted it), not counted."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    f = KilledInFlight([log], d)
    write(log, HEADER)
    f.killed = True
    f.tailer.scan()  # new: identified by its header, saved at once
    f.tailer.flush(f.emit)
    write(log, *[f"line {i}" for i in range(0, 2000)])
    f.tailer.read_all(f.emit, f.stop)  # read, lost in flight
    f.killed = False
    f.tailer.close()
    saved = [v for v in f.state.values() if isinstance(v, dict) and v.get("head_len")]
    assert [(v["offset"], v.get("ahead", [])) for v in saved] == [(0, [])], saved
    logrotate(tmp_path, log, COMPRESS)
    write(log, HEADER, *[f"line {i}" for i in range(2000, 2100)])
    f.restart()
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.settle()
    assert sorted(records(f)) == sorted(expect(2100)) and len(records(f)) == 2100
    assert f.tailer.losses == 0 and f.lost == 0
    warned = warnings(caplog)
    assert len(warned) == 1 and warned[0].startswith("data possibly lost") and str(log) in warned[0], warned


def test_a_live_file_followed_while_empty_then_killed_in_flight_is_found_in_its_gz(tmp_path, caplog):
    """The live file logrotate `create` made is followed while empty (an inode-only placeholder is
    saved); its first lines come, are read and sent, and the agent is killed (-9) before their commit;
    two rotations (delaycompress) while it is down put that content in app.log.2.gz. Its identity
    was saved only with its first batch of lines, so only the placeholder was committed: the .gz was
    read as a new file under its own file id, and Elasticsearch stored those lines a second time
    (1,000 of 5,000 in tests/e2e/test_kill9_delaycompress_es.py). Its identity (with `ahead`) is now
    committed on its own before its first lines go."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_text("")
    f = KilledInFlight([log], d)
    f.poll()  # followed while empty: the placeholder saved
    write(log, *[f"line {i}" for i in range(0, 2000)])
    f.killed = True
    f.tailer.read_all(f.emit, f.stop)  # identified and read here; the lines lost in flight
    f.killed = False
    f.tailer.close()
    saved = [v for v in f.state.values() if isinstance(v, dict) and v.get("head_len")]
    assert [v["offset"] for v in saved] == [0] and saved[0]["ahead"], saved
    rotate = "  compress\n  delaycompress\n  create"
    logrotate(tmp_path, log, rotate)  # app.log -> app.log.1, a new empty app.log
    write(log, *[f"line {i}" for i in range(2000, 2050)])
    logrotate(tmp_path, log, rotate)  # app.log.1 -> app.log.2.gz, app.log -> app.log.1
    f.restart()
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.settle()
    assert sorted(records(f)) == sorted(expect(2050)) and len(records(f)) == 2050
    assert f.tailer.losses == 0 and f.lost == 0
    assert warnings(caplog) == []
    assert sum(1 for k, r, _ in f.records if k.startswith(saved[0]["fid"] + ":")) == 2000
