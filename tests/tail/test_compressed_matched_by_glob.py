"""A glob that matches the backups too (`paths: [/var/log/app/*]`) matched app.log.1.xz (or .zst, .bz2, .zip, .lz4) as
a file of its own and read its compressed bytes as lines: junk records shipped (issue 21; Filebeat does the same,
Vector and Fluent Bit ask for an `exclude`). A file in a compression the agent does not read is never read as text,
whichever glob matches it: told by its suffix and its first bytes (a format's magic number; brotli, which has none, by
bytes that are not text), so a text log whose name happens to end so (`www.example.com.br`) is still read. A backup of
a followed log is what unread_compressed.py says of backups (named once when made while the agent was stopped, only
remembered when made while it ran); any other such file the globs match (`*.xz`, an archive beside the logs) is named
once as not read, and not again after a restart. gzip is read, as before (through gzip, a copy left alone)."""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import time
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from tests.tail.attack18_agent import HEADER, Agent, append, wait
from tests.tail.conftest import Follower

needs_tools = pytest.mark.skipif(not all(shutil.which(t) for t in ("logrotate", "xz", "zstd", "bzip2", "lz4")),
                                 reason="needs logrotate, xz, zstd, bzip2, lz4")


def write(path: Path, first: int, n: int) -> None:
    """Lines that do not compress to nothing (a hash each): the compressed file holds newline bytes, read as lines."""
    with open(path, "a") as fh:
        for seq in range(first, first + n):
            fh.write(json.dumps({"seq": seq, "msg": hashlib.sha256(b"%d" % seq).hexdigest()}) + "\n")


def compress(path: Path, how: str) -> Path:
    """`path` compressed beside it with a real tool (Python's zipfile for zip, as Log4j 2's commons-compress writes
    one), the plain file removed: the compressed file's path."""
    if how == "zip":
        out = path.with_name(path.name + ".zip")
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            z.write(path, path.name)
        path.unlink()
        return out
    tool, ext = {"xz": ("xz", ".xz"), "zstd": ("zstd", ".zst"), "bzip2": ("bzip2", ".bz2"), "lz4": ("lz4", ".lz4")}[how]
    out = path.with_name(path.name + ext)
    subprocess.run([tool, "-q", "--rm", str(path), str(out)] if tool == "lz4" else [tool, "-q", "--rm", str(path)]
                   if tool == "zstd" else [tool, str(path)], check=True)
    assert out.exists() and not path.exists()
    return out


def records_are_lines(f: Follower) -> Counter:
    """The seqs read; every record a line as written (not a piece of compressed bytes)."""
    seqs: Counter = Counter()
    for _, r, _ in f.records:
        try:
            seqs[json.loads(r)["seq"]] += 1
        except (ValueError, KeyError, UnicodeDecodeError):
            raise AssertionError(f"a record that is no line written (compressed bytes read as text): {r[:60]!r}")
    return seqs


def losses(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("data lost")]


@needs_tools
@pytest.mark.parametrize("how", ["xz", "zstd", "bzip2", "zip", "lz4"])
def test_a_backup_compressed_while_running_is_not_read_as_text(tmp_path, caplog, how):
    caplog.set_level(logging.INFO, logger="shipper")
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    write(live, 0, 100)
    f = Follower([logs / "*"], logs)
    try:
        f.poll()
        write(live, 100, 20)
        live.rename(logs / "app.log.1")  # a rotation (create), the backup compressed at once
        write(live, 120, 30)
        f.poll()  # (the agent reads app.log.1 to its end before it is compressed, as it does while running)
        compress(logs / "app.log.1", how)
        write(live, 150, 10)
        f.poll(3)
        got = records_are_lines(f)
        assert sorted(got) == list(range(160)) and sum(got.values()) == 160, got
        assert losses(caplog) == []
    finally:
        f.tailer.close()


@needs_tools
def test_backups_compressed_while_stopped_are_named_once_not_read(tmp_path, caplog):
    """logrotate `compresscmd /usr/bin/xz` twice while the agent was stopped, `paths: [logs/*]`."""
    caplog.set_level(logging.INFO, logger="shipper")
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    (tmp_path / "lr.conf").write_text(
        f"{live} {{\n  rotate 5\n  compress\n  compresscmd /usr/bin/xz\n  uncompresscmd /usr/bin/unxz\n"
        "  compressext .xz\n  create\n  missingok\n}\n")

    def rotate() -> None:
        subprocess.run(["logrotate", "-f", "-s", str(tmp_path / "lr.state"), str(tmp_path / "lr.conf")], check=True)

    write(live, 0, 100)
    f = Follower([logs / "*"], logs)
    try:
        f.poll()
        f.tailer.close()
        write(live, 100, 50)
        rotate()
        write(live, 150, 50)
        rotate()
        write(live, 200, 50)
        f.restart()
        f.settle()
        got = records_are_lines(f)
        assert sorted(got) == list(range(100)) + list(range(200, 250)) and sum(got.values()) == 150, got
        named = losses(caplog)
        for backup in ("app.log.1.xz", "app.log.2.xz"):
            assert sum(backup in m and "compressed with xz" in m for m in named) == 1, named
        caplog.clear()
        f.restart()
        f.settle()
        assert losses(caplog) == [], "named again after a restart"
    finally:
        f.tailer.close()


