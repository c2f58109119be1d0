"""Attack 30 (issue 21, examiner exam30b): a kill -9 replay read back from a `.gz` that logrotate is still writing
when the agent starts again gets new ids, and the copytruncate window of that rotation is not named.

README, "Known limits": batches delivered and not committed at a kill -9 are repeated at the restart, and a tier
deduplicating by the stable id (Elasticsearch `_id`, stdout's or Fluentd's `_shipper_id`) drops them. Session 29
made that hold for logrotate `copytruncate` + `compress` while the agent is down (docs/design.md, issue 21 case 10:
a later copy, "plain or `.gz` … is named as the content the inode held next"; tests/tail/test_attack29_kill9_replay_
new_ids.py). It holds when the `.gz` is complete at the restart. After a host reset the two start together: systemd
starts shipper, and logrotate.timer (`Persistent=true`) runs the rotation it missed, whose gzip of a large log takes
seconds. The restarted agent then meets the plain copy `app.log.1` and a `.gz` still being written (docs/design.md: a
`.gz` still being written "waits"); once gzip is done and the plain copy deleted it reads `app.log.1.gz` under new
ids: the 30 lines delivered before the kill and not committed are shipped twice under two ids, which no tier can drop,
and the journal names neither the repeat nor the copytruncate window ("data lost … between the copy to
app.log.1.gz and the truncation", which the same schedule with a complete `.gz` names).

The compressor here is gzip's bytes written in two halves 6 s apart (`compresscmd`), as a slow disk or a large log
makes it; the agent starts 1.5 s after the rotation began. Found by hand: 4 of 4 (2 with a shared header line), 30
of 30 lines under two ids, no window named; with the compressor not held (the `.gz` complete at the start) 2 of 2
keep the ids and name the window. In this test 1 of 1 (and the same test with the compressor not held
passes, 1 of 1). tail21's session 29 report noted the cause it saw ("the copy names of a copy that
waits past its first scan are lost").
"""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.tail.attack_agent import logrotate_of
from tests.tail.kill9_replay import repeat_named, replay_after_rotations_while_down

SLOW_GZIP = """import gzip, sys, time
data = gzip.compress(sys.stdin.buffer.read())
sys.stdout.buffer.write(data[:len(data) // 2])
sys.stdout.buffer.flush()
time.sleep(6)  # a large log's compression: the agent starts meanwhile
sys.stdout.buffer.write(data[len(data) // 2:])
"""


@pytest.mark.slow
def test_kill9_replay_from_a_gz_still_being_written_at_the_restart_keeps_its_ids(tmp_path):
    compressor = tmp_path / "slow-gzip"
    compressor.write_text(f"#!{sys.executable}\n{SLOW_GZIP}")
    compressor.chmod(0o755)
    live = tmp_path / "logs" / "app.log"
    directives = "copytruncate\nrotate 3\ncompress"
    conf = tmp_path / "slow.conf"
    conf.write_text(f"{live} {{\n  {directives.replace(chr(10), chr(10) + '  ')}\n  compresscmd {compressor}\n}}\n")
    rotations: list = []

    def rotate() -> None:
        if not rotations:  # the rotation the running agent sees
            rotations.append(None)
            logrotate_of(tmp_path, live, directives, settle=0.1)()
            return
        rotations.append(subprocess.Popen(["/usr/sbin/logrotate", "-f", "-s", str(tmp_path / "lr.state"), str(conf)]))
        time.sleep(1.5)  # copied and truncated; gzip has written half of app.log.1.gz when the agent starts

    try:
        new_ids, journal = replay_after_rotations_while_down(tmp_path, rotate, 1)
    finally:
        for proc in rotations[1:]:
            proc.wait(60)
    assert sorted(p.name for p in live.parent.iterdir()) == ["app.log", "app.log.1.gz", "app.log.2.gz"]
    window = [ln for ln in journal.splitlines() if "data lost" in ln and "app.log.1.gz" in ln]
    assert (not new_ids or repeat_named(journal)) and window, (
        f"{len(new_ids)} lines shipped twice under two ids, no repeat named; the window of the copytruncate while down "
        f"named: {bool(window)}")
