"""exam13's find 4 (session 20) made deterministic: a Log4j 1.2 log (MaxBackupIndex=2) rotating past its backups
while the output is down, the rotated files held by the holder (stepped by the test) and read, none of it
delivered; the first batch of the read that began the outage was delivered (its checkpoint committed at offset <
size), the rest not. Then a kill -9 (nothing saved: the holder's descriptors go with the process) and a start.

The killed agent's checkpoint knows one content of the family, last seen at the live name, with bytes unread; every
file rotated after it is gone and was known only to the dead agent. The next start names the live content's unread
bytes "or more" (what was written to it after, and the files rotated after it, are lost too). Named as an exact
size (before 688a8f6), 2,000 lines and four whole files went unnamed; with the Log4j writer (the e2e form,
tests/tail/test_attack18_kill9_outage_restart_loss_size.py) that depends on where the outage cuts a read."""
from __future__ import annotations

import json
import logging
import os

import pytest

from shipper.tail import scan_rules
from tests.tail.conftest import Follower
from tests.tail.stepped_holder import stepped_holder


@pytest.fixture(autouse=True)
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)


def line(seq: int) -> str:
    return json.dumps({"seq": seq, "pad": "x" * 40}) + "\n"


def test_kill9_in_an_outage_names_the_held_files_loss_as_a_least_or_unknown(tmp_path, caplog):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = str(logs / "app.log")
    written: list[int] = []

    def write(n: int) -> None:
        with open(log, "a") as fh:
            for _ in range(n):
                written.append(len(written))
                fh.write(line(written[-1]))

    def rotate() -> None:  # Log4j 1.2's RollingFileAppender, MaxBackupIndex=2
        if os.path.exists(log + ".2"):
            os.remove(log + ".2")
        if os.path.exists(log + ".1"):
            os.rename(log + ".1", log + ".2")
        os.rename(log, log + ".1")
        open(log, "w").close()

    write(300)
    with stepped_holder(log, logs, batch_lines=100) as h:
        delivered: list[int] = []
        down = []
        follower_emit = h.f.emit

        def first_batch_only(chunk) -> None:
            # The output goes down after the first batch of this read: nothing after it is delivered, and
            # checkpoints commit in order (a fragment of states only behind an undelivered batch waits for it).
            if chunk.records and delivered:
                down.append(True)
            if down:
                return
            follower_emit(chunk)
            delivered.extend(json.loads(r)["seq"] for r in chunk.records)

        h.f.emit = first_batch_only
        h.scan_and_read()
        assert len(delivered) == 100
        for _ in range(4):  # the outage: rotations past the backups, each rotated file held, read, not delivered
            write(300)
            rotate()
            h.turn()
            h.scan_and_read()
        write(100)
        saved = dict(h.f.state)
    # kill -9: nothing more is saved (the holder's descriptors closed with the process)
    assert [(v["offset"], v["size"] > v["offset"]) for v in saved.values() if isinstance(v, dict) and v.get("head_len")] \
        == [(sum(len(line(s)) for s in range(100)), True)], saved
    f = Follower([log], logs)
    f.state = saved
    f.restart()
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.settle()
    got = set(delivered) | set(f.seqs())
    lost = sum(len(line(s)) for s in written if s not in got)
    losses = [r for r in caplog.records if r.getMessage().startswith("data lost")]
    exact = sum(r.bytes_lost for r in losses if r.size_known)  # type: ignore[attr-defined]
    unsized = [r.getMessage() for r in losses if not r.size_known]  # type: ignore[attr-defined]
    assert lost > 0
    assert exact <= lost, f"{exact} bytes named lost as an exact size, {lost} lost"
    assert unsized or exact >= lost, f"{lost} bytes lost, {exact} named, none of unknown size: " + \
        "; ".join(r.getMessage()[:160] for r in losses)
