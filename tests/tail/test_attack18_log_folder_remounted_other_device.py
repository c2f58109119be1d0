"""Attack 18 (issue 21, examiner exam21): the log folder's file system unmounted and mounted again from another device.

The log folder is an ext4 loop mount. While the agent follows app.log (a layout header, then 100 lines, all
delivered), the folder is unmounted (`umount -l`: the agent holds the file) and the same file system is mounted again
from a copy of its image, on another loop device (a snapshot restored, a volume re-attached under another device
number): same inode, same bytes, another st_dev. The whole file is shipped a second time, without a word: the
header and all 100 lines delivered before the remount (300 data records for 200 lines), 3 of 3 runs (the image
flushed with `sync -f` before it is copied). By hand, with the image copied a few seconds after the unmount (not
synced), only the header line came twice (2 of 2; without a header nothing). Remounted on the same device nothing
is repeated (1 of 1).

What should happen: nothing shipped twice (the content is the same, proven past its head), or the repeat named.
Fixed in session 21 (shipper/tail/other_device.py): read on from where it was read to, and said once.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from tests.tail.attack18_agent import HEADER, Agent, append, wait

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mkfs.ext4"),
                                reason="mounts a loop device: needs root and mkfs.ext4")


@pytest.mark.slow
def test_log_folder_remounted_from_another_device_repeats_nothing(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    image = tmp_path / "fs.img"
    subprocess.run(["truncate", "-s", "32M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", str(image)], check=True)
    subprocess.run(["mount", "-o", "loop", str(image), str(logs)], check=True)
    live = logs / "app.log"
    agent = Agent(tmp_path, [str(live)])
    try:
        written = append(live, 1, 100)
        agent.start()
        agent.wait_seqs(written)
        device = os.stat(live).st_dev
        subprocess.run(["sync", "-f", str(live)], check=True)  # the image holds the lines before it is copied
        subprocess.run(["umount", "-l", str(logs)], check=True)
        copy = tmp_path / "fs-restored.img"
        subprocess.run(["cp", "--sparse=always", str(image), str(copy)], check=True)
        subprocess.run(["mount", "-o", "loop", str(copy), str(logs)], check=True)
        assert os.stat(live).st_dev != device
        written += append(live, 101, 100)
        agent.wait_seqs(written)
        # the repeat, when there is one, comes with the first read of the remounted file: give the read a moment
        wait(lambda: len(agent.records()) >= 201, "the records")
        time.sleep(3)
        agent.stop()
    finally:
        if agent.proc is not None and agent.proc.poll() is None:
            agent.kill9()  # (a failed wait): its descriptor would hold the loop device
        subprocess.run(["umount", "-l", str(logs)])
    delivered = agent.seqs()
    assert sorted(delivered) == written, f"data lines lost or repeated: {len(delivered)} of {len(written)}; {agent.warnings()}"
    headers = [r for r in agent.records() if (r.get("event") or {}).get("original") == HEADER]
    named = [w for w in agent.warnings() if "again" in w or "twice" in w or "repeat" in w]
    assert len(headers) == 1 or named, f"the header line shipped {len(headers)} times, unnamed"
    told = [line for line in agent.journal().splitlines() if "app.log is on another device now" in line]
    assert len(told) == 1 and "continuing at" in told[0], told
