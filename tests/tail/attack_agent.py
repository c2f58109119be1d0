"""A real `shipper run` (stdout output to a file, its own state_dir and HTTP port) for the black-box
attack tests (tests/tail/test_attack_*.py): started, stopped and restarted like an operator would,
its output read back line by line by the unique sequence number each written line carries."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections import Counter
from pathlib import Path

from tests.support import free_port


def numbered(i: int, pad: int = 20) -> str:
    return json.dumps({"seq": i, "msg": "x" * pad}) + "\n"


def append_numbered(path, lo: int, hi: int) -> None:
    """The numbered lines lo..hi-1 appended to `path` in one write."""
    with open(path, "a") as f:
        f.write("".join(numbered(i) for i in range(lo, hi)))


def logrotate_of(tmp_path, live, directives: str, settle: float = 0.5):
    """A function running the real logrotate -f over `live` with `directives` (one per line; its state file in
    tmp_path), then waiting `settle` seconds: a scan or more between rotations (the agents poll every 0.2 s)."""
    conf = Path(tmp_path) / "lr.conf"
    conf.write_text(f"{live} {{\n" + "".join(f"  {d}\n" for d in directives.splitlines()) + "}\n")

    def logrotate() -> None:
        subprocess.run(["/usr/sbin/logrotate", "-f", "-s", str(Path(tmp_path) / "lr.state"), str(conf)], check=True,
                       timeout=60)
        time.sleep(settle)
    return logrotate


def append_until_commits_fail(agent: "Agent", log, n: int) -> int:
    """With the state_dir full: numbered lines from `n` appended in batches of 100 until the agent says a
    checkpoint commit failed (within 60 s). Returns the next number to append."""
    deadline = time.monotonic() + 60
    while "checkpoint commit failed" not in agent.errors() and time.monotonic() < deadline:
        append_numbered(log, n, n + 100)  # batches whose commits the full filesystem refuses
        n += 100
        time.sleep(0.2)
    assert "checkpoint commit failed" in agent.errors(), "the commits did not fail: the filesystem is not full"
    return n


def copy_onto_freed_inode(src: Path, dst: Path, freed: int) -> None:
    """A copy of `src` at `dst` on the inode `freed` (the scrubbed log's, freed by `sed -i`'s rename), as ext4 often
    makes it: it gives the lowest free inode of the folder's group to the next file made. Files are made beside `dst`
    until one has it (the others removed). An edited log's copytruncate copy so made was read again whole, every line
    repeated, and the content called lost (attack 13's race: the agent took it for the content's own inode, not for
    its edited copy). Where the file system gives it to none (tmpfs never reuses inode numbers; under load another
    file may take it first), the copy is made as logrotate makes it anyway, and a warning says so: the test still
    checks the plain copytruncate shape rather than nothing."""
    made: list[Path] = []
    try:
        for i in range(10_000):
            fill = dst.with_name(f".fill{i}")
            fill.touch()
            if fill.stat().st_ino == freed:
                shutil.copyfile(src, fill)
                os.rename(fill, dst)
                return
            made.append(fill)
        warnings.warn(f"the file system gave the freed inode {freed} to none of 10,000 new files: {dst.name} is a "
                      "copy on another inode (the plain copytruncate shape)", stacklevel=2)
        shutil.copyfile(src, dst)
    finally:
        for fill in made:
            fill.unlink()


class Agent:
    def __init__(self, tmp: Path, paths: list, source_extra: str = "") -> None:
        self.tmp = Path(tmp)
        self.port = free_port()
        self.runs = 0
        self.proc: subprocess.Popen | None = None
        self.command_prefix: list[str] = []  # e.g. setpriv, to run without root's file capabilities
        self.env: dict[str, str] = {}  # added to the agent's environment (e.g. SHIPPER_PARSE_STALL_SECONDS)
        self._decoded: dict[int, tuple[int, list]] = {}  # run -> (bytes of its output decoded, their seqs)
        self.cfg = self.tmp / "cfg.yaml"
        self.cfg.write_text(f"""
state_dir: {self.tmp}/state
http: {{listen: "127.0.0.1:{self.port}"}}
shutdown_timeout: 20
sources:
  - name: app
    type: file
    paths: [{", ".join(str(p) for p in paths)}]
    parser: json
    poll_interval: 0.2
{source_extra}
outputs:
  - type: stdout
