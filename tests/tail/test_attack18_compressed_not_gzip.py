"""Attack 18 (issue 21, examiner exam21): logrotate `compress` with a `compresscmd` other than gzip.

logrotate lets an operator compress backups with xz, zstd or bzip2 (`compresscmd`/`compressext`), and Debian
ships all three. Here the agent is stopped (SIGTERM, a clean stop) with 300 lines of app.log unread; while it is
away the log rotates twice with `compress` + `compresscmd /usr/bin/xz`: app.log.2.xz holds the 300 unread lines
and 200 more, app.log.1.xz a whole file (500 lines) the agent never saw. Every one of those 1,000 lines is still on
disk. At the restart none of them is read, and the journal names neither backup: one warning says the unread rest of
app.log was "deleted (more rotations than backups), or renamed where the source's `paths` do not reach", 0 bytes,
size unknown — a wrong cause (the bytes are in app.log.2.xz, beside the live file) — and the 500 lines of
app.log.1.xz go without a word. Seen 5 of 5 runs by hand (xz 3, zstd 2; bzip2 the same), 0 lost with gzip.

What should happen: a backup under a rotated name in a compression the agent cannot read is either read, or named
(its name, that it cannot be read, and that what it holds is lost). The test passes once each backup's lines are
delivered or a warning names the backup.
"""
from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from tests.tail.attack18_agent import Agent, append

pytestmark = pytest.mark.skipif(not (shutil.which("logrotate") and shutil.which("xz")), reason="needs logrotate, xz")


@pytest.mark.slow
def test_xz_backups_made_while_stopped_are_read_or_named(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    (tmp_path / "lr.conf").write_text(
        f"{live} {{\n  rotate 5\n  compress\n  compresscmd /usr/bin/xz\n  uncompresscmd /usr/bin/unxz\n"
        "  compressext .xz\n  create\n  missingok\n}\n")
    agent = Agent(tmp_path, [str(live)])

    def rotate() -> None:
        subprocess.run(["logrotate", "-f", "-s", str(tmp_path / "lr.state"), str(tmp_path / "lr.conf")], check=True)

    written = append(live, 1, 1000)
    agent.start()
    agent.wait_seqs(written)
    agent.stop()
    in_2 = append(live, 1001, 500)        # unread at the stop; ends in app.log.2.xz
    rotate()
    in_1 = append(live, 1501, 500)        # a whole file the agent never saw; ends in app.log.1.xz
    rotate()
    last = append(live, 2001, 200)
    assert sorted(p.name for p in logs.iterdir()) == ["app.log", "app.log.1.xz", "app.log.2.xz"]

    agent.start()
    agent.wait_seqs(last)
    time.sleep(12)  # what is not there cannot be waited for: the restart's scans decide (a file too short waits 10 s)
    agent.stop()
    delivered = agent.seqs()
    warnings = agent.warnings()

    assert len(delivered) == len(set(delivered)), "a line delivered twice"
    assert set(written) <= set(delivered)
    for name, seqs in (("app.log.2.xz", in_2), ("app.log.1.xz", in_1)):
        unread = set(seqs) - set(delivered)
        named = [w for w in warnings if name in w]
        assert not unread or named, f"{len(unread)} lines of {name} neither delivered nor named: {warnings}"


@pytest.mark.slow
def test_log4j2_zip_rollovers_made_while_stopped_are_read_or_named(tmp_path):
    from tests.java.writers import Log4j, compile_writers, log4j2_config

    logs = tmp_path / "logs"
    logs.mkdir()
    log4j = Log4j(compile_writers(tmp_path / "classes"))
    xml = log4j2_config(tmp_path / "log4j2.xml", logs, pattern="app.log.%i.zip", size=8000, strategy='max="20"')
    agent = Agent(tmp_path, [str(logs / "app.log")])
    agent.start()
    first = list(range(1, 301))  # ~6.6 KB: no rollover yet
    log4j.log4j2(xml, 1, 300)
    agent.wait_seqs(first)
    agent.stop()
    log4j.log4j2(xml, 301, 3000)  # ~66 KB while stopped: rolled into app.log.1.zip … app.log.8.zip
    zips = sorted(p.name for p in logs.glob("*.zip"))
    assert len(zips) >= 5, zips

    agent.start()
    agent.wait_seqs(first)  # (the first run's)
    time.sleep(12)  # what is not there cannot be waited for: the restart's scans decide (a file too short waits 10 s)
    agent.stop()
    delivered = agent.seqs()
    assert len(delivered) == len(set(delivered)), "a line delivered twice"
    unread = set(range(301, 3301)) - set(delivered)
    unnamed = [name for name in zips if not any(name in w for w in agent.warnings())]
    assert not unread or not unnamed, f"{len(unread)} lines unread, {unnamed} never named: {agent.warnings()}"