@needs_tools
@pytest.mark.parametrize("how", ["xz", "zstd", "bzip2", "zip", "lz4"])
def test_a_compressed_file_of_its_own_matched_by_a_glob_is_named_once_not_read(tmp_path, caplog, how):
    """No followed log it is a backup of (`paths: [exports/*]` over a folder of compressed exports)."""
    caplog.set_level(logging.INFO, logger="shipper")
    logs = tmp_path / "exports"
    logs.mkdir()
    write(logs / "current.json", 0, 10)
    f = Follower([logs / "*"], logs)
    try:
        f.poll()
        write(logs / "report", 100, 50)
        packed = compress(logs / "report", how)
        f.settle()
        got = records_are_lines(f)
        assert sorted(got) == list(range(10)), got
        named = losses(caplog)
        assert len(named) == 1 and packed.name in named[0] and "compressed with" in named[0], named
        caplog.clear()
        f.restart()
        f.settle()
        assert losses(caplog) == [], "named again after a restart"
        assert sorted(records_are_lines(f)) == list(range(10))
    finally:
        f.tailer.close()


def test_a_text_log_whose_name_ends_like_a_compression_is_read(tmp_path):
    """Brotli has no magic number: a `.br` file is compressed only when its first bytes hold control bytes no text
    has. A vhost's access log named after its domain is read, in UTF-8, or in Latin-1 with terminal colours."""
    logs = tmp_path / "logs"
    logs.mkdir()
    write(logs / "www.example.com.br", 0, 20)
    write(logs / "notes.zip", 100, 5)  # (a text file misnamed: no zip's magic number)
    latin = "\x1b[32mINFO\x1b[0m\tsessão iniciada para José\r\n".encode("latin-1")
    (logs / "portal.gov.br").write_bytes(latin * 3)
    f = Follower([logs / "*"], logs)
    try:
        f.poll(2)
        colours = [r for _, r, _ in f.records if r.startswith(b"\x1b")]
        assert len(colours) == 3 and all(r.rstrip(b"\r") == latin.rstrip(b"\r\n") for r in colours), colours
        f.records = [x for x in f.records if not x[1].startswith(b"\x1b")]
        assert sorted(records_are_lines(f)) == list(range(20)) + list(range(100, 105))
    finally:
        f.tailer.close()


@needs_tools
@pytest.mark.slow
def test_the_agent_with_a_glob_over_xz_backups_ships_lines_only(tmp_path):
    """A real `shipper run` (its holder catches each new file at a name the glob matches, app.log.1.xz as xz makes it),
    `paths: [logs/*]`, logrotate `compresscmd /usr/bin/xz` while it runs, then twice while it is stopped."""
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    (tmp_path / "lr.conf").write_text(
        f"{live} {{\n  rotate 5\n  compress\n  compresscmd /usr/bin/xz\n  uncompresscmd /usr/bin/unxz\n"
        "  compressext .xz\n  create\n  missingok\n}\n")

    def rotate() -> None:
        subprocess.run(["logrotate", "-f", "-s", str(tmp_path / "lr.state"), str(tmp_path / "lr.conf")], check=True)

    agent = Agent(tmp_path, [str(logs / "*")])
    try:
        written = append(live, 1, 200)
        agent.start()
        agent.wait_seqs(written)
        for first in (201, 401):
            rotate()
            written += append(live, first, 200)
            agent.wait_seqs(written)
        agent.stop()
        append(live, 601, 100)  # (rotated into a backup while stopped, unread: named)
        rotate()
        rotate()
        written += append(live, 701, 100)
        agent.start()
        agent.wait_seqs(written)
        wait(lambda: any("app.log.2.xz" in w for w in agent.warnings()), "app.log.2.xz named")
        time.sleep(3)  # (a junk record, or a backup named twice, would come at the next scans)
        agent.stop()
    finally:
        if agent.proc is not None and agent.proc.poll() is None:
            agent.kill9()
    junk = [r.get("event", {}).get("original", "")[:40] for r in agent.records()
            if "seq" not in (r.get("generic") or {}) and r.get("event", {}).get("original") != HEADER]
    assert junk == [], f"records that are no line written: {junk[:5]}"
    assert sorted(agent.seqs()) == written, "lines lost or repeated"
    named = [w for w in agent.warnings() if "data lost" in w and "compressed with xz" in w]
    # (The two rotations while stopped: the 100 lines in app.log.2.xz, the empty file after them in app.log.1.xz.)
    for made_while_stopped in ("app.log.1.xz", "app.log.2.xz"):
        assert sum(f"logs/{made_while_stopped} " in w for w in named) == 1, named
    assert not any("logs/app.log.3.xz " in w or "logs/app.log.4.xz " in w for w in named), named  # (made while it ran)
