"""Progress bars: on stderr when it is a terminal (a real pty here), nothing extra when it is not."""
from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[2]
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def run_with_pty_stderr(args: list[str]) -> tuple[int, bytes, bytes]:
    """Run with stdout a pipe and stderr a pseudo-terminal; return (rc, stdout, terminal text)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "shipper.cli", *args], stdout=subprocess.PIPE, stderr=slave,
                            cwd=str(REPO), env={**os.environ, "COLUMNS": "160", "TERM": "xterm"})
    os.close(slave)
    seen = b""
    out = b""
    watch = [master, proc.stdout]
    while True:
        r, _, _ = select.select(watch, [], [], 60)
        assert r, "no output for 60 s"
        if proc.stdout in r:
            chunk = proc.stdout.read1(65536)
            if not chunk:
                break
            out += chunk
        if master in r:
            try:
                seen += os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                watch = [proc.stdout]
    rc = proc.wait(timeout=60)
    try:
        while select.select([master], [], [], 0.2)[0]:
            seen += os.read(master, 65536)
    except OSError:
        pass
    os.close(master)
    return rc, out, ANSI.sub(b"", seen)


def sample(tmp_path: Path, n: int = 3000) -> Path:
    p = tmp_path / "audit.log"
    p.write_bytes(b"".join(orjson.dumps({"n": i, "user": "bob"}) + b"\n" for i in range(n)))
    return p


def test_cat_bar_on_a_terminal_only(tmp_path):
    log = sample(tmp_path)
    size = log.stat().st_size
    r = subprocess.run([sys.executable, "-m", "shipper.cli", "cat", "-p", "json", str(log)], capture_output=True,
                       cwd=str(REPO), timeout=120)
    assert r.returncode == 0
    assert r.stderr == b"", "no bar (nor anything else) when stderr is not a terminal"
    assert len(r.stdout.splitlines()) == 3000

    rc, out, term = run_with_pty_stderr(["cat", "-p", "json", str(log)])
    assert rc == 0
    lines = out.splitlines()
    assert len(lines) == 3000 and [orjson.loads(l)["generic"]["n"] for l in lines] == list(range(3000)), \
        "the bar never touches stdout"
    assert b"parsing" in term and b"3000 events" in term, term
    kib = f"{size / 1024:.1f}/{size / 1024:.1f} KiB".encode()
    assert kib in term, term


def test_run_once_bar_on_a_terminal_only(tmp_path):
    log = sample(tmp_path, 2000)
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"state_dir: {tmp_path}/state\nsources:\n  - {{name: app, type: file, paths: [{log}], parser: json}}\n"
                   "outputs:\n  - {type: stdout}\n")
    rc, out, term = run_with_pty_stderr(["run", "--once", "-c", str(cfg)])
    assert rc == 0
    assert len(out.splitlines()) == 2000
    assert b"shipping" in term and b"2000 events" in term, term
    size = log.stat().st_size
    assert f"{size / 1024:.1f}/{size / 1024:.1f} KiB".encode() in term, term

    (tmp_path / "state").rename(tmp_path / "state.old")
    r = subprocess.run([sys.executable, "-m", "shipper.cli", "run", "--once", "-c", str(cfg)], capture_output=True,
                       cwd=str(REPO), timeout=120)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 2000
    assert b"shipping" not in r.stderr and b"events/s" not in r.stderr


def test_run_once_bar_counts_only_what_the_checkpoint_has_not_read(tmp_path):
    log = sample(tmp_path, 1000)
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"state_dir: {tmp_path}/state\nsources:\n  - {{name: app, type: file, paths: [{log}], parser: json}}\n"
                   "outputs:\n  - {type: stdout}\n")
    r = subprocess.run([sys.executable, "-m", "shipper.cli", "run", "--once", "-c", str(cfg)], capture_output=True,
                       cwd=str(REPO), timeout=120)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 1000
    added = b"".join(orjson.dumps({"n": i, "user": "eve"}) + b"\n" for i in range(1000, 1300))
    with log.open("ab") as f:
        f.write(added)

    rc, out, term = run_with_pty_stderr(["run", "--once", "-c", str(cfg)])
    assert rc == 0
    assert [orjson.loads(line)["generic"]["n"] for line in out.splitlines()] == list(range(1000, 1300))
    assert b"300 events" in term, term
    assert f"{len(added) / 1024:.1f}/{len(added) / 1024:.1f} KiB".encode() in term, term