""")

    def start(self) -> None:
        self.runs += 1
        out = open(self.tmp / f"out{self.runs}.jsonl", "wb")
        err = open(self.tmp / f"out{self.runs}.err", "wb")
        self.proc = subprocess.Popen(self.command_prefix + [sys.executable, "-m", "shipper.cli", "run", "-c", str(self.cfg)],
                                     stdout=out, stderr=err, env={**os.environ, **self.env})
        out.close()
        err.close()
        self.wait_scanned()

    def wait_scanned(self, timeout: float = 60.0) -> None:
        """Until the agent's file source has looked at the files (its /status lists them)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.errors()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/status", timeout=5) as r:
                    live = json.loads(r.read())
                if (live.get("sources", {}).get("app", {}).get("status") or {}).get("files"):
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        raise AssertionError("shipper did not scan in time")

    def get(self, path: str) -> tuple[int, dict]:
        """The status and JSON of the agent's HTTP endpoint at `path` (0 and {} when it does not answer)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())
        except OSError:
            return 0, {}

    def losses_counted(self, source: str = "app") -> float:
        """The source's `shipper_losses_total`, as /metrics exposes it (0 before any loss)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as r:
            text = r.read().decode()
        m = re.search(rf'^shipper_losses_total\{{source="{re.escape(source)}"\}} ([0-9.e+]+)$', text, re.M)
        return float(m.group(1)) if m else 0.0

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(60)

    def seqs(self) -> list:
        """Every delivered line's sequence number, in order, across all runs so far."""
        out = []
        for i in range(1, self.runs + 1):
            out += self._seqs_of_run(i)
        return out

    def _seqs_of_run(self, run: int) -> list:
        """The sequence numbers of run's complete lines. Its output only grows: the lines decoded by an earlier
        call are kept and only those written since are decoded (a wait polling seqs() five times a second decoded
        every line each time: seconds of CPU in a long test)."""
        path = self.tmp / f"out{run}.jsonl"
        done, seqs = self._decoded.get(run, (0, []))
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size < done:  # not the file decoded before: decode it whole
                done, seqs = 0, []
            f.seek(done)
            data = f.read()
        whole = data[:data.rfind(b"\n") + 1]
        seqs = seqs + [json.loads(line).get("generic", {}).get("seq") for line in whole.split(b"\n")[:-1]]
        self._decoded[run] = (done + len(whole), seqs)
        return seqs

    def errors(self) -> str:
        return "".join((self.tmp / f"out{i}.err").read_text(errors="replace")
                       for i in range(1, self.runs + 1))

    def lines(self) -> int:
        """Complete lines delivered across all runs so far (no JSON read: cheap)."""
        n = 0
        for i in range(1, self.runs + 1):
            with open(self.tmp / f"out{i}.jsonl", "rb") as f:
                n += sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
        return n

    def wait_delivered(self, expected, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        expected = set(expected)
        while time.monotonic() < deadline:
            # Each expected number needs a line of its own: with fewer lines, no need to decode them (seqs()
            # of 400,000 lines costs ~1 s of CPU, five times a second, beside the agent on 2 cores).
            if self.lines() >= len(expected) and expected <= set(self.seqs()):
                return True
            time.sleep(0.2)
        return False

    def wait_delivered_or_lost(self, expected, timeout: float = 90.0, settle: float = 5.0) -> bool:
        """True once every expected number arrived; False once the agent has counted a loss and no line arrived
        for `settle` seconds (what escaped will not come: waiting the whole timeout for it only costs the suite),
        or at the timeout."""
        deadline = time.monotonic() + timeout
        expected = set(expected)
        seen, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            n = self.lines()
            if n >= len(expected) and expected <= set(self.seqs()):
                return True
            if n != seen:
                seen, since = n, time.monotonic()
            elif time.monotonic() - since >= settle and self.losses_counted() >= 1:
                return False
            time.sleep(0.2)
        return False


def exactly_once(seqs: list, expected) -> str:
    """'' when every expected number arrived exactly once and nothing else did; else what is wrong."""
    counts = Counter(seqs)
    expected = set(expected)
    dups = sorted(k for k, v in counts.items() if v > 1 and k is not None)
    missing = sorted(expected - set(counts))
    extra = sorted(k for k in counts if k not in expected)
    if not dups and not missing and not extra:
        return ""
    return (f"duplicated {len(dups)} (e.g. {dups[:5]}), missing {len(missing)} (e.g. {missing[:5]}), "
            f"unexpected {extra[:5]}")
